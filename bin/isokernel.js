#!/usr/bin/env node
// isolated-vm needs Node started with --no-node-snapshot (Node >= 20). Re-exec once with the flag so
// `npx isokernel` works without the user knowing; exit codes and signals pass through.
// `run` in the process tier (the default) is the exception: its isolates live in sandbox-host processes, which
// get the flag on their own command line, so this process never creates one and starting Node twice would only
// add a bare Node start (≈ half of the CLI's start budget, bench/cli.bench.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FLAG = '--no-node-snapshot';
const args = process.argv.slice(2);
const inline = args.some(
  (arg, i) => arg === '--isolation=inline' || (arg === '--isolation' && args[i + 1] === 'inline'),
);
const needsFlag = args[0] !== 'run' || inline;
if (needsFlag && !process.execArgv.includes(FLAG)) {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [FLAG, ...process.execArgv, self, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  if (child.error) {
    process.stderr.write(`isokernel: could not start node: ${child.error.message}\n`);
    process.exit(2);
  }
  if (child.signal) process.kill(process.pid, child.signal);
  process.exit(child.status ?? 1);
}
if (!needsFlag) {
  // The run's first sandbox host starts now and loads isolated-vm on the other core while this process loads
  // the kernel, instead of after it (≈ a third of a hello run's wall time, bench/cli.bench.ts).
  const { prestartSandboxHost } = await import('../dist/bundle/host-spawn.js');
  prestartSandboxHost();
}
// The CLI as bundled by the build (scripts/bundle-cli.mjs): a few files, not the ~270 modules tsc emits.
const { main } = await import('../dist/bundle/main.js');
process.exitCode = await main(process.argv.slice(2));

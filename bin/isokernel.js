#!/usr/bin/env node
// isolated-vm needs Node started with --no-node-snapshot (Node >= 20). Re-exec once with the flag so
// `npx isokernel` works without the user knowing; exit codes and signals pass through.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FLAG = '--no-node-snapshot';
if (!process.execArgv.includes(FLAG)) {
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
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));

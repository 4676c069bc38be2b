// The CLI's own start: wall time of `isokernel run examples/hello/agent.js` (the built bin, as a user starts
// it: it re-executes Node with --no-node-snapshot, loads the CLI, opens the store, runs the agent and exits)
// against a bare `node -e 0`, alternating in the same run so both see the same load. Each run gets a fresh
// store in a temporary directory. The bin runs dist/: `npm run build` first (the figure is skipped otherwise).
// Run: npm run bench -- --suite cli (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/cli.bench.ts)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Figures, QUICK, scaled } from './report.js';

const figures = new Figures({
  'cli.start.run_hello': {
    what: 'wall time of `isokernel run examples/hello/agent.js` with a fresh store, from spawn to exit',
    floor: 'wall time of a bare `node -e 0`',
    target: { kind: 'ratio', max: 2 },
  },
});

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'isokernel.js');
const AGENT = join(ROOT, 'examples', 'hello', 'agent.js');
const RUNS = scaled(15, 2);

/** Wall time of one child process in ns; throws when it fails. */
function timed(args: readonly string[], cwd: string): number {
  const started = performance.now();
  const child = spawnSync(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  const ns = (performance.now() - started) * 1e6;
  if (child.status !== 0) {
    throw new Error(
      `${args.join(' ')} exited with ${child.status ?? child.signal}: ${child.stderr.toString().slice(0, 500)}`,
    );
  }
  return ns;
}

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  figures.skip('cli.start.run_hello', 'the bin runs dist/: run npm run build first');
} else {
  const dir = mkdtempSync(join(tmpdir(), 'isokernel-cli-bench-'));
  try {
    const cli = (i: number) => timed([BIN, 'run', AGENT, '--store', join(dir, `store-${i}`)], dir);
    const bare = () => timed(['-e', '0'], dir);
    // A warm-up pair (page cache, the first compile of dist/) in a full run; --quick has no time for it.
    if (!QUICK) {
      cli(-1);
      bare();
    }
    const measured: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      measured.push(cli(i));
      floor.push(bare());
    }
    figures.fromSamples('cli.start.run_hello', measured, floor);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
await figures.publish();

// agent_os_kernel (the Python reference kernel) against isokernel's kernel.submit, in the same run: its own
// scripts/perf_test.py tests, run unchanged from a checkout of its repository by agent-kernel-perf.py, and the
// same loops on isokernel with the same policy, the same files and the same sizes:
// - deny_only: 2000 fs.read of /workspace/file.txt under an empty policy (refused);
// - fs_read: 500 fs.read of a 2500-byte file under `fs.read <workspace>/**`;
// - concurrent_fs_read: 10 concurrent loops (threads in Python, async loops here) of 100 such reads;
// - mixed: 1000 calls, a third allowed reads, a third fs.write without a capability, a third fs.read of
//   /etc/passwd (both refused);
// - fs_write: 200 fs.write of new files under `fs.write <workspace>/output/**`.
// Both log every call to a file: agent_os_kernel writes and flushes one JSON line per call; isokernel appends an
// intent and an outcome record (hash-chained, Merkle leaves, signed checkpoints) with the default `interval`
// fsync. isokernel's fs.write also saves an undo record and writes atomically (temp file, fsync, rename).
//
// Figures are the cost per call of each round (its duration over its calls, as perf_test.py computes ops/s).
// Peer rows: the floor is isokernel's, so the ratio is agent_os_kernel's cost over isokernel's: isokernel's
// ops/s over agent_os_kernel's (above 1, isokernel is faster).
// Run: npm run bench:peers (or, once prepared: node --no-node-snapshot --import ./bench/loader/register.mjs bench/thirdparty/agent-kernel.bench.ts)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFsTools, Kernel, type SubmitResult } from '../../index.js';
import { Figures, scaled } from '../report.js';
import { PREPARE_HINT, readManifest } from './peers.js';

const TESTS = ['deny_only', 'fs_read', 'concurrent_fs_read', 'mixed', 'fs_write'] as const;
type Test = (typeof TESTS)[number];
const FLOOR = 'isokernel’s kernel.submit on the same loop, policy and files, this run';
const figures = new Figures({
  'peers.agent_kernel.deny_only': {
    unit: 'rate',
    what: 'agent_os_kernel perf_test.py: 2000 sequential submits refused by an empty policy',
    floor: FLOOR,
  },
  'peers.agent_kernel.fs_read': {
    unit: 'rate',
    what: 'agent_os_kernel perf_test.py: 500 sequential fs.read of a 2500-byte file',
    floor: FLOOR,
  },
  'peers.agent_kernel.concurrent_fs_read': {
    unit: 'rate',
    what: 'agent_os_kernel perf_test.py: 10 threads × 100 fs.read (isokernel: 10 concurrent async loops)',
    floor: FLOOR,
  },
  'peers.agent_kernel.mixed': {
    unit: 'rate',
    what: 'agent_os_kernel perf_test.py: 1000 submits, one third allowed reads, two thirds refused',
    floor: FLOOR,
  },
  'peers.agent_kernel.fs_write': {
    unit: 'rate',
    what: 'agent_os_kernel perf_test.py: 200 fs.write of new files',
    floor: FLOOR,
  },
});

const ROUNDS = scaled(3, 1);
const DRIVER = fileURLToPath(new URL('agent-kernel-perf.py', import.meta.url));

/**
 * Runs agent_os_kernel's tests ROUNDS + 1 times and drops the first round (a warm-up, as isokernel gets one);
 * ns per call of each round, per test, or a reason when it cannot.
 */
function theirs(dir: string, python: string): Record<Test, number[]> | string {
  const child = spawnSync(python, [DRIVER, dir, String(ROUNDS + 1)], { encoding: 'utf8', timeout: 600_000 });
  if (child.status !== 0) {
    return `agent_os_kernel's perf tests failed (${child.status ?? child.signal}): ${child.stderr.trim().split('\n').at(-1)}`;
  }
  const parsed = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as Record<
    string,
    { ops: number; seconds: number; errors: number }[] | undefined
  >;
  const out = {} as Record<Test, number[]>;
  for (const test of TESTS) {
    const rounds = parsed[test];
    if (rounds === undefined || rounds.length < 2) return `agent_os_kernel's perf tests did not report ${test}`;
    if (rounds.some((round) => round.errors > 0)) return `agent_os_kernel's ${test} test reported errors`;
    out[test] = rounds.slice(1).map((round) => (round.seconds * 1e9) / round.ops);
  }
  return out;
}

/** One round of `test` on isokernel, as perf_test.py sets it up; ns per call. Throws on an unexpected status. */
async function ours(test: Test): Promise<number> {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-agent-kernel-')));
  try {
    const ws = join(tmp, 'workspace');
    const output = join(ws, 'output');
    mkdirSync(output, { recursive: true });
    const read = join(ws, test === 'fs_read' ? 'perf.txt' : test === 'mixed' ? 'data.txt' : 'concurrent.txt');
    const content = { fs_read: 'performance test content '.repeat(100), mixed: 'data' }[test as string];
    writeFileSync(read, content ?? 'concurrent test data');
    const capabilities =
      test === 'deny_only'
        ? []
        : test === 'fs_write'
          ? [{ action: 'fs.write', resource: `${output}/**` }]
          : [{ action: 'fs.read', resource: `${ws}/**` }];
    const kernel = Kernel.create({
      isolation: 'inline',
      policy: { capabilities },
      tools: createFsTools({ roots: [ws] }),
      audit: { file: join(tmp, 'kernel.log') },
    });
    const expect = (result: SubmitResult, status: SubmitResult['status']): void => {
      if (result.status !== status) throw new Error(`${test}: ${result.status} ${result.error?.code} where ${status}`);
    };
    const loop = async (n: number, call: (i: number) => Promise<void>) => {
      for (let i = 0; i < n; i++) await call(i);
    };
    const readOk = async () => expect(await kernel.submit({ action: 'fs.read', target: read }), 'OK');
    const started = performance.now();
    let calls = 0;
    switch (test) {
      case 'deny_only':
        calls = 2000;
        await loop(calls, async () =>
          expect(await kernel.submit({ action: 'fs.read', target: '/workspace/file.txt' }), 'DENIED'),
        );
        break;
      case 'fs_read':
        calls = 500;
        await loop(calls, readOk);
        break;
      case 'concurrent_fs_read':
        calls = 1000;
        await Promise.all(Array.from({ length: 10 }, () => loop(100, readOk)));
        break;
      case 'mixed':
        calls = 1000;
        await loop(calls, async (i) => {
          if (i % 3 === 0) await readOk();
          else if (i % 3 === 1) {
            expect(await kernel.submit({ action: 'fs.write', target: read, params: { content: 'x' } }), 'DENIED');
          } else expect(await kernel.submit({ action: 'fs.read', target: '/etc/passwd' }), 'DENIED');
        });
        break;
      case 'fs_write':
        calls = 200;
        await loop(calls, async (i) => {
          const target = join(output, `file_${String(i).padStart(4, '0')}.txt`);
          const params = { content: `content for file ${i}\n`.repeat(10) };
          expect(await kernel.submit({ action: 'fs.write', target, params }), 'OK');
        });
        break;
    }
    const ns = ((performance.now() - started) * 1e6) / calls;
    await kernel.close();
    return ns;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const entry = readManifest()?.agentKernel;
const measured: Record<Test, number[]> | string =
  entry === undefined
    ? `agent_os_kernel is not prepared: ${PREPARE_HINT}`
    : !entry.ok
      ? entry.missing
      : entry.python === undefined
        ? 'no Python 3 with PyYAML (Debian: apt-get install -y python3-yaml)'
        : theirs(entry.path, entry.python);
for (const test of TESTS) {
  const id = `peers.agent_kernel.${test}` as const;
  if (typeof measured === 'string') {
    figures.skip(id, measured);
    continue;
  }
  await ours(test); // warm-up: JIT, the fs tools' first opens
  const floor: number[] = [];
  for (let round = 0; round < ROUNDS; round++) floor.push(await ours(test));
  figures.fromSamples(id, measured[test], floor);
}
await figures.publish();

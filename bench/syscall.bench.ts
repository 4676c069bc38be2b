// Syscall round trip through the kernel vs the bare isolated-vm crossing carrying the same string, in the
// same process and run, for a same-thread entry (the host calls into the isolate, which calls back on the
// same thread) and an async entry (the isolate runs on its own thread, as agents do).
// Run: npm run bench -- --suite syscall (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/syscall.bench.ts)
import { Bench } from 'tinybench';
import { BATCH, createCrossing } from './crossing.js';
import { benchOptions, Figures } from './report.js';

const figures = new Figures({
  'syscall.noop.same_thread': {
    what: "sys.tool('noop') round trip through the whole kernel path (decode, caller, capability, label, quota, intent + outcome audit records in memory, encode), same-thread entry",
    floor: 'a bare isolated-vm sync callback carrying the same string, same thread',
    target: { kind: 'ratio', max: 3 },
  },
  'syscall.noop.hash_floor': {
    what: 'a bare same-thread crossing that also makes the SHA-256 calls of the two audit records a kernel call writes (two record hashes, two Merkle nodes): the least an audited call can cost with per-record Merkle leaves',
    floor: 'a bare isolated-vm sync callback carrying the same string, same thread',
  },
  'syscall.noop.async': {
    what: "await sys.tool('noop') through the whole kernel path, async entry (isolate on its own thread)",
    floor: 'a bare isolated-vm async callback carrying the same string',
    target: { kind: 'ratio', max: 1.2 },
  },
  'syscall.noop.async_vs_sync_callback': {
    what: "await sys.tool('noop') through the whole kernel path, async entry",
    floor: 'a bare isolated-vm sync callback called from the isolate’s own thread',
  },
});

const crossing = createCrossing();
const { kernelSync, bareSync, bareSyncHashed, kernelAsync, bareAsync, bareSyncOnWorker } = crossing;

const promise = { result: { promise: true } } as const;
const bench = new Bench(benchOptions({ time: 1500, warmupTime: 300 }));
bench
  .add('kernel same-thread', () => void kernelSync.applySync(undefined, [BATCH]))
  .add('bare same-thread', () => void bareSync.applySync(undefined, [BATCH]))
  .add('bare same-thread + record hashes', () => void bareSyncHashed.applySync(undefined, [BATCH]))
  .add('kernel async', async () => void (await kernelAsync.apply(undefined, [BATCH], promise)))
  .add('bare async callback', async () => void (await bareAsync.apply(undefined, [BATCH], promise)))
  .add('bare sync callback from worker', async () => void (await bareSyncOnWorker.apply(undefined, [BATCH], promise)));
await bench.run();
crossing.dispose();

figures.fromTasks('syscall.noop.same_thread', bench, 'kernel same-thread', {
  floor: 'bare same-thread',
  per: BATCH,
});
figures.fromTasks('syscall.noop.hash_floor', bench, 'bare same-thread + record hashes', {
  floor: 'bare same-thread',
  per: BATCH,
});
figures.fromTasks('syscall.noop.async', bench, 'kernel async', { floor: 'bare async callback', per: BATCH });
figures.fromTasks('syscall.noop.async_vs_sync_callback', bench, 'kernel async', {
  floor: 'bare sync callback from worker',
  per: BATCH,
});
await figures.publish();

// Audit log append cost against floors measured in the same run:
// - in memory: AuditLog.intent/outcome pairs (seal, SHA-256 of the canonical record, namespace chain, RFC 6962
//   leaf + amortized interior hash, checkpoint signing every 1024 records amortized; intents also digest their
//   arguments with canonicalJson + SHA-256) through a sink that keeps nothing; the same with the digest passed
//   in by the caller; and through MemoryAuditSink (which keeps every record). Floor: one node:crypto SHA-256
//   of a stored record line (the same bytes the record hash covers, plus its hash field).
// - to disk: the same appends through AuditFileStore with fsync 'interval' (100 ms). Tinybench never yields to
//   the event loop inside a task, so the store's fsync timer cannot fire there; the task calls the same sync
//   itself once 100 ms have passed, as the timer would. Floor: the same record bytes, already encoded, written
//   with a bare fs.writeSync in the same 256 KiB batches and fdatasync'ed every 100 ms.
// Groups run one after another on fresh logs so one group's heap does not slow the next.
// - disk throughput: 300k records appended with the real timer (yielding to the event loop every 1000
//   records), wall time including close and the final fsync.
// Figures are per record (tasks append BATCH records per iteration). Targets: ≤ 2.5 µs per in-memory append,
// ≥ 100k records/s to disk.
// Run: node --import tsx bench/audit.bench.ts
import { createHash, hash } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Bench } from 'tinybench';
import { type AuditIntentEntry, AuditLog, type AuditSink, MemoryAuditSink } from '../runtime/audit/audit-log.js';
import { AuditFileStore } from '../runtime/audit/file-store.js';
import { type AuditRecord, digestArgs, encodeRecordLine } from '../runtime/audit/record.js';
import { SigningKey } from '../runtime/capability/signing-key.js';
import { report } from './report.js';

const BATCH = 512;
const INTERVAL_MS = 100;
const BUFFER_BYTES = 256 * 1024;
const key = SigningKey.generate();
const dir = mkdtempSync(join(tmpdir(), 'isokernel-audit-bench-'));

// A typical tool call: a known agent reading a file, arguments already digested by the syscall layer.
const intentEntry = {
  namespace: 'ns-research',
  agent: 'agent-7f3a2c',
  parent: 'agent-root',
  syscall: 'tool',
  action: 'fs.read',
  resource: '/workspace/data/report-2025.csv',
  args: { path: '/workspace/data/report-2025.csv', encoding: 'utf8' },
  label: ['web'],
};
const outcomeEntry = { status: 'ok', durationMs: 0.42, usage: { tool_calls: 1, cpu_ms: 0.3 } } as const;

// The same call when the syscall layer hands over the digest it already computed (no canonicalJson here).
const { args: _args, ...withoutArgs } = intentEntry;
const digestEntry = { ...withoutArgs, argsDigest: digestArgs(intentEntry.args) };

function appendPairs(log: AuditLog, pairs: number, entry: AuditIntentEntry = intentEntry): AuditRecord {
  let last: AuditRecord | undefined;
  for (let i = 0; i < pairs; i++) {
    const intent = log.intent(entry);
    last = log.outcome(intent, outcomeEntry);
  }
  return last!;
}

class DiscardSink implements AuditSink {
  appendRecord(): void {}
  appendCheckpoint(): void {}
  close(): void {}
}

const sample = appendPairs(new AuditLog({ key }), 1);
const sampleLine = encodeRecordLine(sample);
const sampleBytes = Buffer.byteLength(sampleLine) + 1;
let sink = 0;

function perRecordNs(bench: Bench, task: string): number {
  const result = bench.getTask(task)?.result;
  if (result === undefined || !('latency' in result)) throw new Error(`no result for ${task}`);
  return (result.latency.p50 * 1e6) / BATCH;
}

const floorHash = (): void => {
  for (let i = 0; i < BATCH; i++) if (hash('sha256', sampleLine).length === 64) sink++;
};

// Groups run one after another, each on fresh logs, so one group's heap (the retaining sink's records, the
// Merkle trees of millions of appends) does not slow the next.
async function memoryGroup(): Promise<void> {
  const memoryLog = new AuditLog({ key, sink: new DiscardSink() });
  const digestLog = new AuditLog({ key, sink: new DiscardSink() });
  const bench = new Bench({ time: 2000, warmupTime: 300 });
  bench
    .add('append, in memory', () => {
      sink += appendPairs(memoryLog, BATCH / 2).seq;
    })
    .add('append, in memory, argsDigest given', () => {
      sink += appendPairs(digestLog, BATCH / 2, digestEntry).seq;
    })
    .add('floor: one sha256 of a record line', floorHash)
    .add('reference: createHash sha256 of a record line', () => {
      for (let i = 0; i < BATCH; i++) if (createHash('sha256').update(sampleLine).digest('hex').length === 64) sink++;
    });
  await bench.run();
  report('audit append in memory (per record)', bench, [
    {
      // Not a floor: the brief sized its 2.5 µs target on "createHash ≈ 0.9 µs per 300 B"; this row shows how
      // this machine compares.
      name: 'reference: createHash().update().digest() of a record line',
      task: 'reference: createHash sha256 of a record line',
      per: BATCH,
    },
    {
      name: 'append in memory (log only)',
      task: 'append, in memory',
      floor: 'floor: one sha256 of a record line',
      per: BATCH,
      target: '<= 2.5 µs p50',
    },
    {
      name: 'append in memory (log only, caller passes argsDigest)',
      task: 'append, in memory, argsDigest given',
      floor: 'floor: one sha256 of a record line',
      per: BATCH,
      target: '<= 2.5 µs p50',
    },
  ]);
}

async function diskGroup(): Promise<void> {
  const diskStore = AuditFileStore.open(join(dir, 'bench.jsonl'), { fsync: 'interval', intervalMs: INTERVAL_MS });
  const diskLog = new AuditLog({ key, sink: diskStore });
  let diskSynced = performance.now();
  // The floor writes the same record bytes in the same 256 KiB batches, already encoded.
  const floorFd = openSync(join(dir, 'floor.jsonl'), 'a', 0o600);
  const floorChunk = Buffer.from(`${sampleLine}\n`.repeat(Math.ceil(BUFFER_BYTES / sampleBytes)), 'utf8');
  let floorPendingBytes = 0;
  let floorSynced = performance.now();
  const bench = new Bench({ time: 2000, warmupTime: 300 });
  bench
    .add('append, disk (interval fsync)', () => {
      sink += appendPairs(diskLog, BATCH / 2).seq;
      if (performance.now() - diskSynced >= INTERVAL_MS) {
        diskStore.sync();
        diskSynced = performance.now();
      }
    })
    .add('floor: buffered writeSync + interval fdatasync', () => {
      floorPendingBytes += BATCH * sampleBytes;
      while (floorPendingBytes >= BUFFER_BYTES) {
        let offset = 0;
        while (offset < floorChunk.length) offset += writeSync(floorFd, floorChunk, offset);
        floorPendingBytes -= floorChunk.length;
      }
      if (performance.now() - floorSynced >= INTERVAL_MS) {
        fdatasyncSync(floorFd);
        floorSynced = performance.now();
      }
    });
  await bench.run();
  report('audit append to disk (per record)', bench, [
    {
      name: 'append to disk, interval fsync',
      task: 'append, disk (interval fsync)',
      floor: 'floor: buffered writeSync + interval fdatasync',
      per: BATCH,
      target: '>= 100k records/s',
    },
  ]);
  const diskRate = 1e9 / perRecordNs(bench, 'append, disk (interval fsync)');
  const floorRate = 1e9 / perRecordNs(bench, 'floor: buffered writeSync + interval fdatasync');
  console.log(
    `disk (tinybench p50): ${Math.round(diskRate).toLocaleString('en-US')} records/s; ` +
      `floor ${Math.round(floorRate).toLocaleString('en-US')} records/s`,
  );
  diskLog.close();
  closeSync(floorFd);
}

// Sustained throughput with the store's own fsync timer, including close (final checkpoint + fsync).
async function sustainedDisk(): Promise<void> {
  const TOTAL = 300_000;
  const store = AuditFileStore.open(join(dir, 'throughput.jsonl'), { fsync: 'interval', intervalMs: INTERVAL_MS });
  const log = new AuditLog({ key, sink: store });
  const started = performance.now();
  for (let written = 0; written < TOTAL; written += 1000) {
    appendPairs(log, 500);
    await yieldToLoop();
  }
  log.close();
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `disk (sustained, real timer, incl. close): ${Math.round(TOTAL / seconds).toLocaleString('en-US')} records/s ` +
      `(${TOTAL.toLocaleString('en-US')} records, ${sampleBytes} bytes each, in ${seconds.toFixed(2)} s)`,
  );
}

async function retainingGroup(): Promise<void> {
  let retainingLog = new AuditLog({ key, sink: new MemoryAuditSink() });
  const bench = new Bench({ time: 2000, warmupTime: 300 });
  bench
    .add('append, MemoryAuditSink', () => {
      // Keeps every record like the real sink, but restarts before the heap holds millions of them.
      if (retainingLog.size > 400_000) retainingLog = new AuditLog({ key, sink: new MemoryAuditSink() });
      sink += appendPairs(retainingLog, BATCH / 2).seq;
    })
    .add('floor: one sha256 of a record line', floorHash);
  await bench.run();
  report('audit append in memory, records kept (per record)', bench, [
    {
      name: 'append in memory (MemoryAuditSink keeps records)',
      task: 'append, MemoryAuditSink',
      floor: 'floor: one sha256 of a record line',
      per: BATCH,
    },
  ]);
}

// Whatever runs first otherwise pays for JIT tiering and the loader's leftovers (it measured 2× slower).
const warmLog = new AuditLog({ key, sink: new DiscardSink() });
for (let round = 0; round < 100; round++) {
  appendPairs(warmLog, 1000);
  appendPairs(warmLog, 1000, digestEntry);
  floorHash();
}

await memoryGroup();
await diskGroup();
await sustainedDisk();
await retainingGroup();

rmSync(dir, { recursive: true, force: true });
if (sink === 0) console.log('no work measured');

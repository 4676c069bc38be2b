import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type AuditSink, MemoryAuditSink } from '../../runtime/audit/audit-log.js';
import { AuditFileStore, type AuditFileStoreOptions } from '../../runtime/audit/file-store.js';
import type { AuditRecord, AuditStatus } from '../../runtime/audit/record.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';
import type { ErrorCode } from '../../runtime/core/errors.js';

export { readAuditRecords } from '../helpers/audit-file.js';

/** A fixed kernel key, so failures reproduce. */
export const KERNEL_KEY = SigningKey.fromSeed(new Uint8Array(32).fill(7));
export const OTHER_KEY = SigningKey.fromSeed(new Uint8Array(32).fill(9));
export const KERNEL_KEY_HEX = Buffer.from(KERNEL_KEY.publicKey).toString('hex');

/** A fresh real temp dir; remove it with `cleanup`. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'isokernel-audit-'));
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A deterministic clock starting at 2025-01-01. */
export function fakeClock(start = 1_735_689_600_000): () => number {
  let now = start;
  return () => {
    now += 3;
    return now;
  };
}

/** A log over a MemoryAuditSink with the fixed key and clock. */
export function memoryLog(checkpointEvery = 8): { log: AuditLog; sink: MemoryAuditSink } {
  const sink = new MemoryAuditSink();
  return { log: new AuditLog({ key: KERNEL_KEY, sink, checkpointEvery, clock: fakeClock() }), sink };
}

/** A typical intent: an fs.read in namespace alpha. */
export const intentEntry = {
  namespace: 'alpha',
  agent: 'agent-1',
  syscall: 'tool',
  action: 'fs.read',
  resource: '/workspace/a.txt',
  args: { path: '/workspace/a.txt' },
} as const;

const NAMESPACES = ['alpha', 'beta', 'gamma'];
const STATUSES: readonly [AuditStatus, ErrorCode | null][] = [
  ['ok', null],
  ['denied', 'E_CAP_DENIED'],
  ['error', 'E_TOOL_FAILED'],
  ['ok', null],
  ['killed', 'E_QUOTA'],
];

/**
 * Appends `pairs` syscall attempts (intent + outcome each, interleaved across namespaces and agents, with some
 * intents left open) to `log`. Returns the records appended.
 */
export function fillLog(log: AuditLog, pairs: number): AuditRecord[] {
  const records: AuditRecord[] = [];
  let pending: AuditRecord | undefined;
  for (let i = 0; i < pairs; i += 1) {
    const namespace = NAMESPACES[i % NAMESPACES.length]!;
    const intent = log.intent({
      namespace,
      agent: `agent-${i % 4}`,
      parent: i % 4 === 0 ? null : 'agent-0',
      syscall: 'tool',
      action: i % 2 === 0 ? 'fs.read' : 'net.http',
      resource: i % 5 === 0 ? null : `/workspace/file-${i}.txt`,
      args: { path: `/workspace/file-${i}.txt`, n: i },
      label: i % 3 === 0 ? ['web'] : [],
    });
    records.push(intent);
    // Outcomes land one attempt late so intents and outcomes of different attempts interleave.
    if (pending !== undefined) records.push(outcomeFor(log, pending, i));
    pending = i % 7 === 6 ? undefined : intent; // every seventh intent stays open
  }
  if (pending !== undefined) records.push(outcomeFor(log, pending, pairs));
  return records;
}

function outcomeFor(log: AuditLog, intent: AuditRecord, i: number): AuditRecord {
  const [status, code] = STATUSES[i % STATUSES.length]!;
  return log.outcome(intent, {
    status,
    code,
    durationMs: (i % 13) / 4,
    usage: status === 'ok' ? { tool_calls: 1, cpu_ms: i % 9 } : {},
  });
}

export interface WrittenLog {
  readonly path: string;
  readonly records: AuditRecord[];
  readonly log: AuditLog;
}

/** Writes a closed log of `pairs` attempts at `dir/audit.jsonl` with the file store. */
export function writeLog(
  dir: string,
  pairs: number,
  options: { checkpointEvery?: number; store?: AuditFileStoreOptions; key?: SigningKey; close?: boolean } = {},
): WrittenLog {
  const path = join(dir, 'audit.jsonl');
  const sink: AuditSink = AuditFileStore.open(path, options.store ?? { fsync: 'never' });
  const log = new AuditLog({
    key: options.key ?? KERNEL_KEY,
    sink,
    clock: fakeClock(),
    ...(options.checkpointEvery !== undefined ? { checkpointEvery: options.checkpointEvery } : {}),
  });
  const records = fillLog(log, pairs);
  if (options.close !== false) log.close();
  return { path, records, log };
}

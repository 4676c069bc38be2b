import { getHeapStatistics } from 'node:v8';
import { AuditLog, type AuditSink, MemoryAuditSink } from './audit/audit-log.js';
import { AuditFileStore, type FsyncPolicy } from './audit/file-store.js';
import type { SigningKey } from './capability/signing-key.js';

/**
 * Turning the kernel's options into the parts it is built from: the bound on what it holds for agents and
 * the audit log. Each throws TypeError/RangeError naming the option when it is malformed.
 */

/** Records the in-memory audit log keeps when no file is configured (the Merkle tree still covers all). */
export const MEMORY_AUDIT_RETAIN = 10_000;

/** Where the audit log goes: a JSONL file (one writer at a time), or memory when absent. */
export type AuditOptions =
  | { readonly file: string; readonly fsync?: FsyncPolicy; readonly checkpointEvery?: number }
  | undefined;

// A quarter of V8's heap limit keeps what agents make the kernel hold well clear of a heap-limit abort.
/** `options.maxHeldBytes`, or its default. */
export function heldBytesOption(value: unknown): number {
  if (value === undefined) return Math.min(1024 ** 3, Math.floor(getHeapStatistics().heap_size_limit / 4));
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1024 * 1024) {
    throw new RangeError('options.maxHeldBytes must be an integer of at least 1048576');
  }
  return value;
}

/** The audit sink `options.audit` names. */
export function openAuditSink(options: AuditOptions, key: SigningKey): AuditSink {
  if (options === undefined) return new MemoryAuditSink({ retain: MEMORY_AUDIT_RETAIN });
  if (options === null || typeof options !== 'object' || typeof options.file !== 'string' || options.file === '') {
    throw new TypeError('options.audit.file must be a file path');
  }
  return AuditFileStore.open(options.file, {
    ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
    trustedKeys: [key.publicKey],
  });
}

/** The audit log over `sink`; closes the sink if the log cannot be built. */
export function openAudit(options: AuditOptions, key: SigningKey, sink: AuditSink): AuditLog {
  try {
    return new AuditLog({
      key,
      sink,
      ...(options?.checkpointEvery === undefined ? {} : { checkpointEvery: options.checkpointEvery }),
    });
  } catch (error) {
    sink.close();
    throw error;
  }
}

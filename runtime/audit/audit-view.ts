import type { AuditSink } from './audit-log.js';
import type { AuditCheckpoint } from './checkpoint.js';
import type { AuditRecord } from './record.js';

/** Records `sys.audit` can return: the most recent ones, whatever sink the log writes to. */
export const AUDIT_VIEW_RETAIN = 10_000;

/**
 * Wraps the log's sink and keeps the most recent records in memory so agents can read the audit trail of
 * their own namespaces (`sys.audit`) without the kernel reading its log file back.
 */
export class AuditView implements AuditSink {
  readonly #inner: AuditSink;
  readonly #recent: AuditRecord[] = [];
  readonly #retain: number;

  constructor(inner: AuditSink, retain = AUDIT_VIEW_RETAIN) {
    this.#inner = inner;
    this.#retain = retain;
  }

  get recovered(): AuditSink['recovered'] {
    return this.#inner.recovered;
  }

  appendRecord(record: AuditRecord, line: string): void {
    this.#inner.appendRecord(record, line);
    this.#recent.push(record);
    if (this.#recent.length >= 2 * this.#retain) this.#recent.splice(0, this.#recent.length - this.#retain);
  }

  appendCheckpoint(checkpoint: AuditCheckpoint, line: string): void {
    this.#inner.appendCheckpoint(checkpoint, line);
  }

  close(): void {
    this.#inner.close();
  }

  /**
   * Recent records with seq > `after`, oldest first, at most `limit`: of the given namespaces, or of all
   * when `namespaces` is undefined (the host's read).
   */
  query(namespaces: ReadonlySet<string> | undefined, after: number, limit: number): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (const record of this.#recent) {
      if (record.seq <= after || (namespaces !== undefined && !namespaces.has(record.namespace))) continue;
      out.push(record);
      if (out.length >= limit) break;
    }
    return out;
  }
}

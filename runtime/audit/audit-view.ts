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
  /** Every tag of every record appended so far (see `tags`). */
  readonly #tags = new Set<string>();

  constructor(inner: AuditSink, retain = AUDIT_VIEW_RETAIN) {
    this.#inner = inner;
    this.#retain = retain;
    // A resumed log's seq numbers count the records of earlier runs too, labelled agents' among them.
    for (const tag of inner.recovered?.tags ?? []) this.#tags.add(tag);
  }

  get recovered(): AuditSink['recovered'] {
    return this.#inner.recovered;
  }

  appendRecord(record: AuditRecord, line: string): void {
    this.#inner.appendRecord(record, line);
    for (const tag of record.label) this.#tags.add(tag);
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
   * The tags of every record appended so far, sorted. A record's `seq` is the kernel's count of records, which
   * every agent moves: whoever reads one (or learns that none lies past a seq) learns how many records all
   * agents wrote before it, so the reader's label rises by all of these (docs/architecture.md §5).
   */
  tags(): string[] {
    return [...this.#tags].sort();
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

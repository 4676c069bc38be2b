import { joinTags, type Label } from '../labels/label.js';
import type { AuditSink } from './audit-log.js';
import type { AuditCheckpoint } from './checkpoint.js';
import { RecentRecords } from './recent-records.js';
import type { AuditRecord } from './record.js';

/** Records `sys.audit` can return: the most recent ones, whatever sink the log writes to. */
export const AUDIT_VIEW_RETAIN = 10_000;
/**
 * And about this much of the kernel's heap (twice it at most, between trims): a record's resource may be 4,096
 * characters an agent chose, and 20,000 such records kept 54 MB that no quota counts (red-team pass 64), where
 * small ones keep a few MB.
 */
export const AUDIT_VIEW_BYTES = 16 * 1024 * 1024;

/**
 * Wraps the log's sink and keeps the most recent records in memory so agents can read the audit trail of
 * their own namespaces (`sys.audit`) without the kernel reading its log file back.
 */
export class AuditView implements AuditSink {
  readonly #inner: AuditSink;
  readonly #recent: RecentRecords;
  /** Every tag of every record appended so far (see `tags`). */
  readonly #tags = new Set<string>();
  /** `tags()`, until a record brings a new tag. */
  #tagsLabel: Label | undefined;

  constructor(inner: AuditSink, retain = AUDIT_VIEW_RETAIN, maxBytes = AUDIT_VIEW_BYTES) {
    this.#inner = inner;
    this.#recent = new RecentRecords(retain, maxBytes);
    // A resumed log's seq numbers count the records of earlier runs too, labelled agents' among them.
    for (const tag of inner.recovered?.tags ?? []) this.#tags.add(tag);
  }

  get recovered(): AuditSink['recovered'] {
    return this.#inner.recovered;
  }

  appendRecord(record: AuditRecord, line: string): void {
    this.#inner.appendRecord(record, line);
    for (const tag of record.label) {
      if (this.#tags.has(tag)) continue;
      this.#tags.add(tag);
      this.#tagsLabel = undefined;
    }
    this.#recent.push(record);
  }

  appendCheckpoint(checkpoint: AuditCheckpoint, line: string): void {
    this.#inner.appendCheckpoint(checkpoint, line);
  }

  flush(): void {
    this.#inner.flush?.();
  }

  close(): void {
    this.#inner.close();
  }

  /**
   * The tags of every record appended so far, sorted. A record's `seq` is the kernel's count of records, which
   * every agent moves: whoever reads one (or learns that none lies past a seq) learns how many records all
   * agents wrote before it, so the reader's label rises by all of these (docs/architecture.md §5).
   */
  tags(): Label {
    // A label, not the raw list: past MAX_LABEL_TAGS tags (or with the top among them) it is the top. The raw list
    // reached joinLabels, which hands back an input unchanged when the other is empty: a clean reader of a log of
    // 80 tags took a label of 80, which no record can hold, and every later call failed unrecorded (pass 83).
    this.#tagsLabel ??= joinTags([...this.#tags], 'audit log tags');
    return this.#tagsLabel;
  }

  /**
   * Recent records with seq > `after`, oldest first, at most `limit`: of the given namespaces, or of all
   * when `namespaces` is undefined (the host's read).
   */
  query(namespaces: ReadonlySet<string> | undefined, after: number, limit: number): AuditRecord[] {
    const out: AuditRecord[] = [];
    for (const record of this.#recent.items) {
      if (record.seq <= after || (namespaces !== undefined && !namespaces.has(record.namespace))) continue;
      out.push(record);
      if (out.length >= limit) break;
    }
    return out;
  }
}

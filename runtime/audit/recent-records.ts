import type { AuditRecord } from './record.js';

// An upper estimate of the heap one retained record takes: the record, its strings (two bytes a character at
// worst) and its label, as measured for small records (about 0.7 KB) plus what its resource adds.
function retainedBytes(record: AuditRecord): number {
  return 1024 + 2 * (record.resource?.length ?? 0);
}

/**
 * The most recent audit records, bounded by count and by an estimate of their heap: a record's resource may be
 * 4,096 characters an agent chose, and 20,000 such records kept 54 MB that no quota counts (red-team pass 64).
 */
export class RecentRecords {
  /** Oldest first (the array is live). */
  readonly items: AuditRecord[] = [];
  readonly #retain: number;
  readonly #maxBytes: number;
  /** `retainedBytes` of `items`. */
  #bytes = 0;

  constructor(retain: number, maxBytes: number) {
    this.#retain = retain;
    this.#maxBytes = maxBytes;
  }

  push(record: AuditRecord): void {
    const { items } = this;
    items.push(record);
    this.#bytes += retainedBytes(record);
    // Trimmed to half of each bound once either is reached twice over, in one splice: amortized O(1) a record.
    if (items.length >= 2 * this.#retain || this.#bytes >= 2 * this.#maxBytes) {
      let drop = Math.max(0, items.length - this.#retain);
      let bytes = this.#bytes;
      for (let i = 0; i < drop; i++) bytes -= retainedBytes(items[i] as AuditRecord);
      while (bytes > this.#maxBytes && drop < items.length - 1) bytes -= retainedBytes(items[drop++] as AuditRecord);
      items.splice(0, drop);
      this.#bytes = bytes;
    }
  }
}

import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { KernelError } from '../core/errors.js';
import { isActionName, parseResource } from '../core/resource-match.js';
import { type Label, storedLabel, TOP_LABEL } from '../labels/label.js';
import type { KvStore } from '../store/kv-store.js';
import type { UndoCapture } from './tool-contract.js';

/** One saved undo: which tool can reverse which effect, and the tool's own data for doing it. */
export interface UndoRecord {
  readonly id: string;
  readonly tool: string;
  /** Who made the original call (agent id or 'host'). */
  readonly agent: string;
  /** What rolling back is authorized as. */
  readonly action: string;
  readonly resource: string;
  /**
   * The label of the call that saved it: its resource is data of that label (a path an agent built from a secret),
   * so a rollback's audit records keep it as a secret call's do. The top for a record saved without one.
   */
  readonly label: Label;
  readonly data: unknown;
  readonly createdAt: number;
  /** Whose share of the in-memory store the record draws on (StoreShares); absent for the host's. */
  readonly tenant?: string | undefined;
  /** Set once the record has been rolled back; a record is rolled back at most once. */
  readonly rolledBackAt?: number;
}

const RECORD_ID = /^u_[0-9a-f]{32}$/;
const PREFIX = 'undo:';

/**
 * The time index: one key per record, `undo-t\u0000<time>:<seq>:<id>` → id, where <time> is 9999999999999999 minus
 * createdAt and <seq> 9999999999 minus a per-process counter, both zero-padded, so key order is newest first and
 * `list(limit)` reads `limit` index keys and that many records, however many were ever saved. (It read and parsed up
 * to 100,000 records in random-id order and sorted them: 20,000 records took 734 ms and 117 MB, and past 100,000 the
 * newest were missing, red-team pass 86.) The NUL puts the index in a group of its own in the memory store.
 */
const INDEX_PREFIX = 'undo-t\u0000';
/**
 * Present once every record of the store has its index key: records saved by a kernel that kept no index are indexed
 * once (`#indexOld`), before this journal saves or lists; a journal saves only after the marker exists.
 */
const INDEXED_KEY = 'undo-indexed';
const TIME_DIGITS = 16;
const SEQ_DIGITS = 10;
// Records indexed from an older store are ordered after a fresh save of the same millisecond.
const OLD_SEQ = 0;
let saveSeq = 0;

function inverted(value: number, digits: number): string {
  const top = 10 ** digits - 1;
  const clamped = Number.isFinite(value) ? Math.min(top, Math.max(0, Math.floor(value))) : 0;
  return String(top - clamped).padStart(digits, '0');
}

function indexKey(createdAt: number, seq: number, id: string): string {
  return `${INDEX_PREFIX}${inverted(createdAt, TIME_DIGITS)}:${inverted(seq, SEQ_DIGITS)}:${id}`;
}

const recordSchema = z.strictObject({
  id: z.string().regex(RECORD_ID),
  tool: z.string().min(1).max(64),
  agent: z.string().min(1).max(128),
  action: z.string().refine(isActionName),
  resource: z.string().refine((resource) => parseResource(resource) !== undefined),
  label: z.array(z.string()).optional(),
  data: z.unknown(),
  createdAt: z.number(),
  tenant: z.string().optional(),
  rolledBackAt: z.number().optional(),
});

// A stored record as the journal hands it out: its label checked (a record saved before labels were kept, or one
// whose label does not parse, is the top), no `rolledBackAt` key unless set.
function toRecord(parsed: z.output<typeof recordSchema>): UndoRecord {
  const { rolledBackAt, label, ...rest } = parsed;
  const record = { ...rest, label: label === undefined ? TOP_LABEL : storedLabel(label) };
  return rolledBackAt === undefined ? record : { ...record, rolledBackAt };
}

/** True for a well-formed undo record id (`u_` and 32 hex digits): nothing else reaches the store. */
export function isUndoRecordId(id: unknown): id is string {
  return typeof id === 'string' && RECORD_ID.test(id);
}

/** Undo records in the kernel's embedded store, keyed by a random id the tool's result carries. */
export class UndoJournal {
  readonly #kv: KvStore;
  /** Ids with a rollback under way in this process. */
  readonly #claimed = new Set<string>();
  /** Settles once the store's records all have index keys (see INDEXED_KEY). */
  #indexed: Promise<void> | undefined;

  constructor(kv: KvStore) {
    this.#kv = kv;
  }

  /**
   * Claims `id` for one rollback at a time; call the returned function when done (after `markRolledBack`),
   * and read the record only after claiming it. Throws KernelError E_BAD_ARG for a malformed id and
   * E_TOOL_FAILED while another rollback of the same record is under way.
   */
  claim(id: unknown): () => void {
    if (!isUndoRecordId(id)) throw new KernelError('E_BAD_ARG', 'rollback: not an undo record id');
    if (this.#claimed.has(id)) throw new KernelError('E_TOOL_FAILED', `rollback: ${id} is already being rolled back`);
    this.#claimed.add(id);
    return () => this.#claimed.delete(id);
  }

  /**
   * Saves an undo for `tool`'s call by `agent`, kept for `tenant` (see StoreShares; absent for the host's);
   * returns its id. Throws KernelError E_BAD_ARG for a bad capture.
   */
  async save(
    tool: string,
    agent: string,
    capture: UndoCapture,
    tenant: string | undefined,
    label: Label,
  ): Promise<string> {
    if (!isActionName(capture?.action) || parseResource(capture.resource) === undefined) {
      throw new KernelError('E_BAD_ARG', `"${tool}": undo capture must name an action and a normal resource`);
    }
    await this.#ready();
    const id = `u_${randomBytes(16).toString('hex')}`;
    const record: UndoRecord = {
      id,
      tool,
      agent,
      action: capture.action,
      resource: capture.resource,
      label,
      data: capture.data ?? null,
      createdAt: Date.now(),
      ...(tenant === undefined ? {} : { tenant }),
    };
    saveSeq = (saveSeq + 1) % 10 ** SEQ_DIGITS;
    // The index key first, on the same tenant's share: a record is never saved unlisted, and an index key whose
    // record is missing (the process died between the two puts) is skipped by `list`.
    const key = indexKey(record.createdAt, saveSeq, id);
    await this.#kv.put(key, id, tenant);
    try {
      await this.#kv.put(PREFIX + id, record, tenant);
    } catch (error) {
      await this.#kv.delete(key).catch(() => {});
      throw error;
    }
    return id;
  }

  /**
   * The record `id` names. Throws KernelError E_BAD_ARG for a malformed id (no store lookup happens) and
   * E_NOT_FOUND for an unknown one or one whose stored form is corrupt.
   */
  async get(id: unknown): Promise<UndoRecord> {
    if (!isUndoRecordId(id)) throw new KernelError('E_BAD_ARG', 'rollback: not an undo record id');
    const parsed = recordSchema.safeParse(await this.#kv.get(PREFIX + id));
    if (!parsed.success || parsed.data.id !== id) throw new KernelError('E_NOT_FOUND', `rollback: no record ${id}`);
    return toRecord(parsed.data);
  }

  /** Marks a record rolled back. Throws what the store throws (E_QUOTA when the tenant's share is full). */
  async markRolledBack(record: UndoRecord): Promise<void> {
    // Still the same tenant's record: a host rollback must not move it off the tenant's share.
    await this.#kv.put(PREFIX + record.id, { ...record, rolledBackAt: Date.now() }, record.tenant);
  }

  /**
   * Puts back `record` as it was before `markRolledBack`, after a rollback that failed. It replaces the larger
   * marked record for the same tenant, so it always fits.
   */
  async unmark(record: UndoRecord): Promise<void> {
    const { rolledBackAt: _, ...unmarked } = record;
    await this.#kv.put(PREFIX + record.id, unmarked, record.tenant);
  }

  /**
   * The most recent records, newest first (for the CLI), at most `limit`: read from the time index, so the cost is
   * that of `limit` records (plus any index keys whose record is missing or corrupt), not of every record saved.
   */
  async list(limit: number): Promise<UndoRecord[]> {
    const wanted = Math.max(0, Math.floor(limit));
    if (!(wanted > 0)) return [];
    await this.#ready();
    // Index keys whose record is gone or corrupt (or a second key of one record, when two kernels of this process
    // indexed an older store at once) are skipped: read on, doubling the window, until `wanted` records are found.
    for (let window = wanted; ; window *= 2) {
      const entries = await this.#kv.scan(INDEX_PREFIX, window, (text) => text);
      const records: UndoRecord[] = [];
      const seen = new Set<string>();
      for (const [key] of entries) {
        const id = key.slice(key.lastIndexOf(':') + 1);
        if (seen.has(id) || !isUndoRecordId(id)) continue;
        seen.add(id);
        const parsed = recordSchema.safeParse(await this.#kv.get(PREFIX + id));
        if (parsed.success && parsed.data.id === id) records.push(toRecord(parsed.data));
        if (records.length === wanted) return records;
      }
      if (entries.length < window) return records;
    }
  }

  // Settles once every record has an index key (see INDEXED_KEY); a failed attempt is retried by the next call.
  #ready(): Promise<void> {
    if (this.#indexed === undefined) {
      this.#indexed = this.#indexOld().catch((error: unknown) => {
        this.#indexed = undefined;
        throw error;
      });
    }
    return this.#indexed;
  }

  // Once per store: index the records a kernel without the index saved. Keys are derived from the records alone, so
  // an attempt that died half way, or two journals of this process indexing at once, write the same keys again.
  async #indexOld(): Promise<void> {
    if ((await this.#kv.getText(INDEXED_KEY)) !== undefined) return;
    // A record that does not parse is left unindexed, as `list` left it out.
    const old = await this.#kv.scan(PREFIX, Number.MAX_SAFE_INTEGER, (text) => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return undefined;
      }
      const parsed = recordSchema.safeParse(value);
      return parsed.success ? { createdAt: parsed.data.createdAt, tenant: parsed.data.tenant } : undefined;
    });
    for (const [key, facts] of old) {
      const id = key.slice(PREFIX.length);
      if (facts !== undefined && isUndoRecordId(id)) {
        await this.#kv.put(indexKey(facts.createdAt, OLD_SEQ, id), id, facts.tenant);
      }
    }
    await this.#kv.put(INDEXED_KEY, 1);
  }
}

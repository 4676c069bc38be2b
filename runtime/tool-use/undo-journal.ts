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
    await this.#kv.put(PREFIX + id, record, tenant);
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

  /** The most recent records, newest first (for the CLI), at most `limit`. */
  async list(limit: number): Promise<UndoRecord[]> {
    const entries = await this.#kv.list(PREFIX, 100_000);
    const records: UndoRecord[] = [];
    for (const [, value] of entries) {
      const parsed = recordSchema.safeParse(value);
      if (parsed.success) records.push(toRecord(parsed.data));
    }
    return records.sort((a, b) => b.createdAt - a.createdAt).slice(0, limit);
  }
}

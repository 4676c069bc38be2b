import { KernelError, ObservedRefusal } from '../core/errors.js';
import { EMPTY_LABEL, joinLabels, type Label } from '../labels/label.js';
import type { HeldMemoryPool } from '../process/held-memory.js';

/**
 * The in-memory stores' bound (the kernel's `stored` pool), divided by tenant. Without a store directory,
 * namespace memory, blobs, snapshots and undo records stay in the kernel's heap until the process ends. Drawn
 * from one pool, a single agent tree could fill it (a few dozen large snapshots did, in a red-team pass) and then
 * every other tenant's `sys.mem.put`, snapshot or undo save was refused. Here each tenant may hold at most its
 * share, file labels its agents' writes keep included; only the kernel's own entries (the union of every kept
 * tag, labels a host call keeps) draw on the pool alone.
 *
 * A tenant is the first segment of a namespace: a top agent's namespace is set by the host, and every
 * descendant's nests below it (`<parent's>/<name>`), so an agent cannot leave its tenant by spawning.
 */
export class StoreShares {
  readonly pool: HeldMemoryPool;
  /** Bytes one tenant may hold. */
  readonly share: number;
  readonly #used = new Map<string, number>();
  /**
   * Per tenant, the join of the labels of whatever sized what it keeps (raised by `raise`; it only rises), and
   * the same over every tenant for the pool they share: how full they are depends on those sizes, so a refusal
   * carries them (red-team pass 50: a labelled child's snapshot, measured by its clean parent's refused puts,
   * read a PIN in one run).
   */
  readonly #labels = new Map<string, Label>();
  #poolLabel: Label = EMPTY_LABEL;

  /** Throws RangeError when `share` is not a positive safe integer. */
  constructor(pool: HeldMemoryPool, share: number) {
    if (!Number.isSafeInteger(share) || share < 1) throw new RangeError('share must be a positive integer of bytes');
    this.pool = pool;
    this.share = share;
  }

  /**
   * Joins `label`, the label of what sizes something `tenant` keeps (or will keep), into the tenant's label and
   * the pool's. Call it before the charge.
   */
  raise(tenant: string | undefined, label: Label): void {
    if (label.length === 0) return;
    this.#poolLabel = joinLabels(this.#poolLabel, label);
    if (tenant !== undefined) this.#labels.set(tenant, joinLabels(this.#labels.get(tenant) ?? EMPTY_LABEL, label));
  }

  /** Bytes `tenant` holds now. */
  used(tenant: string): number {
    return this.#used.get(tenant) ?? 0;
  }

  /**
   * Takes `bytes` for `tenant` (undefined: the kernel's own, from the pool alone). Throws ObservedRefusal
   * E_QUOTA, taking nothing, when the tenant's share (carrying the tenant's label) or the pool (the pool's)
   * would overflow.
   */
  take(tenant: string | undefined, bytes: number): void {
    if (tenant !== undefined && this.used(tenant) + bytes > this.share) {
      throw new ObservedRefusal('E_QUOTA', SHARE_FULL, this.#labels.get(tenant) ?? EMPTY_LABEL);
    }
    try {
      this.pool.take(bytes);
    } catch (error) {
      if (!(error instanceof KernelError)) throw error;
      throw new ObservedRefusal(error.code, error.message, this.#poolLabel);
    }
    if (tenant !== undefined) this.#used.set(tenant, this.used(tenant) + bytes);
  }

  /**
   * Charges `bytes` to `tenant`'s share alone, for content the store already holds (a blob or snapshot stored
   * before, by anyone): what keeping something costs a tenant must not depend on what others stored, or the
   * cost is an oracle for their content (a red-team probe guessed another tenant's labelled file, 78 bytes
   * cheaper when right). The pool is charged too, though nothing new is held: a put refused only when new would
   * tell the same once the pool is full. Never given back, as such content is never freed. Throws KernelError
   * E_QUOTA, charging nothing, past the share or the pool; undefined (the kernel's own) is never charged.
   */
  count(tenant: string | undefined, bytes: number): void {
    if (tenant === undefined) return;
    this.take(tenant, bytes);
  }

  /**
   * Replaces an entry of `oldBytes` kept for `oldTenant` with one of `newBytes` for `newTenant`: charges only
   * the difference when the tenant stays, so a tenant at its share can still shrink what it keeps. Throws like
   * `take`, changing nothing.
   */
  replace(oldTenant: string | undefined, oldBytes: number, newTenant: string | undefined, newBytes: number): void {
    this.give(oldTenant, oldBytes);
    try {
      this.take(newTenant, newBytes);
    } catch (error) {
      // Just given back, so it fits again.
      this.take(oldTenant, oldBytes);
      throw error;
    }
  }

  /** Gives back `bytes` that `take` took for `tenant`. Never throws. */
  give(tenant: string | undefined, bytes: number): void {
    this.pool.give(bytes);
    if (tenant === undefined || !(bytes > 0)) return;
    const left = this.used(tenant) - bytes;
    if (left > 0) this.#used.set(tenant, left);
    else this.#used.delete(tenant);
  }
}

const SHARE_FULL = "the namespace's tenant holds its whole share of the kernel's store";

/** The tenant of `namespace`: its first segment. */
export function tenantOf(namespace: string): string {
  const slash = namespace.indexOf('/');
  return slash === -1 ? namespace : namespace.slice(0, slash);
}

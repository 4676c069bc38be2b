import { type KvStore, storeIdentity } from '../store/kv-store.js';
import { type LabelStore, UNTRACKED_WRITES_KEY, type UntrackedWorkEntry } from '../tool-use/tool-contract.js';
import { EMPTY_LABEL, joinLabels, joinTags, makeLabel, storedLabel } from './label.js';

// Outside the `label:` key space, so no resource key can collide with it.
const UNION_KEY = 'labels-union';

// Every change to the labels kept in one store is a read then writes (the key's label, the union): they run
// one at a time, in call order, per underlying store (so two KvLabelStore over one KvStore share the order), and
// per LevelDB handle, not per wrapper of it: two kernels of one process on one store directory each wrap the
// shared handle, and their read-then-writes of the union replaced each other's tags (red-team pass 86).
const queues = new WeakMap<object, Promise<unknown>>();

// Open untracked work (tools/untracked-writes.ts), one key each. Read from the store once per handle and kept in
// memory after: one process holds a store directory at a time, so what this process wrote is all there is.
const UNTRACKED_PREFIX = 'untracked-open:';
const untrackedByStore = new WeakMap<object, Promise<Map<string, UntrackedWorkEntry>>>();
// Far more than the in-flight limits of proc and MCP allow open at once; past it, an entry that can never be closed
// stands for the rest (so more than this many left by dead processes over-taints, never under-taints).
const MAX_UNTRACKED = 4096;
// What a malformed or unlisted entry reads as: no process can be shown dead, so it is never closed.
const UNKNOWN_WORK: UntrackedWorkEntry = Object.freeze({
  owner: '',
  pid: 0,
  start: null,
  boot: null,
  ns: null,
  renewed: 0,
  group: null,
  label: EMPTY_LABEL,
});

/**
 * Labels the kernel keeps for resources outside it (a file keeps the label of the data written to it), in
 * the embedded store so they survive the process when a store directory is configured.
 */
export class KvLabelStore implements LabelStore {
  readonly #kv: KvStore;
  readonly #tenant: string | undefined;
  /** What `#kv` stores into (storeIdentity): the key of the order of changes. */
  readonly #store: object;

  /** `tenant`: whose share of the in-memory store the labels this view keeps draw on (see StoreShares). */
  constructor(kv: KvStore, tenant?: string) {
    this.#kv = kv;
    this.#tenant = tenant;
    this.#store = storeIdentity(kv);
  }

  /**
   * The same labels, kept for `tenant`: an agent's writes keep a label per path they make (one per directory
   * `mkdirs` creates, keyed by its whole path), so they are the agent's to pay for. Views of one KvStore share
   * one order of changes.
   */
  forTenant(tenant: string | undefined): KvLabelStore {
    return tenant === this.#tenant ? this : new KvLabelStore(this.#kv, tenant);
  }

  async get(key: string): Promise<readonly string[]> {
    const stored = await this.#kv.get(`label:${key}`);
    // A corrupt entry must not read as clean, nor as any label short of every tag (storedLabel).
    return stored === undefined ? EMPTY_LABEL : storedLabel(stored);
  }

  async set(key: string, tags: readonly string[]): Promise<void> {
    const label = tags.length === 0 ? EMPTY_LABEL : makeLabel(tags, 'tags');
    return this.#serialized(() => this.#write(key, label));
  }

  /** Joins `tags` into the label kept for `key` atomically (no other change to this store in between). */
  async raise(key: string, tags: readonly string[]): Promise<readonly string[]> {
    const added = joinTags(tags, 'tags');
    return this.#serialized(async () => {
      const current = await this.get(key);
      const label = joinLabels(current, added);
      // By identity: a join that adds nothing is its first argument (the top, one tag, can replace one tag).
      if (label !== current) await this.#write(key, label);
      return label;
    });
  }

  /** Only inside #serialized. */
  async #write(key: string, label: readonly string[]): Promise<void> {
    if (label.length === 0) {
      await this.#kv.delete(`label:${key}`);
      return;
    }
    // The union is written first: a crash between the two writes over-taints, never under-taints.
    const before = await this.all();
    const union = joinLabels(before, label);
    if (union !== before) await this.#kv.put(UNION_KEY, union);
    // The untracked-writes mark is the kernel's, as the union is: charged to a tenant, a tenant that filled its share
    // refused the end mark of every program running then, and left the process over-tainting (review 101).
    await this.#kv.put(`label:${key}`, label, key === UNTRACKED_WRITES_KEY ? undefined : this.#tenant);
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = (queues.get(this.#store) ?? Promise.resolve()).then(task);
    // The next change waits for this one to settle, whether it succeeded or not.
    queues.set(
      this.#store,
      run.catch(() => undefined),
    );
    return run;
  }

  keepUntracked(id: string, work: UntrackedWorkEntry | undefined): Promise<void> {
    return this.#serialized(async () => {
      const entries = await this.#untracked();
      if (work === undefined) {
        await this.#kv.delete(UNTRACKED_PREFIX + id);
        entries.delete(id);
      } else {
        await this.#kv.put(UNTRACKED_PREFIX + id, work);
        entries.set(id, work);
      }
    });
  }

  async listUntracked(): Promise<readonly (readonly [string, UntrackedWorkEntry])[]> {
    const entries = await this.#untracked();
    return entries.size === 0 ? [] : [...entries];
  }

  #untracked(): Promise<Map<string, UntrackedWorkEntry>> {
    let entries = untrackedByStore.get(this.#store);
    if (entries === undefined) {
      entries = this.#kv.list(UNTRACKED_PREFIX, MAX_UNTRACKED + 1).then((stored) => {
        const loaded = new Map<string, UntrackedWorkEntry>();
        for (const [key, value] of stored) loaded.set(key.slice(UNTRACKED_PREFIX.length), untrackedEntry(value));
        if (stored.length > MAX_UNTRACKED) loaded.set('(more)', UNKNOWN_WORK);
        return loaded;
      });
      // A failed read is tried again next time, not kept.
      entries.catch(() => untrackedByStore.delete(this.#store));
      untrackedByStore.set(this.#store, entries);
    }
    return entries;
  }

  async all(): Promise<readonly string[]> {
    const stored = await this.#kv.get(UNION_KEY);
    return stored === undefined ? EMPTY_LABEL : storedLabel(stored);
  }
}

/** A stored entry as written by `keepUntracked`, or UNKNOWN_WORK for anything else (a corrupt store over-taints). */
function untrackedEntry(value: unknown): UntrackedWorkEntry {
  if (typeof value !== 'object' || value === null) return UNKNOWN_WORK;
  const { owner, pid, start, boot, ns, renewed, group, label } = value as Record<string, unknown>;
  const isId = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 0x7fffffff;
  const isFact = (text: unknown): text is string | null => text === null || typeof text === 'string';
  if (
    typeof owner !== 'string' ||
    !isId(pid) ||
    !isFact(start) ||
    !isFact(boot) ||
    !isFact(ns) ||
    typeof renewed !== 'number' ||
    !Number.isSafeInteger(renewed) ||
    (group !== null && !isId(group))
  ) {
    return UNKNOWN_WORK;
  }
  // A corrupt label reads as every tag (storedLabel).
  return Object.freeze({ owner, pid, start, boot, ns, renewed, group, label: storedLabel(label) });
}

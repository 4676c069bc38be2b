import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { StoreShares } from './store-shares.js';

/**
 * The kernel's embedded key-value store: namespace memory, labels kept for files, and undo records. With a
 * store directory it is LevelDB (classic-level) under `<store>/kv`, so it survives the process; without one
 * it is a sorted map in memory. Values are JSON.
 */
export interface KvStore {
  /** The value, or undefined when absent. */
  get(key: string): Promise<unknown>;
  /**
   * The value's stored JSON text, unparsed, or undefined when absent: a caller that parses it can charge the work
   * (LevelDB's own decoding runs after an await, out of any meter) or need not parse it at all.
   */
  getText(key: string): Promise<string | undefined>;
  /**
   * Stores a JSON value other than null (LevelDB cannot hold null); rejects with TypeError for null/undefined.
   * `tenant` is who the entry is kept for (see StoreShares); absent for the kernel's own entries.
   */
  put(key: string, value: unknown, tenant?: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Entries whose key starts with `prefix`, in key order, at most `limit` of them. */
  list(prefix: string, limit: number): Promise<[string, unknown][]>;
  /**
   * As `list`, but each value's stored JSON text is handed to `read`, never parsed by the store, and the key
   * comes with what `read` returned: counting or listing a namespace must not build it (parsing nested arrays
   * multiplies their text about 25 times in the heap). `read` runs synchronously, once per entry.
   */
  scan<T>(prefix: string, limit: number, read: (text: string) => T): Promise<[string, T][]>;
  close(): Promise<void>;
}

/**
 * The in-memory store: the same contract, gone with the process. Its contents live in the kernel's heap, so
 * with `shares` every entry draws on its tenant's share (two bytes per character of key and JSON text) and a
 * write past it is refused with KernelError E_QUOTA.
 */
export class MemoryKvStore implements KvStore {
  readonly #entries = new Map<string, string>();
  /**
   * Keys by their part up to the first NUL (`mem:<namespace>\u0000`, see namespace-memory.ts), so a listing of one
   * namespace filters and sorts that namespace's keys, not every tenant's (100k keys elsewhere made an empty
   * namespace's listing 20 times slower). Keys without a NUL are under ''.
   */
  readonly #groups = new Map<string, Set<string>>();
  /** The tenant each entry was charged to, for entries kept for one. */
  readonly #tenants = new Map<string, string>();
  readonly #shares: StoreShares | undefined;

  constructor(shares?: StoreShares) {
    this.#shares = shares;
  }

  async get(key: string): Promise<unknown> {
    const json = this.#entries.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  async getText(key: string): Promise<string | undefined> {
    return this.#entries.get(key);
  }

  async put(key: string, value: unknown, tenant?: string): Promise<void> {
    checkValue(value);
    // Stored as JSON text so a caller can never keep a live reference into the store.
    const json = JSON.stringify(value);
    const previous = this.#entries.get(key);
    if (previous === undefined) this.#shares?.take(tenant, entryBytes(key, json));
    else this.#shares?.replace(this.#tenants.get(key), entryBytes(key, previous), tenant, entryBytes(key, json));
    this.#entries.set(key, json);
    if (previous === undefined) {
      const group = groupOf(key);
      const keys = this.#groups.get(group);
      if (keys === undefined) this.#groups.set(group, new Set([key]));
      else keys.add(key);
    }
    if (tenant === undefined) this.#tenants.delete(key);
    else this.#tenants.set(key, tenant);
  }

  async delete(key: string): Promise<void> {
    const previous = this.#entries.get(key);
    if (previous === undefined) return;
    this.#shares?.give(this.#tenants.get(key), entryBytes(key, previous));
    this.#entries.delete(key);
    this.#tenants.delete(key);
    const group = groupOf(key);
    const keys = this.#groups.get(group);
    keys?.delete(key);
    if (keys?.size === 0) this.#groups.delete(group);
  }

  async list(prefix: string, limit: number): Promise<[string, unknown][]> {
    return this.#scan(prefix, limit, (text) => JSON.parse(text) as unknown);
  }

  async scan<T>(prefix: string, limit: number, read: (text: string) => T): Promise<[string, T][]> {
    return this.#scan(prefix, limit, read);
  }

  #scan<T>(prefix: string, limit: number, read: (text: string) => T): [string, T][] {
    // A prefix with a NUL lies within one group; any other may span groups.
    const candidates = prefix.includes('\u0000') ? (this.#groups.get(groupOf(prefix)) ?? []) : this.#entries.keys();
    const keys = sortedUtf8([...candidates].filter((key) => key.startsWith(prefix)));
    return keys.slice(0, limit).map((key) => [key, read(this.#entries.get(key) as string)]);
  }

  async close(): Promise<void> {}
}

// Both stores refuse the same values, with the same error.
function checkValue(value: unknown): void {
  if (value === null || value === undefined) throw new TypeError('value must be a JSON value other than null');
}

function groupOf(key: string): string {
  const nul = key.indexOf('\u0000');
  return nul === -1 ? '' : key.slice(0, nul + 1);
}

function entryBytes(key: string, json: string): number {
  return 2 * (key.length + json.length) + 64;
}

// LevelDB orders keys by their UTF-8 bytes; the memory store must list in the same order. Each key is encoded once:
// a comparator that encoded both sides at every comparison took 200-250 ms to sort 10,000 keys of 255 CJK
// characters, one `sys.mem.list` or `sys.snapshot` step (red-team pass 118); 20 ms encoded once.
function sortedUtf8(keys: readonly string[]): string[] {
  return keys
    .map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({ key }) => key);
}

// LevelDB allows one open handle per directory (it takes a lock file), so kernels in one process that
// name the same store share a handle, closed when the last of them closes. Keyed by the directory's real path, so
// two spellings of one store share it too (a second handle on one directory fails every operation).
const openStores = new Map<string, { db: ClassicLevel<string, unknown>; refs: number }>();

// What each LevelKvStore stores into: its directory's entry of `openStores` while the handle is open.
const identities = new WeakMap<KvStore, object>();

/**
 * What `kv` stores into: one object per LevelDB handle (every kernel of this process opened on one store directory
 * has a LevelKvStore of its own over one shared handle), the store itself otherwise. What is kept in memory about a
 * store's contents (counts, labels, the order of read-then-writes) must be kept per identity, never per wrapper:
 * two kernels on one store each kept their own count of a namespace's deleters and wrote it over the other's
 * (red-team pass 86, `two-kernels-memory-laundering.test.ts`). A handle closed and opened again is a new identity,
 * so nothing counted before outlives it.
 */
export function storeIdentity(kv: KvStore): object {
  return identities.get(kv) ?? kv;
}

function storePath(dir: string): string {
  const absolute = resolve(dir);
  try {
    return join(realpathSync(dirname(absolute)), basename(absolute));
  } catch {
    return absolute;
  }
}

/** LevelDB under `dir`. Another process holding the directory makes every operation reject. */
export class LevelKvStore implements KvStore {
  readonly #dir: string;
  readonly #db: ClassicLevel<string, unknown>;
  #closed = false;

  /** Throws TypeError when `dir` is not a non-empty path. */
  constructor(dir: string) {
    if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a directory path');
    this.#dir = storePath(dir);
    let shared = openStores.get(this.#dir);
    if (shared === undefined) {
      shared = { db: new ClassicLevel<string, unknown>(dir, { valueEncoding: 'json' }), refs: 0 };
      openStores.set(this.#dir, shared);
    }
    shared.refs++;
    this.#db = shared.db;
    identities.set(this, shared);
  }

  async get(key: string): Promise<unknown> {
    return await this.#db.get(key);
  }

  async getText(key: string): Promise<string | undefined> {
    // The stored text is what the json encoding wrote, JSON.stringify of the value.
    return await this.#db.get<string, string>(key, { valueEncoding: 'utf8' });
  }

  async put(key: string, value: unknown): Promise<void> {
    checkValue(value);
    await this.#db.put(key, value);
  }

  async delete(key: string): Promise<void> {
    await this.#db.del(key);
  }

  async list(prefix: string, limit: number): Promise<[string, unknown][]> {
    const out: [string, unknown][] = [];
    if (limit <= 0) return out;
    // Keys sharing a prefix are contiguous in byte order, so the scan stops at the first key past them.
    for await (const [key, value] of this.#db.iterator({ gte: prefix })) {
      if (!key.startsWith(prefix)) break;
      out.push([key, value]);
      if (out.length >= limit) break;
    }
    return out;
  }

  async scan<T>(prefix: string, limit: number, read: (text: string) => T): Promise<[string, T][]> {
    const out: [string, T][] = [];
    if (limit <= 0) return out;
    // The stored text is what the json encoding wrote, JSON.stringify of the value: read as text, never parsed.
    for await (const [key, text] of this.#db.iterator<string, string>({ gte: prefix, valueEncoding: 'utf8' })) {
      if (!key.startsWith(prefix)) break;
      out.push([key, read(text)]);
      if (out.length >= limit) break;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const shared = openStores.get(this.#dir);
    if (shared === undefined || --shared.refs > 0) return;
    openStores.delete(this.#dir);
    await shared.db.close();
  }
}

import { randomBytes } from 'node:crypto';
import { MAX_ID_LENGTH } from '../audit/record.js';
import { KernelError, ObservedRefusal, observedBy } from '../core/errors.js';
import { hasLoneSurrogate } from '../core/resource-match.js';
import { EMPTY_LABEL, joinLabels, type Label, storedLabel, TOP_LABEL } from '../labels/label.js';
import { type KvStore, storeIdentity } from './kv-store.js';
import { type StoreShares, tenantOf } from './store-shares.js';

/**
 * Runs a call and charges the kernel time of its synchronous part to the agent the work is for (see
 * AgentSession.metered): work a write queue runs later is the writer's all the same.
 */
export type Meter = <T>(call: () => T) => T;

/**
 * Namespace memory (`sys.mem`): a key-value store per namespace in the kernel's embedded store, every value
 * kept with its label so that reading it back, from any agent and in any later run, raises the reader's
 * label as the writer's data did. An agent reaches its own namespace and the mounts its parent gave it.
 */
export type MountMode = 'ro' | 'rw';

/** A part of another namespace visible to an agent under a mount name. */
export interface Mount {
  readonly namespace: string;
  /** Only keys under this prefix are visible; the agent's keys are relative to it. */
  readonly prefix: string;
  readonly mode: MountMode;
}

/** What a parent asks for when it spawns: a prefix of its namespace (or of one of its mounts). */
export interface MountRequest {
  readonly name: string;
  readonly prefix?: string | undefined;
  readonly mode: MountMode;
  /** Re-mount one of the parent's own mounts (never wider than it); default the parent's namespace. */
  readonly from?: string | undefined;
}

export interface MemoryEntry {
  readonly value: unknown;
  readonly label: Label;
}

export const MAX_KEY_LENGTH = 256;
export const MAX_LIST = 1000;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters would corrupt store keys.
const BAD_KEY_CHAR = /[\u0000-\u001f\u007f]/;
const SEPARATOR = '\u0000';

const SEGMENT = '[a-z0-9][a-z0-9_-]{0,31}';
/** One level of a namespace (and a mount name): a lowercase name of at most 32 characters. */
export const NAMESPACE_SEGMENT = new RegExp(`^${SEGMENT}$`);
/** A namespace the host names: up to 16 segments separated by "/". */
export const NAMESPACE_PATH = new RegExp(`^${SEGMENT}(?:/${SEGMENT}){0,15}$`);
/**
 * The longest namespace, a child's included: what an audit record's namespace field holds (record.ts). Sixteen
 * segments can spell twice that; an agent whose namespace was longer had every call fail, unrecorded (pass 83).
 */
export const MAX_NAMESPACE_LENGTH = MAX_ID_LENGTH;

/** A fresh namespace segment (8 hex digits) for an agent that did not name one. */
export function freshNamespaceSegment(): string {
  return randomBytes(4).toString('hex');
}

// LevelDB stores keys as UTF-8, where every lone surrogate becomes U+FFFD: a mount prefix "s\uD800" reached the
// parent's keys "s\uFFFD…" with a store directory, and not without one (red-team pass 39).

/** Checks an agent-supplied key (or mount prefix). Throws KernelError E_BAD_ARG. */
export function checkKey(key: string, what = 'key'): void {
  if (key.length > MAX_KEY_LENGTH || BAD_KEY_CHAR.test(key) || hasLoneSurrogate(key)) {
    throw new KernelError(
      'E_BAD_ARG',
      `sys.mem: ${what} must be at most ${MAX_KEY_LENGTH} printable characters, without lone surrogates`,
    );
  }
}

/** Entries one namespace may hold, and their total size (keys and JSON text, in characters). */
export const MAX_NAMESPACE_ENTRIES = 10_000;
export const MAX_NAMESPACE_BYTES = 16 * 1024 * 1024;

interface NamespaceUse {
  entries: number;
  bytes: number;
  /**
   * The join of the labels of the entries counted and of `removed` (it only rises): how full the namespace is
   * depends on their sizes, so a refusal by its bounds carries it (ObservedRefusal), and which keys are absent
   * depends on who wrote and who deleted.
   */
  label: Label;
  /**
   * The join of the labels of every agent that deleted an entry here (kept in the store, so it outlives the
   * process): which keys remain is data of whoever removed the others.
   */
  removed: Label;
}

/** What NamespaceMemory keeps about one store's namespaces (see NamespaceMemory's fields). */
interface StoreState {
  readonly use: Map<string, NamespaceUse>;
  readonly queues: Map<string, Promise<unknown>>;
  readonly counting: Map<string, Promise<NamespaceUse>>;
}

// One state per store (storeIdentity: per LevelDB handle), shared by every NamespaceMemory over it.
const states = new WeakMap<object, StoreState>();

/**
 * Memory for every namespace, over one KvStore. Writes and deletes of one namespace run one at a time so
 * that its entry count and size stay exact; a write past MAX_NAMESPACE_ENTRIES or MAX_NAMESPACE_BYTES is
 * refused with E_QUOTA (an agent cannot fill the host's disk or heap through memory).
 *
 * The counts and the order of writes are the store's, not this object's: every NamespaceMemory over one store
 * (two kernels of one process on one store directory share its LevelDB handle) shares them. Before, each kernel
 * counted on its own, so a clean agent of one kernel listed keys another kernel's web agent had deleted with the
 * label of its own stale count ([]), and a labelled delete there wrote the stored deleters' label from that count,
 * dropping web from the store for good (red-team pass 86, `two-kernels-memory-laundering.test.ts`).
 */
export class NamespaceMemory {
  readonly #kv: KvStore;
  /**
   * Use per namespace, counted from the store the first time a namespace is used in this process, and forgotten
   * when it holds no entry (every agent gets a namespace of its own: kept, they grew the kernel by each agent
   * that ever probed a key). Counted again, an empty namespace's label is its deleters' (`removed`, in the store),
   * as after a restart: the labels of the entries it held went with them (a deleter takes the label of what it
   * deleted, and which keys are gone is what the deleters decided). Shared per store (StoreState).
   */
  readonly #use: Map<string, NamespaceUse>;
  readonly #queues: Map<string, Promise<unknown>>;
  readonly #counting: Map<string, Promise<NamespaceUse>>;

  readonly #shares: StoreShares | undefined;

  /** `shares`: the in-memory store's, whose tenant labels each entry's label raises (see StoreShares.raise). */
  constructor(kv: KvStore, shares?: StoreShares) {
    this.#kv = kv;
    this.#shares = shares;
    const store = storeIdentity(kv);
    let state = states.get(store);
    if (state === undefined) {
      state = { use: new Map(), queues: new Map(), counting: new Map() };
      states.set(store, state);
    }
    this.#use = state.use;
    this.#queues = state.queues;
    this.#counting = state.counting;
  }

  /** Namespaces whose use is held in memory (a leak check: only namespaces with entries stay). */
  get namespacesCounted(): number {
    return this.#use.size;
  }

  // Runs `task` after every earlier write or delete of `namespace` has settled.
  #serialized<T>(namespace: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(namespace) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(namespace, tail);
    void tail.then(() => {
      if (this.#queues.get(namespace) !== tail) return;
      this.#queues.delete(namespace);
      const use = this.#use.get(namespace);
      if (use !== undefined) this.#forgetIfEmpty(namespace, use);
    });
    return run;
  }

  // One count per namespace at a time, shared by every caller: two counts racing each installed its own, and a
  // delete's raised label, written to the count it got, was replaced by a count that read the store before the
  // delete (red-team pass 53: missing keys then read clean after a restart).
  #usage(namespace: string, meter: Meter): Promise<NamespaceUse> {
    const use = this.#use.get(namespace);
    if (use !== undefined) return Promise.resolve(use);
    let counting = this.#counting.get(namespace);
    if (counting === undefined) {
      const done = this.#count(namespace, meter).then((counted) => {
        this.#use.set(namespace, counted);
        return counted;
      });
      counting = done.finally(() => {
        if (this.#counting.get(namespace) === counting) this.#counting.delete(namespace);
      });
      this.#counting.set(namespace, counting);
    }
    return counting;
  }

  async #count(namespace: string, meter: Meter): Promise<NamespaceUse> {
    const removedLabel = readRemoved(await meter(() => this.#kv.getText(removedKey(namespace))));
    const counted: NamespaceUse = { entries: 0, bytes: 0, label: removedLabel, removed: removedLabel };
    // Lengths of the stored text and its label (read from the head), never the parsed entries: a namespace of
    // nested arrays left by an earlier run took about 450 MB of heap and a second of the event loop to parse
    // whole for one small write.
    const listed = await meter(() =>
      this.#kv.scan(storeKey(namespace, ''), MAX_NAMESPACE_ENTRIES + 1, (text) => ({
        length: text.length,
        label: labelOfText(text),
      })),
    );
    for (const [key, { length, label }] of listed) {
      counted.entries += 1;
      counted.bytes += key.length + length;
      if (label !== undefined) counted.label = joinLabels(counted.label, label);
    }
    return counted;
  }

  /** The size of `namespace`'s memory (keys and JSON text, in characters), as MAX_NAMESPACE_BYTES counts it. */
  async size(namespace: string, meter: Meter = unmetered): Promise<number> {
    return (await this.#usage(namespace, meter)).bytes;
  }

  /**
   * `size`; the join of the labels of the entries it counts and of the agents that deleted entries (`label`, it
   * only rises): a bound on the size is an observation of them, and so is a key's absence; and the deleters'
   * part alone (`removed`): which entries are there at all depends on it.
   */
  async sized(
    namespace: string,
    meter: Meter = unmetered,
  ): Promise<{ readonly bytes: number; readonly label: Label; readonly removed: Label }> {
    const use = await this.#usage(namespace, meter);
    this.#forgetIfEmpty(namespace, use);
    return { bytes: use.bytes, label: use.label, removed: use.removed };
  }

  // Only between writes: a write or delete in flight holds the use it counts on.
  #forgetIfEmpty(namespace: string, use: NamespaceUse): void {
    if (use.entries === 0 && !this.#queues.has(namespace) && this.#use.get(namespace) === use) {
      this.#use.delete(namespace);
    }
  }

  /**
   * The entry, parsed inside `meter` (after the store's await, out of the dispatcher's sight). A meter that refuses
   * an ended agent's parse (AgentSession, `meteredReply`) stops a burst of reads at the agent's end.
   */
  async get(namespace: string, key: string, meter: Meter = unmetered): Promise<MemoryEntry | undefined> {
    const text = await this.#kv.getText(storeKey(namespace, key));
    return text === undefined ? undefined : meter(() => toEntry(JSON.parse(text) as unknown));
  }

  /**
   * Stores an entry. Rejects with KernelError E_QUOTA when the namespace would exceed its caps. `meter` is
   * charged the kernel time of the work done for the write once it is its turn (see AgentSession.metered).
   */
  put(namespace: string, key: string, entry: MemoryEntry, meter: Meter = unmetered): Promise<void> {
    // Label first: a listing reads it from the head of the stored text (`labelOfText`) and never parses the value.
    const stored = { l: [...entry.label], v: entry.value ?? null };
    const id = storeKey(namespace, key);
    return this.#serialized(namespace, async () => {
      const use = await this.#usage(namespace, meter);
      // The previous entry's size is its text's: never parsed.
      const previous = await meter(() => this.#kv.getText(id));
      const entries = use.entries + (previous === undefined ? 1 : 0);
      const bytes = meter(
        () => use.bytes - (previous === undefined ? 0 : id.length + previous.length) + sizeOf(id, stored),
      );
      if (entries > MAX_NAMESPACE_ENTRIES) {
        const message = `sys.mem: a namespace holds at most ${MAX_NAMESPACE_ENTRIES} entries`;
        throw new ObservedRefusal('E_QUOTA', message, use.label);
      }
      if (bytes > MAX_NAMESPACE_BYTES && bytes > use.bytes) {
        const message = `sys.mem: a namespace holds at most ${MAX_NAMESPACE_BYTES} bytes`;
        throw new ObservedRefusal('E_QUOTA', message, use.label);
      }
      const tenant = tenantOf(namespace);
      this.#shares?.raise(tenant, entry.label);
      try {
        await meter(() => this.#kv.put(id, stored, tenant));
      } catch (error) {
        // Refused by the tenant's share or the store's pool (whose refusals carry what they hold): the
        // namespace's entries are part of that.
        if (error instanceof KernelError && error.code === 'E_QUOTA') {
          throw new ObservedRefusal('E_QUOTA', error.message, joinLabels(use.label, observedBy(error)));
        }
        throw error;
      }
      use.entries = entries;
      use.bytes = bytes;
      use.label = joinLabels(use.label, entry.label);
    });
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    return (await this.remove(namespace, key)) !== undefined;
  }

  /**
   * Deletes a key and resolves to the label of the entry it held (undefined when absent), read without parsing
   * the value. Whether a key existed is data of its writer: `sys.mem.delete` raises the caller's label by it.
   * `deleter` is the label of the agent deleting: which keys remain is its data from then on, so the namespace's
   * label (`sized`) takes it, stored before the entry goes (a crash in between leaves the label raised, never
   * the key gone unlabelled). Before, a web-labelled child deleted its clean parent's keys bit by bit and the
   * parent read the page back from `sys.mem.list` with a clean label (red-team pass 52).
   */
  remove(
    namespace: string,
    key: string,
    meter: Meter = unmetered,
    deleter: Label = EMPTY_LABEL,
  ): Promise<Label | undefined> {
    const id = storeKey(namespace, key);
    return this.#serialized(namespace, async () => {
      const use = await this.#usage(namespace, meter);
      const stored = await meter(() => this.#kv.getText(id));
      if (stored === undefined) return undefined;
      await this.#raiseRemoved(namespace, use, deleter, meter);
      await meter(() => this.#kv.delete(id));
      use.entries = Math.max(0, use.entries - 1);
      use.bytes = Math.max(0, use.bytes - (id.length + stored.length));
      return meter(() => labelOfText(stored)) ?? EMPTY_LABEL;
    });
  }

  /**
   * Raises the label of which keys `namespace` holds by `label`, as a delete by an agent of that label does (kept in
   * the store): for memory copied in from a snapshot, whose set of keys is the snapshotted agent's data (red-team
   * pass 53: a clean run listed a restored copy of memory a labelled child had deleted from, and mailed the page).
   * Rejects like `put` when the store refuses the label's record.
   */
  raise(namespace: string, label: Label, meter: Meter = unmetered): Promise<void> {
    return this.#serialized(namespace, async () => {
      await this.#raiseRemoved(namespace, await this.#usage(namespace, meter), label, meter);
    });
  }

  // Joins `label` into the namespace's `removed` label, stored before it counts (a crash leaves it raised). The
  // stored label is read and joined in too, so what is stored only rises even if the count were stale.
  async #raiseRemoved(namespace: string, use: NamespaceUse, label: Label, meter: Meter): Promise<void> {
    if (joinLabels(use.removed, label) === use.removed) return;
    const stored = await meter(() => this.#kv.getText(removedKey(namespace)));
    const removed = joinLabels(joinLabels(use.removed, readRemoved(stored)), label);
    const tenant = tenantOf(namespace);
    this.#shares?.raise(tenant, removed);
    try {
      await meter(() => this.#kv.put(removedKey(namespace), [...removed], tenant));
    } catch (error) {
      if (error instanceof KernelError && error.code === 'E_QUOTA') {
        throw new ObservedRefusal('E_QUOTA', error.message, joinLabels(use.label, observedBy(error)));
      }
      throw error;
    }
    use.removed = removed;
    use.label = joinLabels(use.label, removed);
  }

  /**
   * Entries whose key starts with `prefix`, in key order, keys relative to the namespace. Each value is parsed
   * inside `meter`, so the caller is charged for building them (a store directory's scan resolves after an
   * await), and handed to `keep` as soon as it is parsed (which may throw to stop the listing).
   */
  async list(
    namespace: string,
    prefix: string,
    limit = MAX_LIST,
    meter: Meter = unmetered,
    keep: (entry: MemoryEntry) => void = () => {},
  ): Promise<[string, MemoryEntry][]> {
    return this.#scan(namespace, prefix, limit, (text) =>
      meter(() => {
        const entry = toEntry(JSON.parse(text) as unknown);
        if (entry !== undefined) keep(entry);
        return entry;
      }),
    );
  }

  /** As `list`, but each key with its entry's label only: the values are never parsed. */
  async labels(
    namespace: string,
    prefix: string,
    limit = MAX_LIST,
    meter: Meter = unmetered,
  ): Promise<[string, Label][]> {
    return this.#scan(namespace, prefix, limit, (text) => meter(() => labelOfText(text)));
  }

  async #scan<T>(
    namespace: string,
    prefix: string,
    limit: number,
    read: (text: string) => T | undefined,
  ): Promise<[string, T][]> {
    const base = storeKey(namespace, '');
    const out: [string, T][] = [];
    for (const [key, value] of await this.#kv.scan(base + prefix, limit, read)) {
      if (value !== undefined) out.push([key.slice(base.length), value]);
    }
    return out;
  }
}

const LABEL_HEAD = '{"l":[';

/**
 * The label of a stored entry from its JSON text. Entries written label first (`{"l":[…],"v":…}`) give it from
 * the head of the text: the tags are JSON strings, scanned to the array's end, and only that part is parsed.
 * An entry of the older layout (value first) is parsed whole. Undefined for a malformed entry.
 */
function labelOfText(text: string): Label | undefined {
  if (text.startsWith(LABEL_HEAD)) {
    const end = endOfStringArray(text, LABEL_HEAD.length - 1);
    if (end !== -1) return toEntry({ l: JSON.parse(text.slice(LABEL_HEAD.length - 1, end + 1)) as unknown })?.label;
  }
  return toEntry(JSON.parse(text) as unknown)?.label;
}

// The index of the `]` closing the array of JSON strings that opens at `open`, or -1 when it is not one.
function endOfStringArray(text: string, open: number): number {
  let i = open + 1;
  if (text[i] === ']') return i;
  while (text[i] === '"') {
    i += 1;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i += 1;
    if (text[i] === ']') return i;
    if (text[i] !== ',') return -1;
    i += 1;
  }
  return -1;
}

const unmetered: Meter = (call) => call();

const FAIL_CLOSED = TOP_LABEL;

// What an entry costs its namespace: its store key and its JSON text.
function sizeOf(storeKey: string, stored: unknown): number {
  return storeKey.length + (JSON.stringify(stored) ?? '').length;
}

function storeKey(namespace: string, key: string): string {
  return `mem:${namespace}${SEPARATOR}${key}`;
}

// Where a namespace's `removed` label is kept: outside the `mem:<namespace>\u0000` range its listings scan.
function removedKey(namespace: string): string {
  return `memdel:${namespace}`;
}

// The stored deleters' label (`removedKey`'s text). One that does not read back (corrupt, or past the tag limit)
// fails closed, as the label store does.
function readRemoved(text: string | undefined): Label {
  if (text === undefined) return EMPTY_LABEL;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return FAIL_CLOSED;
  }
  return toEntry({ l: parsed })?.label ?? FAIL_CLOSED;
}

// Stored entries come back from disk: anything malformed reads as absent rather than as an unlabelled value.
function toEntry(stored: unknown): MemoryEntry | undefined {
  if (stored === null || typeof stored !== 'object') return undefined;
  const record = stored as { v?: unknown; l?: unknown };
  if (!Array.isArray(record.l)) return undefined;
  return { value: record.v, label: storedLabel(record.l) };
}

import { KernelError, ObservedRefusal } from '../core/errors.js';
import { EMPTY_LABEL, joinLabels, type Label } from '../labels/label.js';

/**
 * Bytes the kernel keeps in its own heap on agents' behalf (docs/architecture.md §6). The watchdog measures
 * each isolate's heap, but a handle's value, a child's result buffered for `join`, or an in-memory store's
 * entries live in the kernel's heap, where no isolate limit sees them: an agent fetching one 1 MB value as a
 * handle thousands of times took the host to 4.3 GB. Every such byte is charged here:
 *
 * - per agent (`HeldMemory`), against its `memory_mb`, for what it holds while it lives (handles, buffered
 *   child results); crossing it ends the agent with E_QUOTA, and the watchdog counts these bytes with the
 *   isolate's heap, so heap and held bytes together stay within the one `memory_mb`;
 * - per kernel (`HeldMemoryPool`), in total: one pool for every agent's holdings and one for the in-memory
 *   stores' contents (the kernel splits `maxHeldBytes` between them); past it, holding more is refused with
 *   E_QUOTA (no agent is ended: the host's bound is full).
 *
 * Sizes are estimates of V8's heap use that do not fall below it for parsed JSON data, hidden classes included
 * (see `estimateBytes`; test/runtime/process/held-memory.test.ts measures each shape against the heap), except
 * for objects parsed once an agent has filled a transition array (SECURITY.md, "Kernel-held bytes").
 */

/** The message of every memory_mb end, the watchdog's (isolates/sandbox.ts) included. */
export const MEMORY_EXCEEDED = 'quota exceeded: memory_mb';

/** Where an agent's holds are drawn from: the kernel's pool, or a tenant's share of it (`HeldShares`). */
export interface HeldBudget {
  /** Takes `bytes`; throws ObservedRefusal E_QUOTA, taking nothing, when they do not fit. */
  take(bytes: number, observed?: Label): void;
  /** Gives back `bytes` taken earlier. Never throws. */
  give(bytes: number): void;
}

/** What the whole kernel may hold for agents. */
export class HeldMemoryPool implements HeldBudget {
  readonly limit: number;
  readonly #full: string;
  #used = 0;
  /** The join of the labels of what sized every hold taken (it only rises): a refusal carries it. */
  #label: Label = EMPTY_LABEL;

  /**
   * `full` is the E_QUOTA message of a refusal (the kernel's two pools say which is full). Throws RangeError when
   * `limit` is not a positive safe integer.
   */
  constructor(limit: number, full = 'the kernel memory held for agents is exhausted') {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer of bytes');
    this.limit = limit;
    this.#full = full;
  }

  get used(): number {
    return this.#used;
  }

  /**
   * Takes `bytes`, sized by data labelled `observed`, from the pool. Throws ObservedRefusal E_QUOTA, taking
   * nothing, when the pool would overflow: whether it does depends on the sizes of everything held, so the
   * refusal carries their labels.
   */
  take(bytes: number, observed: Label = EMPTY_LABEL): void {
    if (!(bytes >= 0)) throw new RangeError('bytes must be a non-negative number');
    if (this.#used + bytes > this.limit) {
      throw new ObservedRefusal('E_QUOTA', this.#full, this.#label);
    }
    this.#used += bytes;
    if (observed.length > 0) this.#label = joinLabels(this.#label, observed);
  }

  /** Gives `bytes` back. Never throws. */
  give(bytes: number): void {
    if (bytes > 0) this.#used = Math.max(0, this.#used - bytes);
  }
}

/**
 * The agents' pool divided by tenant, as StoreShares divides the stores': drawn from one pool, a single run of six
 * children holding handles (within their own memory_mb) filled it, and every other tenant's `kernel.run` was
 * refused at its start, which holds its capabilities (red-team pass 75). Each tenant (a namespace's first segment)
 * may hold at most `share` bytes; a refusal by the share carries the labels of what that tenant holds, one by the
 * pool those of everything held.
 */
export class HeldShares {
  readonly pool: HeldMemoryPool;
  /** Bytes one tenant's agents may hold together. */
  readonly share: number;
  // Per tenant holding anything: bytes held, and the join of what sized them (it only rises while any is held).
  // A tenant holding nothing has no entry, so namespaces that come and go (a restore's) leave nothing behind.
  readonly #used = new Map<string, number>();
  readonly #labels = new Map<string, Label>();

  /** Throws RangeError when `share` is not a positive safe integer. */
  constructor(pool: HeldMemoryPool, share: number) {
    if (!Number.isSafeInteger(share) || share < 1) throw new RangeError('share must be a positive integer of bytes');
    this.pool = pool;
    this.share = share;
  }

  /** Bytes `tenant`'s agents hold now. */
  used(tenant: string): number {
    return this.#used.get(tenant) ?? 0;
  }

  /** The budget of `tenant`'s agents: its share, drawn from the pool. */
  of(tenant: string): HeldBudget {
    return {
      take: (bytes, observed = EMPTY_LABEL) => this.#take(tenant, bytes, observed),
      give: (bytes) => this.#give(tenant, bytes),
    };
  }

  #take(tenant: string, bytes: number, observed: Label): void {
    if (!(bytes >= 0)) throw new RangeError('bytes must be a non-negative number');
    const used = this.used(tenant);
    if (used + bytes > this.share) {
      throw new ObservedRefusal('E_QUOTA', HELD_SHARE_FULL, this.#labels.get(tenant) ?? EMPTY_LABEL);
    }
    this.pool.take(bytes, observed);
    this.#used.set(tenant, used + bytes);
    if (observed.length > 0) this.#labels.set(tenant, joinLabels(this.#labels.get(tenant) ?? EMPTY_LABEL, observed));
  }

  #give(tenant: string, bytes: number): void {
    if (!(bytes > 0)) return;
    this.pool.give(bytes);
    const left = this.used(tenant) - bytes;
    if (left > 0) {
      this.#used.set(tenant, left);
    } else {
      this.#used.delete(tenant);
      this.#labels.delete(tenant);
    }
  }
}

const HELD_SHARE_FULL = 'the tenant holds its whole share of the kernel memory held for agents';

/** One agent's kernel-held bytes, against its memory_mb and its tenant's share of the kernel's pool. */
export class HeldMemory {
  readonly limit: number;
  readonly #pool: HeldBudget;
  readonly #exceeded: (observed: Label) => void;
  #held = 0;
  /**
   * The join of what decided the sizes held so far. It only rises: what is held may include bytes a labelled
   * source sized (a handle's value, a child's result) while the agent stays clean, and then any later hold,
   * clean or not, crosses the limit or not because of them.
   */
  #label: Label = EMPTY_LABEL;
  #released = false;
  #observer: ((held: number) => void) | undefined;

  /**
   * `exceeded` ends the agent (E_QUOTA memory_mb) after joining `observed` into its label; it must not throw.
   */
  constructor(pool: HeldBudget, limit: number, exceeded: (observed: Label) => void) {
    this.#pool = pool;
    this.limit = limit;
    this.#exceeded = exceeded;
  }

  get held(): number {
    return this.#held;
  }

  /**
   * The join of what decided every size held so far (it only rises). The watchdog counts held bytes with the
   * isolate's heap against the same memory_mb, so a memory kill depends on them and takes this label.
   */
  get label(): Label {
    return this.#label;
  }

  /**
   * Calls `observer` with the bytes held now (when any) and after every change (one observer: a sandbox host's
   * launcher, which tells the host what its watchdog must count with the heap). It must not throw.
   */
  observe(observer: (held: number) => void): void {
    this.#observer = observer;
    // What was held before anyone observed (the agent's capabilities, held at its start) counts too.
    if (this.#held > 0) observer(this.#held);
  }

  /**
   * Charges `bytes` the kernel now holds for the agent. Throws KernelError E_QUOTA, holding nothing: with
   * 'quota exceeded: memory_mb' after ending the agent when its own limit would be crossed, or when the
   * kernel's pool is full, or when the agent has already ended. `observed` is the label of what decided `bytes`
   * (a file's size, a result's): whether the agent ends depends on it, and its parent sees that end, so the
   * agent's label takes it before it ends (joined after the kill, it came too late for the parent's `join`).
   */
  hold(bytes: number, observed: Label = EMPTY_LABEL): void {
    if (this.#released) throw new KernelError('E_KILLED', 'the agent has ended');
    if (this.#held + bytes > this.limit) {
      this.#exceeded(joinLabels(this.#label, observed));
      throw new KernelError('E_QUOTA', MEMORY_EXCEEDED);
    }
    try {
      this.#pool.take(bytes, observed);
    } catch (error) {
      // The refused bytes were sized by `observed` too.
      if (error instanceof ObservedRefusal) {
        throw new ObservedRefusal(error.code, error.message, joinLabels(error.observed, observed));
      }
      throw error;
    }
    this.#held += bytes;
    if (observed.length > 0) this.#label = joinLabels(this.#label, observed);
    this.#observer?.(this.#held);
  }

  /** `hold` of a value's estimated size (see estimateBytes); stops measuring once it is over the limit. */
  holdValue(value: unknown, observed: Label = EMPTY_LABEL): void {
    this.hold(estimateBytes(value, this.limit - this.#held + 1), observed);
  }

  /** Gives back `bytes` held earlier (a pending call settled). Never throws. */
  release(bytes: number): void {
    if (this.#released || !(bytes > 0)) return;
    const given = Math.min(bytes, this.#held);
    this.#held -= given;
    this.#pool.give(given);
    this.#observer?.(this.#held);
  }

  /** Gives back everything the agent held (it ended). Idempotent; later holds are refused. */
  releaseAll(): void {
    if (this.#released) return;
    this.#released = true;
    this.#pool.give(this.#held);
    this.#held = 0;
    this.#observer?.(0);
    this.#observer = undefined;
  }
}

// Byte costs of JSON.parse output in V8 on 64-bit Node (no pointer compression), measured with
// `--expose-gc` and heapUsed over thousands of parsed copies, each rounded up: the estimate must not fall below
// the heap. Every value takes a 16-byte slot or heap number.
const VALUE_BYTES = 16;
// A string's header and alignment; its characters take 1 or 2 bytes each, counted as 2.
const STRING_HEADER_BYTES = 8;
// An array: its object (32) and its elements store's header (16); 8 per element.
const ARRAY_BYTES = 48;
// An object in fast mode: its header and up to four in-object slots (an empty `{}` is 56) plus a property
// store's header; 8 per property, and 2 per key character so the estimate stays above the value's JSON length.
const OBJECT_BYTES = 72;
const PROPERTY_BYTES = 8;
// The first object of a key sequence also pays for its hidden classes: a map per key, descriptors and
// transitions, and the internalized key strings. Measured at 135-264 bytes a key for objects whose keys no other
// object shares; objects of a sequence already counted share them.
const NEW_SHAPE_KEY_BYTES = 320;
// From 128 named keys JSON.parse builds a dictionary: about 50-62 bytes an entry, plus the key string.
const DICTIONARY_KEYS = 128;
const DICTIONARY_KEY_BYTES = 64 + 24;
// Array-index keys ("0", "7", "2302") are elements, not properties: JSON.parse stores them in an elements array
// of 8 bytes a slot up to the largest index while that stays under about 27 slots a key (36 at least), else in a
// number dictionary of under 72 bytes a key (red-team pass 42: `{"0":0,…,"84":0,"2302":0}` was held at a seventh
// of its heap). Keys with at most as many holes as themselves are always an array; sparser ones are charged both
// layouts, as the threshold between them is V8's.
const ELEMENTS_BYTES = 152;
const ELEMENT_KEY_BYTES = 72;
const MIN_ELEMENT_SLOTS = 36;
const ELEMENT_SLOTS_PER_KEY = 27;
const MAX_ARRAY_INDEX = 2 ** 32 - 2;

// How many of an object's keys are array indices: Object.keys lists them first, in ascending order.
function indexKeyCount(keys: readonly string[]): number {
  let count = 0;
  while (count < keys.length && arrayIndex(keys[count]!) !== undefined) count += 1;
  return count;
}

// What an object's `count` array-index keys cost, the largest being keys[count - 1] (see ELEMENTS_BYTES).
function elementsBytes(keys: readonly string[], count: number): number {
  if (count === 0) return 0;
  const largest = Number(keys[count - 1]);
  const slots = Math.min(largest + 1, Math.max(MIN_ELEMENT_SLOTS, ELEMENT_SLOTS_PER_KEY * count));
  const dictionary = largest + 1 > 2 * count ? ELEMENT_KEY_BYTES * count : 0;
  return ELEMENTS_BYTES + 8 * slots + dictionary;
}

// The field representations V8 keeps per hidden class, in the order it generalizes them.
const SMI = 0;
const DOUBLE = 1;
const TAGGED = 2;

function representation(value: unknown): number {
  if (typeof value !== 'number') return TAGGED;
  return Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31 && !Object.is(value, -0) ? SMI : DOUBLE;
}

/**
 * The hidden classes one estimate has charged: per sequence of named keys, the representations each field has
 * held. A new sequence pays NEW_SHAPE_KEY_BYTES a key. A field that later holds a more general value (an integer
 * field given a fraction, a number field a string) makes V8 build a new chain of hidden classes from that field
 * on, while the objects parsed before keep the old one (red-team pass 43: 128 objects of one 127-key sequence,
 * each with a fraction in another field, were held at 2.5 times less). The walk does not follow parse order, so
 * any representation new to a field pays for the keys from it on. Sequences are spelled as JSON of their keys.
 */
class HiddenClasses {
  #fields: Map<string, Uint8Array> | undefined;
  // The first object waits for a second: arguments of one object (most tool calls) never build a sequence's name.
  #first: { readonly keys: readonly string[]; readonly from: number; readonly item: object } | undefined;

  /** Bytes of hidden classes the object `item`, with named keys keys[from…], adds. */
  charge(keys: readonly string[], from: number, item: object): number {
    if (this.#first === undefined && this.#fields === undefined) {
      this.#first = { keys, from, item };
      return NEW_SHAPE_KEY_BYTES * (keys.length - from);
    }
    if (this.#first !== undefined) {
      const { keys: firstKeys, from: firstFrom, item: firstItem } = this.#first;
      this.#first = undefined;
      this.#add(firstKeys, firstFrom, firstItem);
    }
    return this.#add(keys, from, item);
  }

  #add(keys: readonly string[], from: number, item: object): number {
    const named = keys.length - from;
    const shape = JSON.stringify(from === 0 ? keys : keys.slice(from));
    this.#fields ??= new Map();
    const known = this.#fields.get(shape);
    const values = item as Record<string, unknown>;
    if (known === undefined) {
      const fields = new Uint8Array(named);
      for (let i = 0; i < named; i++) fields[i] = 1 << representation(values[keys[from + i]!]);
      this.#fields.set(shape, fields);
      return NEW_SHAPE_KEY_BYTES * named;
    }
    let bytes = 0;
    for (let i = 0; i < named; i++) {
      const seen = 1 << representation(values[keys[from + i]!]);
      if ((known[i]! & seen) === 0) {
        known[i]! |= seen;
        bytes += NEW_SHAPE_KEY_BYTES * (named - i);
      }
    }
    return bytes;
  }
}

// The index a canonical array-index key names ("0", "42"; not "01", "-1" or 2^32 - 1), else undefined.
function arrayIndex(key: string): number | undefined {
  if (key.length === 0 || key.length > 10) return undefined;
  const first = key.charCodeAt(0);
  if (first < 48 || first > 57 || (first === 48 && key.length > 1)) return undefined;
  for (let i = 1; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code < 48 || code > 57) return undefined;
  }
  const index = Number(key);
  return index <= MAX_ARRAY_INDEX ? index : undefined;
}

/**
 * An upper estimate of the V8 heap a value of JSON data occupies once parsed (the constants above: strings,
 * arrays, objects, their array-index keys, and the hidden classes of each key sequence once). A value reached twice counts twice
 * (over-counting is safe). Returns as soon as the total exceeds `stopAbove`, so measuring an agent-sized value
 * costs at most O(stopAbove). Never throws.
 */
export function estimateBytes(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  let total = 0;
  const pending: unknown[] = [value];
  let classes: HiddenClasses | undefined;
  while (pending.length > 0) {
    const item = pending.pop();
    total += VALUE_BYTES;
    if (typeof item === 'string') {
      total += STRING_HEADER_BYTES + 2 * item.length;
    } else if (Array.isArray(item)) {
      total += ARRAY_BYTES + 8 * item.length;
      // Checked before the children are queued: one huge array reached many times costs one look.
      if (total > stopAbove) return total;
      for (const each of item) pending.push(each);
    } else if (item !== null && typeof item === 'object') {
      const keys = Object.keys(item);
      const indexKeys = indexKeyCount(keys);
      const named = keys.length - indexKeys;
      total += OBJECT_BYTES + PROPERTY_BYTES * keys.length;
      if (named >= DICTIONARY_KEYS) total += DICTIONARY_KEY_BYTES * named;
      if (total > stopAbove) return total;
      let keyChars = 0;
      for (const key of keys) {
        keyChars += key.length;
        pending.push((item as Record<string, unknown>)[key]);
      }
      total += 2 * keyChars + elementsBytes(keys, indexKeys);
      if (named > 0 && named < DICTIONARY_KEYS && total <= stopAbove) {
        classes ??= new HiddenClasses();
        total += classes.charge(keys, indexKeys, item);
      }
    }
    if (total > stopAbove) return total;
  }
  return total;
}

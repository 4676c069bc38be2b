import { randomBytes } from 'node:crypto';
import { KernelError } from '../core/errors.js';
import { jsonBytesUpTo } from '../core/payload-size.js';
import { EMPTY_LABEL, joinLabels, type Label } from './label.js';

/**
 * Values an agent asked to keep in the kernel (`sys.tool(..., { handle: true })`). The agent holds only an
 * opaque `{ "$handle": id }`; the value keeps its own label, which joins the context only on `sys.read` and
 * joins a call's label only when the handle is passed to that call. Ids are 128 random bits and belong to one
 * agent's table, so a guessed or another agent's handle is unknown here.
 */
export const HANDLE_KEY = '$handle';
export const MAX_HANDLES = 4096;

export interface HandleEntry {
  readonly value: unknown;
  readonly label: Label;
}

/** A place kept in a table for a value still to come (a tool's result): `create` with it always fits. */
export interface HandlePlace {
  /** Gives the place back unused; later calls, and calls after `create` took it, do nothing. */
  release(): void;
}

/** What the guest receives for a kept value. */
export interface HandleRef {
  readonly [HANDLE_KEY]: string;
}

export class HandleTable {
  readonly #entries = new Map<string, HandleEntry>();
  readonly #lengths = new WeakMap<HandleEntry, number>();
  readonly #hold: ((value: unknown, label: Label) => void) | undefined;
  #closed = false;
  // Places kept for values still to come: they count against MAX_HANDLES like entries.
  #reserved = 0;

  /**
   * `hold` charges a value the table is about to keep, with its label, to its owner's memory (the value lives in
   * the kernel's heap); it throws to refuse it.
   */
  constructor(hold?: (value: unknown, label: Label) => void) {
    this.#hold = hold;
  }

  /**
   * Keeps `value` with `label`, in `place` when given (which `create` then takes). Throws KernelError E_QUOTA past
   * MAX_HANDLES (never with a place), and whatever `hold` throws (E_QUOTA when the owner's memory or the kernel's is
   * full), keeping nothing.
   */
  create(value: unknown, label: Label, place?: HandlePlace): HandleRef {
    if (this.#closed) throw new KernelError('E_KILLED', 'the agent has ended');
    if (place === undefined) this.#requireRoom();
    this.#hold?.(value, label);
    place?.release();
    const id = `h_${randomBytes(16).toString('base64url')}`;
    this.#entries.set(id, { value, label });
    return { [HANDLE_KEY]: id };
  }

  /**
   * Keeps a place for a value still to come: a tool's result kept as a handle, refused before the tool runs rather
   * than after its effect (red-team pass 151; review 152: a check alone let concurrent calls past it). Throws
   * KernelError E_QUOTA when the table and its places hold MAX_HANDLES already.
   */
  reserve(): HandlePlace {
    if (this.#closed) throw new KernelError('E_KILLED', 'the agent has ended');
    this.#requireRoom();
    this.#reserved += 1;
    let kept = true;
    return {
      release: () => {
        if (!kept) return;
        kept = false;
        this.#reserved -= 1;
      },
    };
  }

  #requireRoom(): void {
    if (this.#entries.size + this.#reserved >= MAX_HANDLES) {
      throw new KernelError('E_QUOTA', `more than ${MAX_HANDLES} handles`);
    }
  }

  /**
   * Drops every value and refuses new ones (E_KILLED): the owner ended and what it held was given back. Something
   * may still refer to the owner after its end (a sandbox host keeps its ended agents to refuse their late calls),
   * and with the values in the table that was memory no quota counted (red-team pass 78: one process-tier run of
   * children keeping 1 MB handles grew the kernel's heap by 4 GB and crashed it).
   */
  close(): void {
    this.#closed = true;
    this.#entries.clear();
  }

  /** The entry a handle reference names. Throws KernelError E_BAD_ARG for anything else. */
  resolve(ref: unknown): HandleEntry {
    const id = handleId(ref);
    const entry = id === undefined ? undefined : this.#entries.get(id);
    if (entry === undefined) throw new KernelError('E_BAD_ARG', 'not a handle of this agent');
    return entry;
  }

  /**
   * Replaces every handle reference inside `args` by its value and returns the join of their labels. A
   * reference is an object whose only own key is `$handle`. Only the arrays and objects on the way to a
   * reference are copied (shallow copies of the same shape); everything else is shared with `args`, so the
   * result holds at most `args`' size again besides the handles' values. Throws KernelError E_BAD_ARG for an
   * unknown reference.
   */
  substitute(args: unknown): Substituted {
    if (this.#entries.size === 0 && !mentionsHandle(args)) return { value: args, label: EMPTY_LABEL, handles: [] };
    let label = EMPTY_LABEL;
    const named = new Set<HandleEntry>();
    const walk = (value: unknown): unknown => {
      if (value === null || typeof value !== 'object') return value;
      if (Array.isArray(value)) {
        let copy: unknown[] | undefined;
        for (let i = 0; i < value.length; i++) {
          const item = walk(value[i]);
          if (item === value[i]) continue;
          copy ??= value.slice();
          copy[i] = item;
        }
        return copy ?? value;
      }
      if (handleId(value) !== undefined) {
        const entry = this.resolve(value);
        label = joinLabels(label, entry.label);
        named.add(entry);
        return entry.value;
      }
      let copy: Record<string, unknown> | undefined;
      for (const [key, item] of Object.entries(value)) {
        const replaced = walk(item);
        if (replaced === item) continue;
        // A spread keeps the object's hidden class, and storing to a key it has does not change it: a copy built
        // key by key became a dictionary from about 40 keys, larger than what it copied (red-team pass 42).
        copy ??= { ...(value as Record<string, unknown>) };
        copy[key] = replaced;
      }
      return copy ?? value;
    };
    const value = walk(args);
    return { value, label, handles: [...named] };
  }

  /**
   * The UTF-8 length of the JSON text of `entry`'s value (see `jsonBytesUpTo`), at most MAX_HANDLE_LENGTH,
   * measured once per entry: what one mention of the handle may add to a call's arguments. Throws what a getter
   * of the value throws.
   */
  jsonLength(entry: HandleEntry): number {
    let length = this.#lengths.get(entry);
    if (length === undefined) {
      length = Math.min(jsonBytesUpTo(entry.value, MAX_HANDLE_LENGTH), MAX_HANDLE_LENGTH);
      this.#lengths.set(entry, length);
    }
    return length;
  }
}

/** What `substitute` returns: the value, the join of the handles' labels, and each handle named (once). */
export interface Substituted {
  readonly value: unknown;
  readonly label: Label;
  readonly handles: readonly HandleEntry[];
}

/** The most `jsonLength` measures (the largest payload cap a kernel takes). */
export const MAX_HANDLE_LENGTH = 256 * 1024 * 1024;

function handleId(ref: unknown): string | undefined {
  if (ref === null || typeof ref !== 'object' || Array.isArray(ref)) return undefined;
  const keys = Object.keys(ref);
  if (keys.length !== 1 || keys[0] !== HANDLE_KEY) return undefined;
  const id = (ref as Record<string, unknown>)[HANDLE_KEY];
  return typeof id === 'string' ? id : undefined;
}

// A cheap pre-check so calls without handles (the common case) skip the rebuild.
function mentionsHandle(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(mentionsHandle);
  if (Object.hasOwn(value, HANDLE_KEY)) return true;
  return Object.values(value).some(mentionsHandle);
}

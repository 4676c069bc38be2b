import { utf8Length } from '../runtime/core/payload-size.js';
import { parseSnapshotRegExp } from '../runtime/store/snapshot-regexp.js';

/**
 * The host's decoder for superjson's wire form (JSON plus type annotations), as `sys.snapshot` receives it.
 *
 * Why not superjson's own `deserialize`: the guest's copy of superjson runs among agent code and is
 * poisonable, so every byte of the wire is the agent's to choose. superjson trusts its annotations: one naming
 * a typed array of length n allocates n elements from a single number, and a referential-equality path into a
 * Set walks the Set once per path. This decoder builds the state itself, in work bounded by `maxSize`:
 *
 * 1. The JSON is copied into fresh plain objects and arrays, counting its size as a tree (strings by length,
 *    everything else 8): handles substituted into it, or shared subtrees, cannot stand for more than the cap.
 * 2. The value annotations are checked for shape (superjson 2's tree, format version 1) and each one applied,
 *    deepest first, to a value already in the copy: its path must walk plain objects and arrays that exist, and
 *    its JSON must have the exact form an honest guest produces (a typed array is an array of numbers, a bigint
 *    at most MAX_BIGINT_DIGITS digits, a map an array of pairs). Only the types an honest guest produces are
 *    built: undefined, bigint, Date, RegExp (as text: SnapshotRegExp), Set, Map, NaN / ±Infinity / -0, Error, URL,
 *    typed arrays.
 * 3. Referential equalities are checked, not applied: an honest guest writes a full copy of a shared value at
 *    every path it occurs, so each listed path must hold JSON equal to its representative's (compared within
 *    a budget of `maxSize`), and the state keeps the copies. A cycle (whose inner path holds `null`) is refused.
 *
 * Nothing here enumerates an object the agent sized: every loop runs over the copy or the annotations, both
 * within the budget. Never throws.
 */

export type WireDecoding = { ok: true; value: unknown } | { ok: false; message: string };

/** superjson's wire form after schema validation. */
export interface SuperjsonWire {
  readonly json: unknown;
  readonly meta?: { readonly values?: unknown; readonly referentialEqualities?: unknown; readonly v?: unknown };
}

/** Digits a bigint may have: parsing and printing it stay in the microseconds. */
export const MAX_BIGINT_DIGITS = 10_000;
/** Nesting of the state; deeper structures exist only to attack recursive code. */
export const MAX_STATE_DEPTH = 256;

const TYPED_ARRAYS: Readonly<Record<string, new (values: readonly number[]) => unknown>> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
};
const SPECIAL_NUMBERS: ReadonlySet<string> = new Set(['NaN', 'Infinity', '-Infinity', '-0']);
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const BIGINT = /^-?\d+$/;

class Refused extends Error {}

/** What is left of the size budget, and the deepest level the copied JSON reached (no path may go further). */
interface Budget {
  left: number;
  deepest: number;
}

const refuse = (message: string): never => {
  throw new Refused(message);
};

/** Decodes `wire` into the state it stands for, or says why not. See the module comment. */
export function decodeSnapshotWire(wire: SuperjsonWire, maxSize: number): WireDecoding {
  try {
    const budget: Budget = { left: maxSize, deepest: 0 };
    const root = { value: copy(wire.json, budget, 0) };
    const meta = wire.meta;
    if (meta !== undefined && (meta.values !== undefined || meta.referentialEqualities !== undefined)) {
      if (meta.v !== 1) refuse('unsupported superjson format version');
      // Equalities compare the JSON as sent, so they are checked before any annotation turns it into objects.
      if (meta.referentialEqualities !== undefined) {
        checkEqualities(root.value, meta.referentialEqualities, { left: maxSize, deepest: budget.deepest });
      }
      if (meta.values !== undefined) {
        const annotations: [readonly string[], unknown][] = [];
        collect(meta.values, [], annotations, { left: maxSize, deepest: budget.deepest }, 0);
        for (const [path, type] of annotations) apply(root, path, type);
      }
    }
    return { ok: true, value: root.value };
  } catch (error) {
    if (error instanceof Refused) return { ok: false, message: error.message };
    // A RangeError from a constructor given a value the checks allowed: still the agent's input.
    return { ok: false, message: 'the state is not a valid superjson encoding' };
  }
}

// ------------------------------------------------------------------------------------------------- copy

function spend(budget: Budget, amount: number): void {
  budget.left -= amount;
  if (budget.left < 0) refuse('the state exceeds the payload cap once expanded');
}

// A fresh tree of plain data: arrays and null-free own properties, sized as it is built (strings in UTF-8 bytes).
function copy(value: unknown, budget: Budget, depth: number): unknown {
  if (typeof value === 'string') {
    spend(budget, utf8Length(value) + 2);
    return value;
  }
  spend(budget, 8);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_STATE_DEPTH) refuse(`the state nests deeper than ${MAX_STATE_DEPTH}`);
  if (depth + 1 > budget.deepest) budget.deepest = depth + 1;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) out.push(copy(item, budget, depth + 1));
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    spend(budget, utf8Length(key) + 2);
    // Defined, not assigned: a `__proto__` key from a handle's value stays a plain key.
    Object.defineProperty(out, key, {
      value: copy((value as Record<string, unknown>)[key], budget, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ paths

// superjson's path syntax (format 1): segments joined by `.`, with `\.` and `\\` escaped. A path longer than
// the state is deep leads nowhere: refused before it is split (and before anything copies it).
function parsePath(text: unknown, prefix: number, budget: Budget): string[] {
  if (typeof text !== 'string') return refuse('an annotation path is not a string');
  const segments: string[] = [];
  let segment = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '\\') {
      const next = text[i + 1];
      if (next !== '\\' && next !== '.') refuse('an annotation path has a bad escape');
      segment += next;
      i++;
    } else if (char === '.') {
      segments.push(segment);
      segment = '';
      if (prefix + segments.length > budget.deepest) refuse('an annotation path leaves the state');
    } else {
      segment += char;
    }
  }
  segments.push(segment);
  if (prefix + segments.length > budget.deepest) refuse('an annotation path leaves the state');
  for (const each of segments) if (FORBIDDEN_SEGMENTS.has(each)) refuse('an annotation path names a prototype');
  return segments;
}

// The container holding `path`'s last segment, walking only plain objects and arrays that exist.
function parentOf(root: { value: unknown }, path: readonly string[]): { container: object; key: string } {
  let container: object = root;
  let key = 'value';
  for (const segment of path) {
    const next = (container as Record<string, unknown>)[key];
    if (next === null || typeof next !== 'object') return refuse('an annotation path leaves the state');
    if (Array.isArray(next)) {
      if (!/^(?:0|[1-9]\d*)$/.test(segment) || Number(segment) >= next.length) {
        refuse('an annotation path leaves the state');
      }
    } else if (Object.getPrototypeOf(next) !== Object.prototype || !Object.hasOwn(next, segment)) {
      // Not a plain object of the copy (an annotation already built a Map, a Date...), or no such key.
      refuse('an annotation path leaves the state');
    }
    container = next;
    key = segment;
  }
  return { container, key };
}

// ------------------------------------------------------------------------------------------ annotations

// superjson's annotation tree, flattened deepest first (the order superjson applies it in): a node is
// `[type]` or `[type, { path: node }]`; only the root may be a map `{ path: node }` (of nodes below an
// unannotated state). superjson flattens the paths through unannotated objects into the map's keys, and never
// writes a map below a map: a forged `{ K: { "0": [..], "1": [..] } }` spells N annotations under a key of L
// characters in L + 25N bytes, and superjson, run again over the decoded state to store it, wrote them as N paths
// of L characters each (red-team pass 92: 145 KB sent, a 60 MB snapshot, 10 s of the kernel's event loop, 514 s
// at 325 KB, quadratic in V8's hashing of long keys).
function collect(
  tree: unknown,
  origin: readonly string[],
  out: [readonly string[], unknown][],
  budget: Budget,
  depth: number,
): void {
  if (depth >= MAX_STATE_DEPTH) refuse('the annotations nest too deep');
  spend(budget, 8);
  if (Array.isArray(tree)) {
    if (tree.length < 1 || tree.length > 2) refuse('an annotation has the wrong shape');
    const [type, children] = tree;
    if (children !== undefined) collectChildren(children, origin, out, budget, depth);
    out.push([origin, type]);
    return;
  }
  collectChildren(tree, origin, out, budget, depth);
}

function collectChildren(
  children: unknown,
  origin: readonly string[],
  out: [readonly string[], unknown][],
  budget: Budget,
  depth: number,
): void {
  if (children === null || typeof children !== 'object' || Array.isArray(children)) {
    refuse('an annotation has the wrong shape');
  }
  for (const [key, subtree] of Object.entries(children as Record<string, unknown>)) {
    spend(budget, key.length);
    if (!Array.isArray(subtree)) refuse('an annotation has the wrong shape');
    collect(subtree, [...origin, ...parsePath(key, origin.length, budget)], out, budget, depth + 1);
  }
}

function apply(root: { value: unknown }, path: readonly string[], type: unknown): void {
  const { container, key } = parentOf(root, path);
  const record = container as Record<string, unknown>;
  Object.defineProperty(record, key, {
    value: untransform(record[key], type),
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

// One annotated value, from exactly the JSON form the guest's superjson gives it.
function untransform(json: unknown, type: unknown): unknown {
  if (Array.isArray(type)) {
    if (type.length !== 2 || type[0] !== 'typed-array' || typeof type[1] !== 'string') {
      return refuse('an annotation names a type the kernel does not build');
    }
    const Ctor = Object.hasOwn(TYPED_ARRAYS, type[1]) ? TYPED_ARRAYS[type[1]] : undefined;
    if (Ctor === undefined) return refuse('an annotation names an unknown typed array');
    // JSON has no NaN or Infinity: the guest's superjson writes them as null, which reads back as 0, as
    // superjson's own decoder has it.
    if (!Array.isArray(json) || !json.every((item) => typeof item === 'number' || item === null)) {
      return refuse('a typed array is not an array of numbers');
    }
    return new Ctor(json);
  }
  switch (type) {
    case 'undefined':
      if (json !== null) refuse('an undefined value is not null');
      return undefined;
    case 'bigint':
      if (
        typeof json !== 'string' ||
        json.length - (json.startsWith('-') ? 1 : 0) > MAX_BIGINT_DIGITS ||
        !BIGINT.test(json)
      ) {
        refuse(`a bigint is not an integer of at most ${MAX_BIGINT_DIGITS} digits`);
      }
      return BigInt(json as string);
    case 'number':
      if (typeof json !== 'string' || !SPECIAL_NUMBERS.has(json)) refuse('a special number is not one');
      return Number(json);
    case 'Date': {
      const date = typeof json === 'string' && json.length <= 64 ? new Date(json) : undefined;
      if (date === undefined || Number.isNaN(date.getTime())) refuse('a date is not a valid date string');
      return date;
    }
    case 'regexp':
      // Kept as text: the kernel never compiles an agent's pattern (snapshot-regexp.ts).
      return parseSnapshotRegExp(json) ?? refuse('a regular expression is not one');
    case 'set':
      if (!Array.isArray(json)) refuse('a set is not an array');
      return new Set(json as unknown[]);
    case 'map':
      if (!Array.isArray(json) || !json.every((entry) => Array.isArray(entry) && entry.length === 2)) {
        refuse('a map is not an array of pairs');
      }
      return new Map(json as [unknown, unknown][]);
    case 'Error':
      return errorFrom(json);
    case 'URL':
      if (typeof json !== 'string' || json.length > 8192 || !URL.canParse(json)) refuse('a URL is not one');
      return new URL(json as string);
    default:
      return refuse('an annotation names a type the kernel does not build');
  }
}

// An Error as superjson writes it ({ name, message, cause? }); it carries no stack of the host's.
function errorFrom(json: unknown): Error {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return refuse('an error is not an object');
  const { name, message } = json as { name?: unknown; message?: unknown };
  if (typeof name !== 'string' || typeof message !== 'string') return refuse('an error has no name and message');
  const error = Object.hasOwn(json, 'cause')
    ? new Error(message, { cause: (json as { cause: unknown }).cause })
    : new Error(message);
  error.name = name;
  Reflect.deleteProperty(error, 'stack');
  return error;
}

// ----------------------------------------------------------------------------------------- equalities

// `{ representative: [identical...] }`, or `[rootPaths, that map?]` for the root itself (a cycle).
function checkEqualities(json: unknown, equalities: unknown, budget: Budget): void {
  if (Array.isArray(equalities)) refuse('the state refers to itself (a cycle)');
  if (equalities === null || typeof equalities !== 'object') {
    refuse('referential equalities have the wrong shape');
    return;
  }
  for (const [representative, identical] of Object.entries(equalities as Record<string, unknown>)) {
    if (!Array.isArray(identical)) refuse('referential equalities have the wrong shape');
    const expected = valueAt(json, parsePath(representative, 0, budget));
    for (const path of identical as unknown[]) {
      spend(budget, 8);
      if (!sameJson(expected, valueAt(json, parsePath(path, 0, budget)), budget)) {
        refuse('a shared value differs between its copies (or is a cycle)');
      }
    }
  }
}

function valueAt(json: unknown, path: readonly string[]): unknown {
  const { container, key } = parentOf({ value: json }, path);
  return (container as Record<string, unknown>)[key];
}

// Deep equality of two JSON trees, each node visited charged to `budget`.
function sameJson(a: unknown, b: unknown, budget: Budget): boolean {
  spend(budget, 8);
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  for (const key of keysA) {
    if (!Object.hasOwn(b, key)) return false;
    if (!sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], budget)) return false;
  }
  return true;
}

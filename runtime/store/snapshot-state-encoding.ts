import type superjson from 'superjson';
import { SnapshotRegExp } from './snapshot-regexp.js';

/**
 * `serializeState(value)`: what `superjson.serialize(value)` returns (superjson 2, format 1: same `json`, same
 * `meta` with its annotation tree, key order and referential equalities) for every value the kernel's snapshot
 * decoder builds (syscalls/snapshot-wire.ts) or superjson rebuilds from a stored snapshot: plain objects, arrays,
 * strings, numbers, booleans, null, undefined, bigint, Date, RegExp, Set, Map, Error, URL and typed arrays.
 *
 * Why not superjson itself: its walker copies the path and the list of objects on it at every node, so a state
 * of n nodes nested d deep costs O(n × d): red-team pass 113 held the kernel's event loop 1.3–2.7 s per
 * `sys.snapshot` / `sys.restored()` with a 100k-node state under a 200-level spine. This walk keeps an explicit
 * stack (no recursion) and builds a path string only for an annotated node or an ancestor of one, so its work is
 * O(nodes + path text of the annotations).
 *
 * Like superjson, it refuses own keys named `__proto__`, `constructor` or `prototype`, and writes a value reached
 * twice (the decoder copies objects, so only bigints and NaNs) as a referential equality. It throws a TypeError for
 * what neither the decoder nor superjson's deserializer builds (a cycle, a symbol, a function, a class instance, a
 * sparse array), and a RangeError when the annotations' paths would exceed `maxPathChars`.
 */
export type SerializedState = ReturnType<typeof superjson.serialize>;

type AnnotationType = string | readonly [string, string];
type Tree = [AnnotationType] | [AnnotationType, Record<string, Tree>];

/**
 * Characters all annotation paths together may have by default (the snapshot size cap). Repeated bigints and NaNs
 * are listed as referential equalities by absolute path: one long key above many of them multiplies into gigabytes
 * of paths. The kernel passes its payload cap instead (review 116: a forged 1 MB wire of 120 repeated bigints in a
 * map under a 500,000-character key made a 61 MB snapshot, 1 s to save and 16 s of superjson to restore): an
 * honest guest's wire carries the same paths, so its state fits.
 */
export const MAX_PATH_CHARS = 64 * 1024 * 1024;

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const ARRAY_INDEX = /^(?:0|[1-9]\d*)$/;
const MAX_ARRAY_INDEX = 2 ** 32 - 2;

/** Annotations below a container, not yet given paths: see `flatten`. */
interface Contribution {
  /** The key in the parent (unescaped). */
  readonly segment: string;
  /** Annotated children with array-index keys: a JS object lists them first, as superjson's object does. */
  readonly indexed: [string, Tree][] | undefined;
  /** The other annotated children, and unannotated children with annotated descendants, in walk order. */
  readonly rest: ([string, Tree] | Contribution)[] | undefined;
}

/** Where a value was reached: what superjson's referential equalities list for a value reached twice. */
interface Site {
  readonly parent: Frame | undefined;
  readonly segment: string;
  readonly depth: number;
}

/** A value superjson writes whole (Date, RegExp, URL, typed array), as first reached. */
interface LeafSite extends Site {
  readonly json: unknown;
  readonly type: AnnotationType | undefined;
}

/** A container being walked: a plain object or array, or what a Map, Set or Error is written as. */
class Frame implements Contribution, Site {
  /** Absolute escaped path, built only when an equality needs it. */
  path: string | undefined = undefined;
  next = 0;
  indexed: [string, Tree][] | undefined = undefined;
  rest: ([string, Tree] | Contribution)[] | undefined = undefined;
  /** Set when the walk leaves it: its annotation, if it has a type. Reaching it before then is a cycle. */
  done = false;
  tree: Tree | undefined = undefined;

  constructor(
    readonly parent: Frame | undefined,
    readonly segment: string,
    readonly depth: number,
    readonly source: Readonly<Record<string, unknown>> | readonly unknown[],
    /** Own keys of `source`; undefined for an array (its indices). */
    readonly keys: readonly string[] | undefined,
    readonly out: Record<string, unknown> | unknown[],
    /** superjson's type of the node itself (map, set, Error): its descendants' annotations hang below it. */
    readonly type: AnnotationType | undefined,
  ) {}

  follow(item: [string, Tree] | Contribution): void {
    if (this.rest === undefined) this.rest = [item];
    else this.rest.push(item);
  }
}

// Thrown by the first walk when it reaches an object a second time.
class Shared extends Error {}

/** See the module comment. `maxPathChars`: what the annotations' paths may take together (MAX_PATH_CHARS). */
export function serializeState(value: unknown, maxPathChars: number = MAX_PATH_CHARS): SerializedState {
  try {
    return walk(value, new Set(), maxPathChars);
  } catch (error) {
    if (!(error instanceof Shared)) throw error;
  }
  // Only outside what the decoder builds: walked again keeping every object's site (and so every frame, which
  // costs the garbage collector more than the walk) to write the shared value as superjson does.
  return walk(value, undefined, maxPathChars);
}

// With `seen`, objects are only counted, and one reached twice throws Shared.
function walk(value: unknown, seen: Set<object> | undefined, maxPathChars: number): SerializedState {
  // The bigints and NaNs reached (and without `seen`, the objects), by SameValueZero as superjson's map has them,
  // with where (a list once reached twice). The decoder copies objects, so only bigints and NaNs repeat in what it
  // builds; a shared object is written as superjson writes it (the same JSON again, and an equality).
  const identities = new Map<unknown, Site | Site[]>();
  const budget = { left: maxPathChars };
  const stack: Frame[] = [];
  let rootJson: unknown;
  let rootTree: Tree | Record<string, Tree> | undefined;

  // The node `child` at `segment` of `parent` (undefined: the root): its JSON, and its annotation if it is a leaf.
  const visit = (child: unknown, parent: Frame | undefined, segment: string): void => {
    const depth = parent === undefined ? 0 : parent.depth + 1;
    let json: unknown = child;
    let type: AnnotationType | undefined;
    switch (typeof child) {
      case 'string':
      case 'boolean':
        break;
      case 'undefined':
        json = null;
        type = 'undefined';
        break;
      case 'number':
        if (Number.isNaN(child)) {
          reached(child, { parent, segment, depth });
          json = 'NaN';
          type = 'number';
        } else if (child === Number.POSITIVE_INFINITY || child === Number.NEGATIVE_INFINITY) {
          json = child > 0 ? 'Infinity' : '-Infinity';
          type = 'number';
        } else if (Object.is(child, -0)) {
          json = '-0';
          type = 'number';
        }
        break;
      case 'bigint':
        reached(child, { parent, segment, depth });
        json = child.toString();
        type = 'bigint';
        break;
      case 'object': {
        if (child === null) break;
        if (seen !== undefined) {
          if (seen.has(child)) throw new Shared();
          seen.add(child);
        }
        const before = seen === undefined ? identities.get(child) : undefined;
        if (before !== undefined) {
          const first = Array.isArray(before) ? (before[0] as Site) : before;
          reached(child, { parent, segment, depth });
          if (first instanceof Frame) {
            if (!first.done) throw new TypeError('serializeState: a cyclic value');
            json = first.out;
            if (parent !== undefined) {
              if (first.tree !== undefined) annotate(parent, segment, first.tree);
              else if (first.indexed !== undefined || first.rest !== undefined) {
                parent.follow({ segment, indexed: first.indexed, rest: first.rest });
              }
            }
          } else {
            ({ json, type } = first as LeafSite);
          }
          break;
        }
        const frame = containerFrame(child, parent, segment, depth);
        if (frame !== undefined) {
          if (seen === undefined) identities.set(child, frame);
          json = frame.out;
          stack.push(frame);
          break;
        }
        [json, type] = leafObject(child);
        if (seen === undefined) {
          const site: LeafSite = { parent, segment, depth, json, type };
          identities.set(child, site);
        }
        break;
      }
      default:
        throw new TypeError(`serializeState: cannot encode a ${typeof child}`);
    }
    if (parent === undefined) {
      rootJson = json;
      if (type !== undefined) rootTree = [type];
      return;
    }
    assign(parent, segment, json);
    if (type !== undefined) annotate(parent, segment, [type]);
  };

  const reached = (key: unknown, site: Site): void => {
    const sites = identities.get(key);
    if (sites === undefined) identities.set(key, site);
    else if (Array.isArray(sites)) sites.push(site);
    else identities.set(key, [sites, site]);
  };

  visit(value, undefined, '');
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as Frame;
    const { source, keys } = frame;
    const count = keys === undefined ? (source as readonly unknown[]).length : keys.length;
    if (frame.next < count) {
      const index = frame.next++;
      if (keys === undefined) {
        if (!Object.hasOwn(source, index)) throw new TypeError('serializeState: a sparse array');
        visit((source as readonly unknown[])[index], frame, String(index));
      } else {
        const key = keys[index] as string;
        if (FORBIDDEN_KEYS.has(key)) {
          // superjson's own refusal (a prototype pollution risk), kept: its deserializer reads these forms back.
          throw new TypeError(`serializeState: a property named ${key}`);
        }
        visit((source as Readonly<Record<string, unknown>>)[key], frame, key);
      }
      continue;
    }
    stack.pop();
    frame.done = true;
    const { parent } = frame;
    if (frame.type !== undefined) {
      const inner = flatten(frame, budget);
      frame.tree = inner === undefined ? [frame.type] : [frame.type, inner];
    }
    if (parent === undefined) {
      rootTree = frame.tree ?? flatten(frame, budget);
    } else if (frame.tree !== undefined) {
      annotate(parent, frame.segment, frame.tree);
    } else if (frame.indexed !== undefined || frame.rest !== undefined) {
      parent.follow(frame);
    }
  }

  const result: { json: unknown; meta?: Record<string, unknown> } = { json: rootJson };
  if (rootTree !== undefined) result.meta = { values: rootTree };
  const equalities = referentialEqualities(identities, budget);
  if (equalities !== undefined) result.meta = { ...result.meta, referentialEqualities: equalities };
  if (result.meta !== undefined) result.meta['v'] = 1;
  return result as SerializedState;
}

// A frame for a value superjson walks into, or undefined for one it writes whole.
function containerFrame(value: object, parent: Frame | undefined, segment: string, depth: number): Frame | undefined {
  if (Array.isArray(value)) return new Frame(parent, segment, depth, value, undefined, [], undefined);
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const keys = Object.keys(value);
    return new Frame(parent, segment, depth, value as Record<string, unknown>, keys, {}, undefined);
  }
  // A Map's entries are written as [key, value] arrays and walked as such (paths `i.0`, `i.1`).
  if (value instanceof Map) return new Frame(parent, segment, depth, [...value.entries()], undefined, [], 'map');
  if (value instanceof Set) return new Frame(parent, segment, depth, [...value.values()], undefined, [], 'set');
  if (value instanceof Error) {
    const error: Record<string, unknown> = { name: value.name, message: value.message };
    if ('cause' in value) error['cause'] = value.cause;
    return new Frame(parent, segment, depth, error, Object.keys(error), {}, 'Error');
  }
  return undefined;
}

// A value superjson writes whole: its JSON and its type (an invalid Date has none and stays as it is).
function leafObject(value: object): [unknown, AnnotationType | undefined] {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const typed = value as unknown as ArrayLike<number> & Iterable<number>;
    return [[...typed], ['typed-array', value.constructor.name]];
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? [value, undefined] : [value.toISOString(), 'Date'];
  if (value instanceof RegExp || value instanceof SnapshotRegExp) return [String(value), 'regexp'];
  if (value instanceof URL) return [value.toString(), 'URL'];
  throw new TypeError('serializeState: cannot encode an instance of a class');
}

function assign(frame: Frame, segment: string, json: unknown): void {
  if (frame.keys === undefined) (frame.out as unknown[]).push(json);
  else (frame.out as Record<string, unknown>)[segment] = json;
}

function annotate(frame: Frame, segment: string, tree: Tree): void {
  const key = escapeKey(segment);
  if (!isArrayIndex(key)) frame.follow([key, tree]);
  else if (frame.indexed === undefined) frame.indexed = [[key, tree]];
  else frame.indexed.push([key, tree]);
}

// The annotations below `anchor` as superjson flattens them: `a.b.c` for a node reached through unannotated
// containers a and b, each level listing its array-index keys first (a JS object's order, which superjson's
// intermediate objects impose). Undefined when there are none.
function flatten(anchor: Contribution, budget: { left: number }): Record<string, Tree> | undefined {
  if (anchor.indexed === undefined && anchor.rest === undefined) return undefined;
  const inner: Record<string, Tree> = {};
  const cursors: { items: ([string, Tree] | Contribution)[]; next: number; prefix: string }[] = [];
  const open = (contribution: Contribution, prefix: string): void => {
    cursors.push({ items: [...(contribution.indexed ?? []), ...(contribution.rest ?? [])], next: 0, prefix });
  };
  open(anchor, '');
  while (cursors.length > 0) {
    const cursor = cursors[cursors.length - 1] as (typeof cursors)[number];
    const item = cursor.items[cursor.next++];
    if (item === undefined) {
      cursors.pop();
      continue;
    }
    if (Array.isArray(item)) {
      const key = cursor.prefix + item[0];
      spend(budget, key.length);
      inner[key] = item[1];
    } else {
      open(item, `${cursor.prefix}${escapeKey(item.segment)}.`);
    }
  }
  return inner;
}

// superjson's `generateReferentialEqualityAnnotations`: for each value reached more than once, in the order
// first reached, the shortest path (fewest segments, first reached) represents the others. The root is never
// one of them (reaching it again is a cycle, refused).
function referentialEqualities(
  identities: Map<unknown, Site | Site[]>,
  budget: { left: number },
): Record<string, string[]> | undefined {
  let out: Record<string, string[]> | undefined;
  for (const sites of identities.values()) {
    if (!Array.isArray(sites)) continue;
    const paths = sites.sort((a, b) => a.depth - b.depth).map((site) => pathAt(site, budget));
    const [first, ...others] = paths as [string, ...string[]];
    out = out ?? {};
    out[first] = others;
  }
  return out;
}

// The absolute escaped path of a site, and of each frame above it, each built once (no recursion).
function pathAt(site: Site, budget: { left: number }): string {
  const { parent } = site;
  let path = '';
  if (parent !== undefined)
    path = parent.depth === 0 ? escapeKey(site.segment) : `${pathOf(parent)}.${escapeKey(site.segment)}`;
  spend(budget, path.length);
  return path;
}

function pathOf(frame: Frame): string {
  const pending: Frame[] = [];
  let at: Frame | undefined = frame;
  while (at !== undefined && at.path === undefined) {
    pending.push(at);
    at = at.parent;
  }
  for (let i = pending.length - 1; i >= 0; i--) {
    const each = pending[i] as Frame;
    const above = each.parent;
    each.path =
      above === undefined
        ? ''
        : above.depth === 0
          ? escapeKey(each.segment)
          : `${above.path}.${escapeKey(each.segment)}`;
  }
  return frame.path as string;
}

function escapeKey(key: string): string {
  return key.replace(/\\/g, '\\\\').replace(/\./g, '\\.');
}

// Keys a JS object lists first, in ascending order (array indices).
function isArrayIndex(key: string): boolean {
  return ARRAY_INDEX.test(key) && Number(key) <= MAX_ARRAY_INDEX;
}

function spend(budget: { left: number }, chars: number): void {
  budget.left -= chars;
  if (budget.left < 0) throw new RangeError('serializeState: the annotations are too long');
}

import { SuperJSON, type SuperJSONResult } from 'superjson';

/**
 * A regular expression in an agent's snapshot state, kept as its text. The kernel never hands V8 a pattern an agent
 * wrote: V8 parses a pattern with memory taken outside every heap limit and checks for termination nowhere on the way,
 * and its parse alone expands Unicode property escapes (a `\p{RGI_Emoji}` under the `v` flag, 14 characters, costs
 * about 1 MB and 1 ms). Built with `new RegExp` from the snapshot's wire, about 120 KB of them took the kernel's
 * process to 7.3 GB and held its event loop 24.5 s, in the process tier too (red-team pass 142; a 1 MiB wire would
 * need 65-70 GB). So the kernel stores, compares and restores the text: only the guest that restores the state
 * builds a RegExp from it, in its own isolate, where the prelude's caps apply. A pattern V8 would refuse is kept as
 * written too; its restore fails in the guest, the only place it is compiled.
 *
 * A host program that inspects a state (`kernel.inspectSnapshot`) gets these, not RegExps: build one with
 * `new RegExp(value.source, value.flags)` only if it trusts the agent that wrote it.
 */
export class SnapshotRegExp {
  readonly source: string;
  readonly flags: string;

  constructor(source: string, flags: string) {
    if (typeof source !== 'string') throw new TypeError('source must be a string');
    if (!validFlags(flags)) throw new TypeError('flags must be regular expression flags, each at most once');
    this.source = source;
    this.flags = flags;
    Object.freeze(this);
  }

  /** The form `String(regexp)` gives and superjson writes: `/source/flags`. */
  toString(): string {
    return `/${this.source}/${this.flags}`;
  }
}

const TEXT = /^\/([\s\S]*)\/([dgimsuvy]*)$/;

// Each flag V8 knows, at most once.
function validFlags(flags: unknown): flags is string {
  return typeof flags === 'string' && /^[dgimsuvy]{0,8}$/.test(flags) && new Set(flags).size === flags.length;
}

/** The regexp `/source/flags` as superjson writes it, or undefined when the text is not of that form. Never throws. */
export function parseSnapshotRegExp(text: unknown): SnapshotRegExp | undefined {
  const match = typeof text === 'string' ? TEXT.exec(text) : null;
  if (match === null) return undefined;
  const flags = match[2] ?? '';
  return validFlags(flags) ? new SnapshotRegExp(match[1] ?? '', flags) : undefined;
}

// superjson's own form for a RegExp is a `regexp` leaf, which it rebuilds with `new RegExp`; a custom type is how a
// SuperJSON instance reads and writes anything else. So the leaves are renamed between the two on the way through.
const TEXT_TYPE = 'isokernel.regexp';
const instance = new SuperJSON();
instance.registerCustom<SnapshotRegExp, string>(
  {
    isApplicable: (value): value is SnapshotRegExp => value instanceof SnapshotRegExp,
    serialize: String,
    deserialize: (text) => {
      const regexp = parseSnapshotRegExp(text);
      if (regexp === undefined) throw new TypeError('a stored regular expression is not one');
      return regexp;
    },
  },
  TEXT_TYPE,
);

/**
 * superjson that keeps regexps as text: `deserialize` reads each `regexp` as a SnapshotRegExp (the store's loader:
 * loading a snapshot compiles nothing), and `serialize` writes a SnapshotRegExp as superjson writes a RegExp (what a
 * guest restores, and what `isokernel snapshot show` prints). Both throw like superjson's own. `deserialize` renames
 * the leaves of the result it is given in place: give it one of its own (a fresh JSON.parse).
 */
export const regexpsAsText = {
  deserialize(result: SuperJSONResult): unknown {
    renameLeaves(result.meta?.values, 'regexp', ['custom', TEXT_TYPE]);
    return instance.deserialize(result);
  },
  serialize(value: unknown): SuperJSONResult {
    const result = instance.serialize(value);
    renameLeaves(result.meta?.values, ['custom', TEXT_TYPE], 'regexp');
    return result;
  },
};

type LeafType = string | readonly [string, string];
const sameType = (a: unknown, b: LeafType): boolean =>
  typeof b === 'string' ? a === b : Array.isArray(a) && a[0] === b[0] && a[1] === b[1];

// Renames each leaf of superjson's value tree of type `from` to `to`, in place. A node is a leaf `[type]`, a
// container `[type, children]` or plain children keyed by escaped paths.
function renameLeaves(values: unknown, from: LeafType, to: LeafType): void {
  const stack: unknown[] = [values];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      if (node.length === 1 && sameType(node[0], from)) node[0] = to;
      else if (node.length === 2) stack.push(node[1]);
    } else if (node !== null && typeof node === 'object') {
      for (const child of Object.values(node)) stack.push(child);
    }
  }
}

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

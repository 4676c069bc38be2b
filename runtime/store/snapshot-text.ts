/**
 * Splits a snapshot body's text (the canonical JSON `encodeSnapshot` writes) into its frame and its memory
 * entries, without parsing either, so a load can parse the entries one at a time. An agent shapes its memory: 4 MiB
 * of it as 1.4 million empty arrays, parsed in one `JSON.parse`, held the kernel's event loop 0.5–0.7 s and grew
 * its heap 200–250 MB per restore (red-team pass 68). Entry by entry, a restore holds one entry at a time, and no
 * parse is longer than the one of a single `sys.mem.put`'s value, which the agent paid for when it put it.
 *
 * The text was verified (content id and signature) before it gets here, so it is the kernel's own writing; the
 * scan only finds boundaries, and the parses after it check what they read.
 */

/** A body's text cut around its memory array. */
export interface SnapshotText {
  /** The body with an empty memory array (`"memory":[]`): everything but the entries. */
  readonly frame: string;
  /** Each memory entry's text (`["key",value,["tag"]]`), in order. */
  readonly entries: readonly string[];
}

// `encodeSnapshot`'s layout: canonical key order puts capabilities and label before memory.
const HEAD = '{"json":{"capabilities":';
const LABEL = ',"label":';
const MEMORY = ',"memory":[';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * The body's frame and entry texts, or undefined when the text does not have `encodeSnapshot`'s layout (a body
 * an older kernel wrote, which the caller parses whole).
 */
export function splitSnapshotText(text: string): SnapshotText | undefined {
  if (!text.startsWith(HEAD)) return undefined;
  let at = endOfValue(text, HEAD.length);
  if (at === -1 || !text.startsWith(LABEL, at)) return undefined;
  at = endOfValue(text, at + LABEL.length);
  if (at === -1 || !text.startsWith(MEMORY, at)) return undefined;
  const arrayStart = at + MEMORY.length;
  const entries: string[] = [];
  at = arrayStart;
  if (text.charCodeAt(at) !== CLOSE_ARRAY) {
    for (;;) {
      const end = endOfValue(text, at);
      if (end === -1) return undefined;
      entries.push(text.slice(at, end));
      const next = text.charCodeAt(end);
      at = end;
      if (next === CLOSE_ARRAY) break;
      if (next !== COMMA) return undefined;
      at += 1;
    }
  }
  return { frame: text.slice(0, arrayStart) + text.slice(at), entries };
}

/** The index just past the JSON value that starts at `start` (no whitespace, as canonical JSON has none), or -1. */
export function endOfValue(text: string, start: number): number {
  const length = text.length;
  const first = text.charCodeAt(start);
  if (first !== OPEN_ARRAY && first !== OPEN_OBJECT) {
    if (first === QUOTE) return endOfString(text, start);
    // A number or a literal runs to the next delimiter.
    let i = start;
    while (i < length) {
      const code = text.charCodeAt(i);
      if (code === COMMA || code === CLOSE_ARRAY || code === CLOSE_OBJECT) break;
      i += 1;
    }
    return i === start ? -1 : i;
  }
  let depth = 0;
  for (let i = start; i < length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      const end = endOfString(text, i);
      if (end === -1) return -1;
      i = end - 1;
    } else if (code === OPEN_ARRAY || code === OPEN_OBJECT) {
      depth += 1;
    } else if (code === CLOSE_ARRAY || code === CLOSE_OBJECT) {
      depth -= 1;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

// The index just past the string whose opening quote is at `start`, escapes included, or -1.
function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === BACKSLASH) i += 1;
    else if (code === QUOTE) return i + 1;
  }
  return -1;
}

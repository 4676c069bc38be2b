/**
 * The spellings a server may echo text in, undone: JSON and JavaScript backslash escapes (`\/` as PHP writes a
 * slash, `\u0026` as Go writes `&`, `\u00e9` for non-ASCII), HTML character references, and percent-encoding in
 * any case and with any choice of escaped characters (form-encoding's `+` for a space is a spelling of the needle
 * instead: `spacesAsPlus`). The vault searches these views for its secrets (red-team pass 105 read a secret a
 * server echoed as PHP's JSON, labelled only `web`).
 *
 * A view is the text with one or two of these steps undone, in any order (a JSON body that quotes a
 * percent-encoded URL, a double-encoded query). `locate` maps a match in a view back to the spans of the
 * original text that spell it, so a redaction replaces only those and leaves the rest of a JSON body parseable.
 */

/** Reports one escape: where it starts in the text, its length, and what it stands for. */
type Found = (at: number, length: number, decoded: string) => void;

/**
 * One escaping a server may apply. Each scans by hand: a regular expression with a replacer costs about ten
 * times as much per escape, and a hostile server (or agent) chooses a result made of nothing but escapes.
 */
export interface Step {
  /** Without this character in a text, the step has nothing to undo. */
  readonly trigger: string;
  /** Calls `found` for every escape in `text`, left to right, never overlapping. */
  readonly scan: (text: string, found: Found) => void;
  /** A decoded escape in pieces, each spanning part of it (one piece when nothing finer is known). */
  readonly pieces: (spelled: string, decoded: string) => readonly Piece[];
}

/** Decoded text and the range of the escape (relative to its start) it came from. */
type Piece = readonly [text: string, from: number, to: number];

const SINGLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

const NAMED_REFERENCES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
};

/** The value of a hex digit's character code, or -1. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** The value of `count` hex digits of `text` from `at`, or -1 when one is not a hex digit. */
function hexAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = hexDigit(text.charCodeAt(i));
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/** The whole escape as one piece. */
function whole(spelled: string, decoded: string): readonly Piece[] {
  return [[decoded, 0, spelled.length]];
}

/** JSON and JavaScript string escapes: `\uXXXX` (one UTF-16 unit), `\xHH`, and the one-character ones. */
const BACKSLASH: Step = {
  trigger: '\\',
  scan: (text, found) => {
    for (let at = text.indexOf('\\'); at !== -1; ) {
      const next = text[at + 1] ?? '';
      const unit = next === 'u' ? hexAt(text, at + 2, 4) : next === 'x' ? hexAt(text, at + 2, 2) : -1;
      const single = SINGLE_ESCAPES[next];
      let length = 1;
      if (unit >= 0) {
        length = next === 'u' ? 6 : 4;
        found(at, length, String.fromCharCode(unit));
      } else if (single !== undefined) {
        length = 2;
        found(at, length, single);
      }
      at = text.indexOf('\\', at + length);
    }
  },
  pieces: whole,
};

const NAMES = Object.keys(NAMED_REFERENCES);
const NAME_STARTS = new Set(NAMES.map((name) => name[0]));

/** The digits of `base` at `at` in `text`, at most `max` of them: their value and count. */
function digitsAt(text: string, at: number, base: 10 | 16, max: number): { value: number; count: number } {
  let value = 0;
  let count = 0;
  for (; count < max; count++) {
    const code = text.charCodeAt(at + count);
    const digit = base === 16 ? hexDigit(code) : code >= 0x30 && code <= 0x39 ? code - 0x30 : -1;
    if (digit < 0) break;
    value = value * base + digit;
  }
  return { value, count };
}

/** The reference at `at` (which holds `&`): its length and what it stands for, or undefined. */
function referenceAt(text: string, at: number): { length: number; decoded: string } | undefined {
  if (text[at + 1] === '#') {
    const hex = text[at + 2] === 'x' || text[at + 2] === 'X';
    const start = at + (hex ? 3 : 2);
    // Leading zeros are any in number (`&#00000047;`), as HTML parsers read them.
    let zeros = 0;
    while (text[start + zeros] === '0') zeros++;
    const { value, count } = digitsAt(text, start + zeros, hex ? 16 : 10, hex ? 6 : 7);
    const end = start + zeros + count;
    if (zeros + count === 0 || text[end] !== ';' || value > 0x10ffff) return undefined;
    return { length: end + 1 - at, decoded: String.fromCodePoint(value) };
  }
  // Most `&` in a text start no reference: one look at the next character settles those.
  if (!NAME_STARTS.has(text[at + 1] ?? '')) return undefined;
  for (const name of NAMES) {
    if (text.startsWith(name, at + 1) && text[at + 1 + name.length] === ';') {
      return { length: name.length + 2, decoded: NAMED_REFERENCES[name] ?? '' };
    }
  }
  return undefined;
}

/** HTML character references: decimal, hexadecimal, and the named ones an HTML escaper writes. */
const HTML: Step = {
  trigger: '&',
  scan: (text, found) => {
    for (let at = text.indexOf('&'); at !== -1; ) {
      const reference = referenceAt(text, at);
      if (reference !== undefined) found(at, reference.length, reference.decoded);
      at = text.indexOf('&', at + (reference?.length ?? 1));
    }
  },
  pieces: whole,
};

// A BOM is a character like any other here: a decoder that sniffed it would drop it from the view.
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The bytes a run of `%XX` escapes spells. */
function runBytes(run: string): Uint8Array {
  return Buffer.from(run.replaceAll('%', ''), 'hex');
}

/** A run of `%XX` escapes as UTF-8, each maximal invalid subpart as U+FFFD (WHATWG's decoder). */
function decodePercentRun(run: string): string {
  // A lone ASCII escape (`%2B` between literals) is the common case and the adversarial one.
  if (run.length === 3) {
    const byte = hexAt(run, 1, 2);
    if (byte < 0x80) return String.fromCharCode(byte);
  }
  return UTF8.decode(runBytes(run));
}

/** The end of the run of `%XX` escapes that starts at `at` (`at` itself when none does). */
function percentRunEnd(text: string, at: number): number {
  let end = at;
  while (
    text.charCodeAt(end) === 0x25 &&
    hexDigit(text.charCodeAt(end + 1)) >= 0 &&
    hexDigit(text.charCodeAt(end + 2)) >= 0
  ) {
    end += 3;
  }
  return end;
}

/**
 * Percent-encoding, in any case and with any choice of escaped characters. Form-encoding's `+` for a space is
 * not undone here: it is one character for one, so `spacesAsPlus` spells the needle that way instead.
 */
const PERCENT: Step = {
  trigger: '%',
  scan: (text, found) => {
    for (let at = text.indexOf('%'); at !== -1; ) {
      const end = percentRunEnd(text, at);
      if (end > at) found(at, end - at, decodePercentRun(text.slice(at, end)));
      at = text.indexOf('%', Math.max(end, at + 1));
    }
  },
  pieces: percentPieces,
};

/**
 * A decoded run in pieces, each spanning the escapes of the bytes it came from: a character, or the U+FFFD of an
 * invalid subpart. A streaming decoder is fed a byte at a time (its text is the one-shot decoding: WHATWG
 * Encoding), and what it gives for byte i says which bytes that was. Only a byte that cannot continue the
 * pending sequence shows it invalid; that byte is then an ASCII character, the start of the next sequence, or
 * invalid itself.
 */
function percentPieces(run: string): readonly Piece[] {
  const bytes = runBytes(run);
  const stream = new TextDecoder('utf-8', { ignoreBOM: true });
  const pieces: Piece[] = [];
  const piece = (text: string, from: number, to: number) => pieces.push([text, from * 3, to * 3]);
  // The first byte of the pending sequence, or the next byte when none is pending.
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const text = stream.decode(bytes.subarray(i, i + 1), { stream: true });
    if (text === '') continue;
    const pending = start < i;
    if ((bytes[i] ?? 0) < 0x80) {
      if (pending) piece('\ufffd', start, i);
      piece(text.slice(-1), i, i + 1);
      start = i + 1;
    } else if (!text.endsWith('\ufffd')) {
      // Byte i completed the pending character.
      piece(text, start, i + 1);
      start = i + 1;
    } else if (pending && text.length === 1) {
      // The pending bytes were invalid; byte i starts the next sequence.
      piece(text, start, i);
      start = i;
    } else {
      // Byte i is invalid itself, after the pending bytes' U+FFFD if there were any.
      if (pending) piece('\ufffd', start, i);
      piece('\ufffd', i, i + 1);
      start = i + 1;
    }
  }
  const rest = stream.decode();
  if (rest !== '') piece(rest, start, bytes.length);
  return pieces;
}

export const STEPS: readonly Step[] = [BACKSLASH, HTML, PERCENT];

/** The form-encoded spelling of a text's spaces, to search views for besides the text (undefined without one). */
export function spacesAsPlus(text: string): string | undefined {
  return text.includes(' ') ? text.replaceAll(' ', '+') : undefined;
}

/** Which steps, in order, made a view. */
export type Spelling = readonly Step[];

// Below this length a view is built by concatenation; above it, in a buffer of UTF-16 units.
const BUFFERED_UNDO = 256;

/** `text` with `step` undone; `text` itself when the step has nothing to undo there. */
export function undo(text: string, step: Step): string {
  if (!text.includes(step.trigger)) return text;
  if (text.length >= BUFFERED_UNDO) return undoBuffered(text, step);
  let out = '';
  let last = 0;
  step.scan(text, (at, length, decoded) => {
    out += text.slice(last, at) + decoded;
    last = at + length;
  });
  return last === 0 ? text : out + text.slice(last);
}

/**
 * `undo` for a long text. Concatenating a piece per escape made a rope of a million nodes for a megabyte of
 * escapes, and collecting it was about 40% of a scrub's time (red-team pass 109 held the event loop for half a
 * second with one such result). An escape never decodes to more units than it spells, so the view fits in
 * `text.length` units; `utf16le` keeps lone surrogates as they are.
 */
function undoBuffered(text: string, step: Step): string {
  const out = new Uint16Array(text.length);
  let units = 0;
  let last = 0;
  const copy = (from: string, start: number, end: number): void => {
    for (let i = start; i < end; i++) out[units++] = from.charCodeAt(i);
  };
  step.scan(text, (at, length, decoded) => {
    copy(text, last, at);
    copy(decoded, 0, decoded.length);
    last = at + length;
  });
  if (last === 0) return text;
  copy(text, last, text.length);
  return Buffer.from(out.buffer, 0, 2 * units).toString('utf16le');
}

/** A view of a text: the steps that made it, and the text after each of them (`chain[0]` is the text). */
export interface EchoView {
  readonly view: string;
  readonly spelling: Spelling;
  readonly chain: readonly string[];
}

/**
 * Every view of `text` with one or two steps undone that differs from `text`, each with the steps that made it.
 * Most texts have none of the triggers and cost three `includes`.
 */
export function echoViews(text: string): EchoView[] {
  if (!STEPS.some((step) => text.includes(step.trigger))) return [];
  const views: EchoView[] = [];
  // At most 13 texts: comparing them costs less than hashing each new one into a Set (most differ in length).
  const seen = [text];
  for (const first of STEPS) {
    const once = undo(text, first);
    if (once === text) continue;
    if (!seen.includes(once)) {
      seen.push(once);
      views.push({ view: once, spelling: [first], chain: [text, once] });
    }
    for (const second of STEPS) {
      const twice = undo(once, second);
      if (seen.includes(twice)) continue;
      seen.push(twice);
      views.push({ view: twice, spelling: [first, second], chain: [text, once, twice] });
    }
  }
  return views;
}

/**
 * For each unit of `source` with `step` undone that `units` names, the span of `source` it was decoded from: one
 * scan, like `undo`'s, that builds nothing for the text between the units asked about.
 */
export function unitSpans(source: string, step: Step, units: readonly number[]): Map<number, [number, number]> {
  const asked = [...new Set(units)].sort((a, b) => a - b);
  const spans = new Map<number, [number, number]>();
  let next = 0;
  // Decoded units so far, and where in `source` the text after the last escape starts.
  let decodedAt = 0;
  let last = 0;
  const literal = (end: number): void => {
    const stop = decodedAt + (end - last);
    for (; next < asked.length && (asked[next] ?? 0) < stop; next++) {
      const at = last + ((asked[next] ?? 0) - decodedAt);
      spans.set(asked[next] ?? 0, [at, at + 1]);
    }
    decodedAt = stop;
    last = end;
  };
  step.scan(source, (at, length, decoded) => {
    literal(at);
    const stop = decodedAt + decoded.length;
    if (next < asked.length && (asked[next] ?? 0) < stop) {
      let pieceAt = decodedAt;
      for (const [text, from, to] of step.pieces(source.slice(at, at + length), decoded)) {
        pieceAt += text.length;
        for (; next < asked.length && (asked[next] ?? 0) < pieceAt; next++) {
          spans.set(asked[next] ?? 0, [at + from, at + to]);
        }
      }
    }
    decodedAt = stop;
    last = at + length;
  });
  literal(source.length);
  return spans;
}

/** Where a view spells one of the needles: the span of the original text, and which needle. */
export interface Spelled {
  readonly start: number;
  readonly end: number;
  readonly needle: number;
}

/**
 * Every span of `text` that spells one of `needles` in the view `spelling` makes of it, in no particular order;
 * spans of different needles may overlap (`mergeSpans`).
 */
export function locate(
  text: string,
  spelling: Spelling,
  needles: readonly string[],
  known?: readonly string[],
): Spelled[] {
  // `known` is the view's chain when the caller has it (`EchoView.chain`): undoing the steps again cost a third
  // of a scrub that found the secret in every view of a megabyte.
  const chain = known === undefined ? [text] : [...known];
  if (known === undefined) for (const step of spelling) chain.push(undo(chain[chain.length - 1] ?? '', step));
  const view = chain[chain.length - 1] ?? '';
  const found: { first: number; last: number; needle: number }[] = [];
  needles.forEach((needle, index) => {
    if (needle === '') return;
    for (let at = view.indexOf(needle); at !== -1; at = view.indexOf(needle, at + needle.length)) {
      found.push({ first: at, last: at + needle.length - 1, needle: index });
    }
  });
  // From the view back to `text`, a step at a time: a match's first unit by where its span starts, its last
  // by where its span ends.
  let firsts = found.map(({ first }) => first);
  let lasts = found.map(({ last }) => last);
  for (let k = spelling.length - 1; k >= 0; k--) {
    const step = spelling[k];
    if (step === undefined) continue;
    const spans = unitSpans(chain[k] ?? '', step, [...firsts, ...lasts]);
    firsts = firsts.map((unit) => spans.get(unit)?.[0] ?? 0);
    lasts = lasts.map((unit) => (spans.get(unit)?.[1] ?? 1) - 1);
  }
  return found.map(({ needle }, i) => ({ start: firsts[i] ?? 0, end: (lasts[i] ?? 0) + 1, needle }));
}

/** `spans` in order, overlapping ones merged under the lowest `rank` of their needles (a caller ranks the longest secret first). */
export function mergeSpans(spans: readonly Spelled[], rank: (needle: number) => number): Spelled[] {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  const merged: Spelled[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    if (last === undefined || span.start >= last.end) merged.push(span);
    else {
      const keep = rank(span.needle) < rank(last.needle) ? span.needle : last.needle;
      merged[merged.length - 1] = { start: last.start, end: Math.max(last.end, span.end), needle: keep };
    }
  }
  return merged;
}

/** `text` with each span replaced by what `replacement` says for its needle. */
export function replaceSpans(text: string, spans: readonly Spelled[], replacement: (needle: number) => string): string {
  let out = '';
  let last = 0;
  for (const span of spans) {
    out += text.slice(last, span.start) + replacement(span.needle);
    last = span.end;
  }
  return out + text.slice(last);
}

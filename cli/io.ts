/** Where a CLI command writes; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

// Control characters (C0, DEL, C1), line and paragraph separators, and every format character (bidi controls and
// marks, zero-width characters, U+FEFF, soft hyphen, tag characters U+E0000-E007F, interlinear annotation: red-team
// pass 71), plus the invisible letters that are not format characters (combining grapheme joiner, Hangul fillers):
// anything that moves the cursor, reorders text, or makes two different strings print alike (pass 92: four distinct
// memory keys shown as one `notes/a` by `audit show`); a lone surrogate, which prints as a replacement character.
const UNSAFE_CHARS = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\u115f\u1160\u3164\uffa0]|\u034f/gu;

/** `text` with every terminal-unsafe character written as \u{hex}: agent-chosen text must not drive the terminal. */
export function sanitizeForTerminal(text: string): string {
  return text.replace(UNSAFE_CHARS, (char) => `\\u{${(char.codePointAt(0) ?? 0).toString(16)}}`);
}

/** A character as JSON escapes, one \uXXXX per UTF-16 unit (a tag character is a surrogate pair). */
function jsonEscape(char: string): string {
  let out = '';
  for (let i = 0; i < char.length; i++) out += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

// Indentation costs up to 2 characters per nesting level on every line: 500,000 zeros under 62 arrays, 1 MB of
// compact JSON, printed 64 MB (red-team pass 71). Values are indented only while the indented text stays under this.
const MAX_INDENTED_CHARS = 1 << 20;

/**
 * JSON (indented when that stays small, else one line; one line always with `pretty` false) with terminal-unsafe
 * characters as \uXXXX escapes: still valid JSON, with the same value.
 */
export function terminalSafeJson(value: unknown, pretty = true): string {
  const compact = JSON.stringify(value) ?? 'null';
  // Every indented line holds at least one character of the compact text, plus a line break, 2 spaces a level and
  // one after a key's colon: the indented text is at most (2 * depth + 3) times the compact one.
  const indent =
    pretty &&
    compact.length * 3 <= MAX_INDENTED_CHARS &&
    compact.length * (2 * nestingDepth(compact) + 3) <= MAX_INDENTED_CHARS;
  const text = indent ? (JSON.stringify(value, null, 2) ?? 'null') : compact;
  return text.replace(UNSAFE_CHARS, (char) => (char === '\n' && indent ? char : jsonEscape(char)));
}

/** The deepest nesting of arrays and objects in JSON text. */
function nestingDepth(json: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const char = json[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '[' || char === '{') deepest = Math.max(deepest, ++depth);
    else if (char === ']' || char === '}') depth--;
  }
  return deepest;
}

/** Exit codes of every isokernel command. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Where state that outlives a run lives unless --store says otherwise: under the current directory. */
export const DEFAULT_STORE = '.isokernel';

/** Where a CLI command writes; tests pass their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

// C0, DEL, C1, line/paragraph separators and bidi controls: anything that moves the cursor or reorders text.
// U+061C (ARABIC LETTER MARK) is a bidi mark like LRM/RLM; U+206A-U+206F (deprecated shaping and digit controls)
// and U+FFF9-U+FFFB (interlinear annotation) change how the text around them is shown (red-team pass 71).
const UNSAFE_CHARS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this regex's purpose.
  /[\u0000-\u001f\u007f-\u009f\u061c\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u206a-\u206f\ufff9-\ufffb]/g;

/** `text` with every terminal-unsafe character written as \u{hex}: agent-chosen text must not drive the terminal. */
export function sanitizeForTerminal(text: string): string {
  return text.replace(UNSAFE_CHARS, (char) => `\\u{${char.charCodeAt(0).toString(16)}}`);
}

/**
 * JSON (pretty, or one line with `pretty` false) with terminal-unsafe characters as \uXXXX escapes: still valid
 * JSON, with the same value.
 */
export function terminalSafeJson(value: unknown, pretty = true): string {
  const text = (pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value)) ?? 'null';
  return text.replace(UNSAFE_CHARS, (char) =>
    char === '\n' && pretty ? char : `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Exit codes of every isokernel command. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Where state that outlives a run lives unless --store says otherwise: under the current directory. */
export const DEFAULT_STORE = '.isokernel';

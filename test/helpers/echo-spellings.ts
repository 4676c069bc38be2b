// How real servers echo a string they were sent, written out independently of the kernel's decoder: each is
// what the named library documents it writes (PHP json_encode, Go encoding/json, Python json.dumps and
// html.escape; the Python ones are compared with python3 in vault.test.ts when it is installed). Red-team pass
// 105 read a vault secret echoed in PHP's spelling.

/** `\\uXXXX` for one UTF-16 unit. */
function unicodeEscape(unit: string): string {
  return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** A JSON string's body (no quotes) with every non-ASCII unit escaped, surrogate halves one by one. */
function jsonAscii(text: string): string {
  return JSON.stringify(text)
    .slice(1, -1)
    .replace(/[\u0080-\uffff]/g, unicodeEscape);
}

/** Each spelling; the last two take two of the kernel's decoding steps to undo, the others one. */
export const ECHO_SPELLINGS: Readonly<Record<string, (text: string) => string>> = {
  /** PHP json_encode: `\/` for a slash, `\u00e9` for non-ASCII. */
  php: (text) => jsonAscii(text).replaceAll('/', '\\/'),
  /** Go encoding/json: `\u0026`, `\u003c`, `\u003e` for HTML-significant characters. */
  go: (text) =>
    JSON.stringify(text)
      .slice(1, -1)
      .replace(/[&<>]/g, (char) => unicodeEscape(char)),
  /** Python json.dumps (ensure_ascii). */
  python: (text) => jsonAscii(text),
  /** Python html.escape. */
  html: (text) =>
    text.replace(
      /[&<>"']/g,
      (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;' })[char] ?? char,
    ),
  /** Every character as a decimal HTML reference. */
  htmlDecimal: (text) => [...text].map((char) => `&#${char.codePointAt(0)};`).join(''),
  /** encodeURIComponent with lower-case hex. */
  percentLower: (text) => encodeURIComponent(text).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
  /** Every byte percent-encoded. */
  percentAll: (text) =>
    [...Buffer.from(text)].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join(''),
  /** Percent-encoded twice (a query that quotes an encoded URL). */
  percentTwice: (text) => encodeURIComponent(encodeURIComponent(text)),
  /** A JSON body quoting a form-encoded value with Go's escapes. */
  goForm: (text) =>
    JSON.stringify(new URLSearchParams({ v: text }).toString().slice(2))
      .slice(1, -1)
      .replace(/[&<>]/g, (char) => unicodeEscape(char)),
};

/** The spellings one decoding step undoes. */
export const ONE_STEP_SPELLINGS = Object.entries(ECHO_SPELLINGS)
  .filter(([name]) => name !== 'percentTwice' && name !== 'goForm')
  .map(([, spell]) => spell);

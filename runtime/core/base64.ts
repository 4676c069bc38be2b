/**
 * Strict base64 (RFC 4648): the one decoder for both alphabets. Capability tokens and keys are compared as
 * strings, and tools turn agent-supplied base64 into bytes, so every byte string must have exactly one
 * text form: the decoder refuses foreign characters, misplaced or missing padding and non-zero trailing
 * bits instead of ignoring them (Node's Buffer decoder skips invalid characters and stops at `=`).
 *
 * - base64url (§5) without padding: capability tokens, keys, signatures.
 * - base64 (§4) with padding: binary content agents hand the fs and http tools.
 *
 * Pure and dependency-free: the standalone token verifier (`isokernel/token`) uses it too.
 */

const URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const STANDARD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function decodeTable(alphabet: string): Int8Array {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
}

const URL_TABLE = decodeTable(URL_ALPHABET);
const STANDARD_TABLE = decodeTable(STANDARD_ALPHABET);

/** Encodes bytes as unpadded base64url. Never throws for a Uint8Array; throws TypeError otherwise. */
export function encodeBase64Url(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  // The characters go into a byte array decoded once, not onto a string with `+=`: that builds a rope of one
  // node per few characters, which V8 keeps as it is. A capability token kept that way took about 14 times its
  // length in heap (an 8 KB token about 100 KB, red-team pass 63), and the kernel keeps every delegated token.
  const codes = URL_CODES;
  const out = new Uint8Array(Math.ceil((bytes.length * 4) / 3));
  let i = 0;
  let at = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[at++] = codes[n >>> 18]!;
    out[at++] = codes[(n >>> 12) & 63]!;
    out[at++] = codes[(n >>> 6) & 63]!;
    out[at++] = codes[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out[at++] = codes[n >>> 18]!;
    out[at++] = codes[(n >>> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out[at++] = codes[n >>> 18]!;
    out[at++] = codes[(n >>> 12) & 63]!;
    out[at++] = codes[(n >>> 6) & 63]!;
  }
  return asciiDecoder.decode(out);
}

const URL_CODES = Uint8Array.from(URL_ALPHABET, (char) => char.charCodeAt(0));
// ASCII bytes decode to the same characters in UTF-8, and the decoder returns one flat string.
const asciiDecoder = new TextDecoder();

/**
 * Decodes canonical unpadded base64url. Returns undefined (never throws) for anything that is not the exact
 * output of `encodeBase64Url` for some byte string: non-strings, padding, characters outside the alphabet,
 * an impossible length, or non-zero unused bits in the last character.
 */
export function decodeBase64Url(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined;
  return decodeUnpadded(text, URL_TABLE, text.length);
}

/**
 * Decodes canonical padded base64 (the standard alphabet, `+` and `/`, `=` padding to a multiple of 4), as
 * `Buffer.prototype.toString('base64')` writes it. Returns undefined (never throws) for anything else:
 * non-strings, a length that is not a multiple of 4, missing, extra or inner `=`, characters outside the
 * alphabet (whitespace included), or non-zero unused bits before the padding.
 */
export function decodeBase64(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length % 4 !== 0) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return decodeUnpadded(text, STANDARD_TABLE, text.length - padding);
}

/** The number of bytes `decodeBase64` yields for a text of this length and padding (for caps before decoding). */
export function base64DecodedLength(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.floor(((text.length - padding) * 3) / 4);
}

// Decodes text[0, length) with `table`. A tail of 1 character is impossible; the unused low bits of a
// 2- or 3-character tail must be zero, so each byte string has one spelling.
function decodeUnpadded(text: string, table: Int8Array, length: number): Uint8Array | undefined {
  const tail = length % 4;
  if (tail === 1) return undefined;
  const out = new Uint8Array(Math.floor(length / 4) * 3 + (tail === 0 ? 0 : tail - 1));
  let o = 0;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    const a = sextet(text, table, i);
    const b = sextet(text, table, i + 1);
    const c = sextet(text, table, i + 2);
    const d = sextet(text, table, i + 3);
    if ((a | b | c | d) < 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >>> 16;
    out[o++] = (n >>> 8) & 255;
    out[o++] = n & 255;
  }
  if (tail === 2) {
    const a = sextet(text, table, i);
    const b = sextet(text, table, i + 1);
    if ((a | b) < 0 || (b & 15) !== 0) return undefined;
    out[o] = (a << 2) | (b >>> 4);
  } else if (tail === 3) {
    const a = sextet(text, table, i);
    const b = sextet(text, table, i + 1);
    const c = sextet(text, table, i + 2);
    if ((a | b | c) < 0 || (c & 3) !== 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o++] = n >>> 16;
    out[o] = (n >>> 8) & 255;
  }
  return out;
}

function sextet(text: string, table: Int8Array, index: number): number {
  const code = text.charCodeAt(index);
  return code < 128 ? table[code]! : -1;
}

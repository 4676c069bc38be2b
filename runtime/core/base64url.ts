/**
 * Strict base64url (RFC 4648 §5, no padding). Capability tokens and keys are compared as strings, so every
 * byte string must have exactly one text form: the decoder refuses padding, foreign characters and
 * non-zero trailing bits instead of ignoring them (Node's Buffer decoder skips invalid characters).
 *
 * Pure and dependency-free: the standalone token verifier (`isokernel/token`) uses it too.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

const DECODE_TABLE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();

/** Encodes bytes as unpadded base64url. Never throws for a Uint8Array; throws TypeError otherwise. */
export function encodeBase64Url(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]!;
  }
  return out;
}

/**
 * Decodes canonical unpadded base64url. Returns undefined (never throws) for anything that is not the exact
 * output of `encodeBase64Url` for some byte string: non-strings, padding, characters outside the alphabet,
 * an impossible length, or non-zero unused bits in the last character.
 */
export function decodeBase64Url(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined;
  const tail = text.length % 4;
  if (tail === 1) return undefined;
  const out = new Uint8Array(Math.floor(text.length / 4) * 3 + (tail === 0 ? 0 : tail - 1));
  let o = 0;
  let i = 0;
  for (; i + 3 < text.length; i += 4) {
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    const c = sextet(text, i + 2);
    const d = sextet(text, i + 3);
    if ((a | b | c | d) < 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >>> 16;
    out[o++] = (n >>> 8) & 255;
    out[o++] = n & 255;
  }
  if (tail === 2) {
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    if ((a | b) < 0 || (b & 15) !== 0) return undefined;
    out[o] = (a << 2) | (b >>> 4);
  } else if (tail === 3) {
    const a = sextet(text, i);
    const b = sextet(text, i + 1);
    const c = sextet(text, i + 2);
    if ((a | b | c) < 0 || (c & 3) !== 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o++] = n >>> 16;
    out[o] = (n >>> 8) & 255;
  }
  return out;
}

function sextet(text: string, index: number): number {
  const code = text.charCodeAt(index);
  return code < 128 ? DECODE_TABLE[code]! : -1;
}

/**
 * Ed25519 public keys as they appear in capability tokens: unpadded base64url of the raw 32-byte key.
 *
 * Both signature verifiers (node:crypto in the kernel, @noble/ed25519 in `isokernel/token`) reject the same
 * degenerate keys up front, because they disagree about them otherwise: OpenSSL accepts small-order and
 * non-canonical keys, noble's strict mode refuses them. A small-order key is also dangerous in itself: a
 * signature "by" it can be produced without any private key, so delegating to one would hand the
 * capability to everyone.
 *
 * Pure and dependency-free (no node:crypto): shared by both verifiers.
 */
import { decodeBase64Url, encodeBase64Url } from './base64.js';

export const PUBLIC_KEY_LENGTH = 32;

/** Length of the base64url text form of a 32-byte key. */
export const PUBLIC_KEY_TEXT_LENGTH = 43;

// The y coordinates (little-endian, sign bit cleared) of the eight points of order 1, 2, 4 and 8: 1, p-1, 0
// and the two order-8 values. Either sign bit gives a small-order point (or a non-canonical x = 0 encoding).
const SMALL_ORDER_Y: readonly string[] = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
];

const SMALL_ORDER_BYTES: readonly Uint8Array[] = SMALL_ORDER_Y.map((hex) => {
  const bytes = new Uint8Array(PUBLIC_KEY_LENGTH);
  for (let i = 0; i < PUBLIC_KEY_LENGTH; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
});

/**
 * True when `key` is 32 bytes, encodes its y coordinate canonically (y < 2^255 - 19) and is not one of the
 * small-order points. Does not check that the point is on the curve: a key that is not cannot verify any
 * signature, in either verifier. Never throws.
 */
export function isSafePublicKey(key: Uint8Array): boolean {
  if (!(key instanceof Uint8Array) || key.length !== PUBLIC_KEY_LENGTH) return false;
  if (!isCanonicalY(key)) return false;
  for (const small of SMALL_ORDER_BYTES) {
    if (sameY(key, small)) return false;
  }
  return true;
}

function isCanonicalY(key: Uint8Array): boolean {
  // y >= p exactly when the top 255 bits are all ones except that the low byte is >= 0xed.
  if ((key[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (key[i] !== 0xff) return true;
  return key[0]! < 0xed;
}

function sameY(key: Uint8Array, y: Uint8Array): boolean {
  for (let i = 0; i < 31; i++) if (key[i] !== y[i]) return false;
  return (key[31]! & 0x7f) === y[31];
}

/** Encodes a raw key. Throws TypeError if `key` is not a Uint8Array, RangeError if it is not a safe key. */
export function encodePublicKey(key: Uint8Array): string {
  if (!(key instanceof Uint8Array)) throw new TypeError('publicKey must be a Uint8Array');
  if (!isSafePublicKey(key))
    throw new RangeError('publicKey must be a 32-byte, canonical, non-small-order Ed25519 key');
  return encodeBase64Url(key);
}

/**
 * Decodes the text form of a key. Returns undefined (never throws) unless `text` is the canonical base64url
 * of a safe 32-byte key, so two different strings never name the same key.
 */
export function decodePublicKey(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length !== PUBLIC_KEY_TEXT_LENGTH) return undefined;
  const key = decodeBase64Url(text);
  return key !== undefined && isSafePublicKey(key) ? key : undefined;
}

/**
 * Normalizes a host-supplied key (raw bytes or text form) to its text form. Throws TypeError naming
 * `argument` for anything else; this is for host input, where a bad key is a programming error.
 */
export function publicKeyText(input: Uint8Array | string, argument: string): string {
  if (typeof input === 'string') {
    if (decodePublicKey(input) === undefined) {
      throw new TypeError(`${argument} must be a base64url Ed25519 public key`);
    }
    return input;
  }
  if (!(input instanceof Uint8Array) || !isSafePublicKey(input)) {
    throw new TypeError(`${argument} must be a 32-byte Ed25519 public key`);
  }
  return encodeBase64Url(input);
}

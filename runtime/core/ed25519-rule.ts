/**
 * The one Ed25519 verification rule both verifiers apply (the kernel's node:crypto path in
 * runtime/capability/node-verifier.ts and `isokernel/token`'s @noble/ed25519 path), so that they accept exactly
 * the same signatures, edge cases included.
 *
 * RFC 8032 lets verifiers differ on points with a small-order component: OpenSSL checks the cofactorless
 * equation [S]B = R + [k]A, noble the cofactored [8][S]B = [8]R + [8][k]A, and the published edge-case vectors
 * (ed25519-speccheck, C2SP CCTV) split them on 128 signatures. The rule here removes the split by refusing
 * what causes it. A signature (R, S) by key A on a message verifies exactly when:
 *
 * 1. S < L (canonical scalar; no malleability);
 * 2. A is the canonical encoding of a point of prime order L (not the identity, no small-order component);
 * 3. R is the canonical encoding of a point of prime order L (likewise);
 * 4. [S]B = R + [k]A with k = SHA-512(R ‖ A ‖ M) mod L, over the bytes as given.
 *
 * With 2 and 3 the two equations coincide (the difference of their sides lies in the prime-order subgroup,
 * where multiplying by 8 loses nothing), so any correct RFC 8032 verifier, cofactored or not, gives the same
 * answer after these checks. Honest signatures always satisfy them: a key is [a]B and R is [r]B.
 *
 * Cost. The prime-order test of a point is one scalar multiplication (about 0.8 ms in pure JavaScript). Keys
 * are few and their answers are cached; keys the host derived itself are recorded as safe when made
 * (`notePrimeOrderKey`). The node:crypto path never tests R: OpenSSL accepts only when the encoding of
 * [S]B - [k]A equals R's bytes, and with A of prime order that point is in the prime-order subgroup, so R
 * passes 3 whenever OpenSSL accepts, except for the identity, which is refused by its bytes. The noble path
 * tests R (its cofactored equation alone would let a small-order component of R through).
 *
 * Pure (no node:crypto): shared with the standalone token verifier.
 */
import { Point } from '@noble/ed25519';
import { isSafePublicKey } from './public-key.js';

/** The order L of the Ed25519 base point. */
export const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

const KEY_CACHE_LIMIT = 4096;
const primeOrderKeys = new Map<string, boolean>();

// The canonical encoding of the identity (x = 0, y = 1); its other encodings are not canonical.
const IDENTITY = new Uint8Array(32);
IDENTITY[0] = 1;

// join makes one flat string; appending piece by piece kept a rope of ~32 pieces as the cache's key, about 2.3 KB
// an entry instead of ~100 bytes (red-team pass 78).
function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * True when `bytes` is the canonical 32-byte encoding of a point of prime order L: on the curve, y < p, no
 * negative zero, not the identity, and no small-order component ([L]P is the identity). One scalar
 * multiplication; not cached. Never throws.
 */
export function isPrimeOrderPoint(bytes: Uint8Array): boolean {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) return false;
  let point: Point;
  try {
    point = Point.fromBytes(bytes, false);
  } catch {
    return false;
  }
  if (!sameBytes(point.toBytes(), bytes)) return false;
  return !point.is0() && point.isTorsionFree();
}

/**
 * `isPrimeOrderPoint` for public keys, with a bounded cache (keys repeat; R values do not). A key that fails
 * the cheap blocklist of small-order and non-canonical encodings (`isSafePublicKey`) is refused without
 * any curve arithmetic. Never throws.
 */
export function isPrimeOrderKey(key: Uint8Array): boolean {
  if (!isSafePublicKey(key)) return false;
  const id = hex(key);
  const known = primeOrderKeys.get(id);
  if (known !== undefined) return known;
  const answer = isPrimeOrderPoint(key);
  if (primeOrderKeys.size >= KEY_CACHE_LIMIT) primeOrderKeys.clear();
  primeOrderKeys.set(id, answer);
  return answer;
}

/**
 * Records a public key the host derived from a private key ([a]B is always of prime order), so that verifying
 * its signatures costs no curve arithmetic. Only for keys made from a secret in this process; never for keys
 * that arrived from outside. Throws TypeError when `key` is not 32 bytes.
 */
export function notePrimeOrderKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError('key must be 32 bytes');
  if (primeOrderKeys.size >= KEY_CACHE_LIMIT) primeOrderKeys.clear();
  primeOrderKeys.set(hex(key), true);
}

/** True when the 32 little-endian bytes encode an integer below L (rule 1). Never throws. */
export function isCanonicalScalar(bytes: Uint8Array): boolean {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) return false;
  let value = 0n;
  for (let i = 31; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  return value < ED25519_ORDER;
}

/**
 * Rules 1 and 2, and the part of rule 3 a verifier that checks the cofactorless equation needs (R is not the
 * identity): what the node:crypto path checks before OpenSSL. Never throws.
 */
export function passesKeyAndScalarRule(publicKey: Uint8Array, signature: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  if (!isCanonicalScalar(signature.subarray(32))) return false;
  if (sameBytes(signature.subarray(0, 32), IDENTITY)) return false;
  return isPrimeOrderKey(publicKey);
}

/**
 * Rules 1 to 3 in full: what a verifier that checks the cofactored equation (noble) needs before it. Never
 * throws.
 */
export function passesPointRule(publicKey: Uint8Array, signature: Uint8Array): boolean {
  return passesKeyAndScalarRule(publicKey, signature) && isPrimeOrderPoint(signature.subarray(0, 32));
}

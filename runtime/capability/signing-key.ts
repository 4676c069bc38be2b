import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { notePrimeOrderKey } from '../core/ed25519-rule.js';

/** Raw Ed25519 public keys are 32 bytes; signatures are 64 bytes. */
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

// DER prefixes of SPKI / PKCS#8 for Ed25519 (RFC 8410): the raw key follows the prefix.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * An Ed25519 signing identity held by the host. The private key never leaves this object except through
 * `exportSeed` (used to persist the kernel root key with 0600 permissions); it is never given to an isolate.
 */
export class SigningKey {
  readonly publicKey: Uint8Array;
  readonly #private: KeyObject;

  // `x`: the public key's JWK `x` (RFC 8037: its 32 bytes, base64url), not its DER form cut after the SPKI prefix:
  // OpenSSL's DER encoder costs ~80 µs a key, on the path of every spawn.
  private constructor(privateKey: KeyObject, x: string) {
    this.#private = privateKey;
    const raw = Buffer.from(x, 'base64url');
    if (raw.length !== PUBLIC_KEY_BYTES) throw new Error('unexpected Ed25519 public key');
    this.publicKey = new Uint8Array(raw);
    // Derived from a secret scalar, so of prime order: verifying this key's signatures needs no curve arithmetic.
    notePrimeOrderKey(this.publicKey);
  }

  /** A fresh random identity. */
  static generate(): SigningKey {
    // The public key comes encoded from the key generation itself. Exporting it afterwards deadlocked a kernel
    // (a CI run hung for 16 minutes): Node 20's JWK export holds the key's mutex while it allocates, a collection
    // then finalized the finished key-generation job, whose destructor takes the same mutex. Nothing is
    // exported from a generated key now.
    // @types/node types no JWK `publicKeyEncoding`, which Node has taken since 15.9: the shape is spelled here.
    const generate = generateKeyPairSync as (
      type: 'ed25519',
      options: { publicKeyEncoding: { format: 'jwk' } },
    ) => { privateKey: KeyObject; publicKey: { x?: string } };
    const { privateKey, publicKey } = generate('ed25519', { publicKeyEncoding: { format: 'jwk' } });
    return new SigningKey(privateKey, publicKey.x ?? '');
  }

  /** Rebuilds an identity from its 32-byte seed. Throws TypeError/RangeError on a malformed seed. */
  static fromSeed(seed: Uint8Array): SigningKey {
    if (!(seed instanceof Uint8Array)) throw new TypeError('seed must be a Uint8Array');
    if (seed.length !== 32) throw new RangeError('seed must be 32 bytes');
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    return new SigningKey(key, createPublicKey(key).export({ format: 'jwk' }).x ?? '');
  }

  /**
   * The 32-byte seed, for persisting the identity. Handle as a secret. (The kernel persists a seed it drew itself,
   * never one exported from a generated key: see `generate`.)
   */
  exportSeed(): Uint8Array {
    const der = this.#private.export({ format: 'der', type: 'pkcs8' });
    return new Uint8Array(der.subarray(PKCS8_PREFIX.length));
  }

  /** Signs `message`; returns a 64-byte signature. */
  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.#private));
  }
}

const publicKeyCache = new Map<string, KeyObject>();

function publicKeyObject(raw: Uint8Array): KeyObject | undefined {
  if (raw.length !== PUBLIC_KEY_BYTES) return undefined;
  const cacheKey = Buffer.from(raw).toString('hex');
  let key = publicKeyCache.get(cacheKey);
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    } catch {
      return undefined;
    }
    if (publicKeyCache.size > 4096) publicKeyCache.clear();
    publicKeyCache.set(cacheKey, key);
  }
  return key;
}

/**
 * Verifies an Ed25519 signature with node:crypto alone (OpenSSL's cofactorless check, which accepts small-order
 * keys). For signatures from outside use `nodeSignatureVerifier` (node-verifier.ts), which applies the kernel's
 * Ed25519 rule first. Never throws: malformed keys or signatures are `false`.
 */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const key = publicKeyObject(publicKey);
  if (key === undefined) return false;
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

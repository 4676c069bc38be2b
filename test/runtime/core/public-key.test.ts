import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SigningKey } from '../../../runtime/capability/signing-key.js';
import { encodeBase64Url } from '../../../runtime/core/base64.js';
import { decodePublicKey, encodePublicKey, isSafePublicKey, publicKeyText } from '../../../runtime/core/public-key.js';

ed.hashes.sha512 = sha512;

function noblePoint(bytes: Uint8Array): ed.Point | undefined {
  try {
    return ed.Point.fromBytes(bytes, false);
  } catch {
    return undefined;
  }
}

/** The canonical encodings of the eight small-order points: the multiples of one point of order 8. */
function smallOrderEncodings(): Uint8Array[] {
  const order8 = ed.Point.fromBytes(
    Uint8Array.from(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex')),
    false,
  );
  return [0, 1, 2, 3, 4, 5, 6, 7].map((k) => (k === 0 ? ed.Point.ZERO : order8.multiply(BigInt(k), false)).toBytes());
}

describe('public keys', () => {
  it('refuses exactly the small-order points noble knows, in both sign-bit spellings', () => {
    const encodings = smallOrderEncodings();
    expect(new Set(encodings.map((e) => Buffer.from(e).toString('hex'))).size).toBe(8);
    for (const encoding of encodings) {
      expect(noblePoint(encoding)?.isSmallOrder()).toBe(true);
      expect(isSafePublicKey(encoding)).toBe(false);
      const flipped = Uint8Array.from(encoding);
      flipped[31]! ^= 0x80;
      expect(isSafePublicKey(flipped)).toBe(false);
    }
  });

  it('refuses non-canonical y (>= p) and accepts real keys', () => {
    const p = Uint8Array.from(Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex'));
    for (let add = 0; add < 19; add++) {
      const y = Uint8Array.from(p);
      y[0] = 0xed + add;
      expect(isSafePublicKey(y)).toBe(false);
    }
    for (let i = 0; i < 20; i++) expect(isSafePublicKey(SigningKey.generate().publicKey)).toBe(true);
  });

  it('property: whatever isSafePublicKey accepts, noble strict decodes to a non-small-order point or refuses as off-curve', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const point = noblePoint(bytes);
        if (isSafePublicKey(bytes) && point !== undefined) expect(point.isSmallOrder()).toBe(false);
        if (point?.isSmallOrder()) expect(isSafePublicKey(bytes)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('text form: canonical base64url only, host input errors name the argument', () => {
    const key = SigningKey.generate().publicKey;
    const text = encodePublicKey(key);
    expect(decodePublicKey(text)).toEqual(key);
    expect(decodePublicKey(`${text}=`)).toBeUndefined();
    expect(decodePublicKey(encodeBase64Url(new Uint8Array(32)))).toBeUndefined();
    expect(publicKeyText(key, 'audience')).toBe(text);
    expect(publicKeyText(text, 'audience')).toBe(text);
    expect(() => publicKeyText('nope', 'audience')).toThrow(/audience/);
    expect(() => publicKeyText(new Uint8Array(31), 'audience')).toThrow(TypeError);
    expect(() => encodePublicKey(new Uint8Array(32))).toThrow(RangeError);
  });
});

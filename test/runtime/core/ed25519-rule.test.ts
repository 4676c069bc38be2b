import { Point } from '@noble/ed25519';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SigningKey } from '../../../runtime/capability/signing-key.js';
import {
  ED25519_ORDER,
  isCanonicalScalar,
  isPrimeOrderKey,
  isPrimeOrderPoint,
  passesKeyAndScalarRule,
  passesPointRule,
} from '../../../runtime/core/ed25519-rule.js';

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

// Every encoding of a low-order point, canonical or not, as C2SP CCTV's ed25519/README.md lists them.
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];

describe('points of prime order', () => {
  it('refuses every encoding of every low-order point', () => {
    for (const point of LOW_ORDER) {
      expect(isPrimeOrderPoint(hex(point)), point).toBe(false);
      expect(isPrimeOrderKey(hex(point)), point).toBe(false);
    }
  });

  it('refuses a mixed point (prime-order part plus a small-order part), which no blocklist can catch', () => {
    const honest = Point.fromBytes(SigningKey.generate().publicKey);
    const order8 = Point.fromBytes(hex(LOW_ORDER[8]!));
    const mixed = honest.add(order8).toBytes();
    expect(isPrimeOrderPoint(mixed)).toBe(false);
    expect(isPrimeOrderKey(mixed)).toBe(false);
  });

  it('accepts honest keys and the R of honest signatures; a point off the curve or of the wrong length is refused', () => {
    for (let i = 0; i < 5; i++) {
      const key = SigningKey.generate();
      expect(isPrimeOrderPoint(key.publicKey)).toBe(true);
      expect(isPrimeOrderPoint(key.sign(new Uint8Array([i])).subarray(0, 32))).toBe(true);
    }
    expect(isPrimeOrderPoint(hex(`02${'00'.repeat(31)}`))).toBe(false); // y = 2 is not on the curve
    expect(isPrimeOrderPoint(new Uint8Array(31))).toBe(false);
    expect(isPrimeOrderPoint('x' as never)).toBe(false);
  });

  it('property: [k]B is of prime order for every scalar k in 1..L-1, and [k]B + T is not for a small-order T', () => {
    const small = Point.fromBytes(hex(LOW_ORDER[10]!));
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: ED25519_ORDER - 1n }), (k) => {
        const point = Point.BASE.multiply(k);
        expect(isPrimeOrderPoint(point.toBytes())).toBe(true);
        expect(isPrimeOrderPoint(point.add(small).toBytes())).toBe(false);
      }),
      { numRuns: 30 },
    );
  });
});

describe('scalars and the signature rule', () => {
  it('S must be below L', () => {
    const encode = (value: bigint): Uint8Array => {
      const out = new Uint8Array(32);
      for (let i = 0; i < 32; i++) out[i] = Number((value >> BigInt(8 * i)) & 255n);
      return out;
    };
    expect(isCanonicalScalar(encode(0n))).toBe(true);
    expect(isCanonicalScalar(encode(ED25519_ORDER - 1n))).toBe(true);
    expect(isCanonicalScalar(encode(ED25519_ORDER))).toBe(false);
    expect(isCanonicalScalar(encode(2n ** 256n - 1n))).toBe(false);
  });

  it('the identity R is refused by its bytes; a low-order R only by the full point rule', () => {
    const key = SigningKey.generate();
    const signature = key.sign(new Uint8Array([1]));
    expect(passesKeyAndScalarRule(key.publicKey, signature)).toBe(true);
    expect(passesPointRule(key.publicKey, signature)).toBe(true);
    const identityR = new Uint8Array(signature);
    identityR.set(hex(LOW_ORDER[4]!), 0);
    expect(passesKeyAndScalarRule(key.publicKey, identityR)).toBe(false);
    const order8R = new Uint8Array(signature);
    order8R.set(hex(LOW_ORDER[10]!), 0);
    expect(passesKeyAndScalarRule(key.publicKey, order8R)).toBe(true);
    expect(passesPointRule(key.publicKey, order8R)).toBe(false);
    expect(passesPointRule(hex(LOW_ORDER[4]!), signature)).toBe(false);
    expect(passesPointRule(key.publicKey, signature.subarray(0, 63))).toBe(false);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64DecodedLength, decodeBase64, decodeBase64Url, encodeBase64Url } from '../../../runtime/core/base64.js';

describe('base64url', () => {
  it('property: round-trips and agrees with Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = encodeBase64Url(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64url'));
        expect(decodeBase64Url(text)).toEqual(bytes);
      }),
    );
  });

  it('property: every string that decodes is the one canonical encoding of its bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgw_-=+/ .a9'.split('')), maxLength: 12 }), (text) => {
        const bytes = decodeBase64Url(text);
        if (bytes !== undefined) expect(encodeBase64Url(bytes)).toBe(text);
      }),
    );
  });

  it('refuses padding, foreign characters, impossible lengths and non-zero trailing bits', () => {
    expect(decodeBase64Url('QQ==')).toBeUndefined();
    expect(decodeBase64Url('QQ')).toEqual(new Uint8Array([65]));
    expect(decodeBase64Url('QR')).toBeUndefined();
    expect(decodeBase64Url('QUI')).toEqual(new Uint8Array([65, 66]));
    expect(decodeBase64Url('QUJ')).toBeUndefined();
    expect(decodeBase64Url('Q')).toBeUndefined();
    expect(decodeBase64Url('QU+C')).toBeUndefined();
    expect(decodeBase64Url('QU C')).toBeUndefined();
    expect(decodeBase64Url('QUÉC')).toBeUndefined();
    expect(decodeBase64Url(42)).toBeUndefined();
    expect(decodeBase64Url('')).toEqual(new Uint8Array());
    expect(() => encodeBase64Url('x' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('base64 (standard alphabet, padded)', () => {
  it('property: decodes exactly what Buffer encodes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64');
        expect(decodeBase64(text)).toEqual(bytes);
        expect(base64DecodedLength(text)).toBe(bytes.length);
      }),
    );
  });

  it('property: every string that decodes is the one canonical encoding of its bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgw_-=+/ .a9'.split('')), maxLength: 12 }), (text) => {
        const bytes = decodeBase64(text);
        if (bytes !== undefined) expect(Buffer.from(bytes).toString('base64')).toBe(text);
      }),
    );
  });

  it('refuses missing, extra or inner padding, the url alphabet, whitespace and non-zero trailing bits', () => {
    expect(decodeBase64('QQ==')).toEqual(new Uint8Array([65]));
    expect(decodeBase64('QUI=')).toEqual(new Uint8Array([65, 66]));
    expect(decodeBase64('QQ')).toBeUndefined();
    expect(decodeBase64('QR==')).toBeUndefined();
    expect(decodeBase64('QUJ=')).toBeUndefined();
    expect(decodeBase64('Q===')).toBeUndefined();
    expect(decodeBase64('====')).toBeUndefined();
    expect(decodeBase64('QQ=A')).toBeUndefined();
    expect(decodeBase64('QU-_')).toBeUndefined();
    expect(decodeBase64('QU+/')).toEqual(new Uint8Array([65, 79, 191]));
    expect(decodeBase64('QU C')).toBeUndefined();
    expect(decodeBase64(null)).toBeUndefined();
    expect(decodeBase64('')).toEqual(new Uint8Array());
  });
});

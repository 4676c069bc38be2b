import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openToken } from '../../../runtime/capability/node-verifier.js';
import { SigningKey } from '../../../runtime/capability/signing-key.js';
import {
  type CapabilityClaims,
  isCapabilityId,
  MAX_TOKEN_LENGTH,
  signCapability,
} from '../../../runtime/capability/token.js';
import { encodeBase64Url } from '../../../runtime/core/base64.js';
import { canonicalJson } from '../../../runtime/core/canonical-json.js';
import { encodePublicKey } from '../../../runtime/core/public-key.js';
import { craftToken, envelopeText, rootBody } from '../../helpers/capability-tokens.js';

const issuer = SigningKey.generate();
const holder = SigningKey.generate();
const other = SigningKey.generate();

const claimsArb: fc.Arbitrary<CapabilityClaims> = fc.record(
  {
    audience: fc.constant(holder.publicKey),
    action: fc.constantFrom('fs.read', 'net.http', 'tool:*', '*', 'proc.exec'),
    resource: fc.constantFrom('/workspace/**', 'https://api.example.com/v1/*', 'git', 'my_server/**', '/'),
    constraints: fc.dictionary(
      fc.constantFrom('method', 'port', 'dry_run'),
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.integer(),
        fc.boolean(),
        fc.array(fc.string({ maxLength: 4 }), { minLength: 1, maxLength: 3 }),
      ),
    ),
    expiresAt: fc.integer({ min: 0, max: 8.64e15 }),
    notBefore: fc.integer({ min: 0, max: 8.64e15 }),
    maxUses: fc.integer({ min: 1, max: 1_000_000_000 }),
    parentId: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
  },
  { requiredKeys: ['audience', 'action', 'resource'] },
);

describe('capability tokens', () => {
  it('property: sign then open round-trips every claim; the id is the SHA-256 of the canonical body', () => {
    fc.assert(
      fc.property(claimsArb, (claims) => {
        const capability = signCapability(claims, issuer);
        const opened = openToken(capability.token);
        expect(opened).toEqual({ ok: true, value: capability });
        expect(capability.issuer).toBe(encodePublicKey(issuer.publicKey));
        expect(capability.audience).toBe(encodePublicKey(holder.publicKey));
        expect(capability.action).toBe(claims.action);
        expect(capability.resource).toBe(claims.resource);
        expect(capability.constraints).toEqual(claims.constraints ?? {});
        expect(capability.expiresAt).toBe(claims.expiresAt);
        expect(capability.notBefore).toBe(claims.notBefore);
        expect(capability.maxUses).toBe(claims.maxUses);
        expect(capability.parentId).toBe(claims.parentId);
        const envelope = JSON.parse(envelopeText(capability.token));
        expect(canonicalJson(envelope)).toBe(envelopeText(capability.token));
        expect(capability.id).toBe(createHash('sha256').update(canonicalJson(envelope.b)).digest('hex'));
        expect(isCapabilityId(capability.id)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('uses short stable field names and a fresh nonce per token', () => {
    const a = signCapability({ audience: holder.publicKey, action: 'fs.read', resource: '/w/**' }, issuer);
    const b = signCapability({ audience: holder.publicKey, action: 'fs.read', resource: '/w/**' }, issuer);
    expect(Object.keys(JSON.parse(envelopeText(a.token)).b).sort()).toEqual(['act', 'aud', 'iss', 'nce', 'res', 'v']);
    expect(a.id).not.toBe(b.id);
    expect(a.nonce).not.toBe(b.nonce);
  });

  it('property: any change to a token string makes it invalid, with the fixed message only', () => {
    const capability = signCapability(
      { audience: holder.publicKey, action: 'net.http', resource: 'https://api.example.com/**', maxUses: 3 },
      issuer,
    );
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('');
    fc.assert(
      fc.property(fc.nat(capability.token.length - 1), fc.constantFrom(...alphabet), (index, char) => {
        fc.pre(capability.token[index] !== char);
        const tampered = capability.token.slice(0, index) + char + capability.token.slice(index + 1);
        expect(openToken(tampered)).toEqual({
          ok: false,
          code: 'E_CAP_DENIED',
          message: 'capability token is invalid',
        });
      }),
      { numRuns: 300 },
    );
  });

  it('a forged signature only ever gets E_CAP_DENIED, even on a body with bad fields', () => {
    const badExpiry = rootBody(issuer, holder, { exp: 'tomorrow' });
    const genuine = openToken(craftToken(badExpiry, issuer));
    expect(genuine).toMatchObject({
      ok: false,
      code: 'E_CAP_DENIED',
      message: 'capability token field exp is invalid',
    });
    const forged = openToken(craftToken(badExpiry, other));
    expect(forged).toEqual({ ok: false, code: 'E_CAP_DENIED', message: 'capability token is invalid' });
    const noDomain = openToken(craftToken(rootBody(issuer, holder), issuer, { noDomain: true }));
    expect(noDomain).toEqual({ ok: false, code: 'E_CAP_DENIED', message: 'capability token is invalid' });
  });

  it('regression: unparseable or non-finite times are refused, never read as "no expiry"', () => {
    for (const exp of ['2030-01-01', '', null, -1, 1.5, 8.64e15 + 1, 2 ** 53, true, [1], { t: 1 }]) {
      const result = openToken(craftToken(rootBody(issuer, holder, { exp }), issuer));
      expect(result.ok, JSON.stringify(exp)).toBe(false);
    }
    for (const nbf of ['now', -5])
      expect(openToken(craftToken(rootBody(issuer, holder, { nbf }), issuer)).ok).toBe(false);
    const huge = encodeBase64Url(
      new TextEncoder().encode(
        `{"b":${canonicalJson(rootBody(issuer, holder)).replace('"v":1', '"exp":1e400,"v":1')},"s":"x"}`,
      ),
    );
    expect(openToken(huge).ok).toBe(false);
  });

  it('refuses non-canonical envelopes and bodies even when properly signed', () => {
    const body = rootBody(issuer, holder);
    const spaced = craftToken(body, issuer, { envelope: (b, s) => `{"b": ${b}, "s": "${s}"}` });
    const reordered = craftToken(body, issuer, { envelope: (b, s) => `{"s":"${s}","b":${b}}` });
    const duplicated = craftToken(body, issuer, { envelope: (b, s) => `{"b":${b},"b":${b},"s":"${s}"}` });
    const extra = craftToken(body, issuer, { envelope: (b, s) => `{"b":${b},"s":"${s}","x":1}` });
    const bom = encodeBase64Url(new TextEncoder().encode(`\uFEFF${envelopeText(craftToken(body, issuer))}`));
    for (const token of [spaced, reordered, duplicated, extra, bom]) expect(openToken(token).ok).toBe(false);
    const dupKey = craftToken(body, issuer, {
      envelope: (b, s) => `{"b":${b.replace('"act":"fs.read"', '"act":"fs.read","act":"*"')},"s":"${s}"}`,
    });
    expect(openToken(dupKey).ok).toBe(false);
  });

  it('refuses unknown fields, __proto__, unsafe keys, bad patterns and over-long tokens', () => {
    const bad: Record<string, unknown>[] = [
      rootBody(issuer, holder, { extra: 1 }),
      rootBody(issuer, holder, { v: 2 }),
      rootBody(issuer, holder, { act: 'fs read' }),
      rootBody(issuer, holder, { res: '/workspace/../**' }),
      rootBody(issuer, holder, { con: { 'bad name': 1 } }),
      rootBody(issuer, holder, { max: 0 }),
      rootBody(issuer, holder, { par: 'ABC' }),
      rootBody(issuer, holder, { nce: 'short' }),
      rootBody(issuer, holder, { aud: encodeBase64Url(new Uint8Array(32)) }),
      JSON.parse(canonicalJson(rootBody(issuer, holder)).replace('{', '{"__proto__":{"act":"*"},')),
      { ...rootBody(issuer, holder), con: JSON.parse('{"__proto__":{"method":"GET"}}') },
    ];
    for (const body of bad) expect(openToken(craftToken(body, issuer)).ok, JSON.stringify(body)).toBe(false);
    expect(openToken('').ok).toBe(false);
    expect(openToken('A'.repeat(MAX_TOKEN_LENGTH + 4)).ok).toBe(false);
    expect(openToken(42).ok).toBe(false);
  });

  it('signCapability throws TypeError/RangeError naming the claim', () => {
    const base = { audience: holder.publicKey, action: 'fs.read', resource: '/w/**' };
    expect(() => signCapability({ ...base, action: 'fs read' }, issuer)).toThrow(/claims\.action/);
    expect(() => signCapability({ ...base, resource: '../x' }, issuer)).toThrow(/claims\.resource/);
    expect(() => signCapability({ ...base, expiresAt: Number.NaN }, issuer)).toThrow(/claims\.expiresAt/);
    expect(() => signCapability({ ...base, maxUses: 0 }, issuer)).toThrow(RangeError);
    expect(() => signCapability({ ...base, audience: 'nope' }, issuer)).toThrow(/claims\.audience/);
    expect(() => signCapability({ ...base, constraints: { m: 'x'.repeat(300) } }, issuer)).toThrow(
      /claims\.constraints/,
    );
    expect(() => signCapability(base, {} as SigningKey)).toThrow(TypeError);
  });
});

// The kernel verifier (node:crypto) and the standalone one (`isokernel/token`, @noble/ed25519) must agree on
// every token, honest or tampered; and the standalone one must not load node:crypto at all.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as kernel from '../../../runtime/capability/node-verifier.js';
import { SigningKey, verifySignature } from '../../../runtime/capability/signing-key.js';
import { signCapability } from '../../../runtime/capability/token.js';
import { decodeBase64Url, encodeBase64Url } from '../../../runtime/core/base64.js';
import { encodePublicKey } from '../../../runtime/core/public-key.js';
import * as standalone from '../../../token/index.js';
import { envelopeText } from '../../helpers/capability-tokens.js';
import { OPENSSL_3_0 } from '../../helpers/runtime.js';

const keys = Array.from({ length: 4 }, () => SigningKey.generate());
const T = 1_700_000_000_000;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const IDENTITY = new Uint8Array(32);
IDENTITY[0] = 1;

type Tamper =
  | { kind: 'none' }
  | { kind: 'flip-token-bit'; at: number; bit: number }
  | { kind: 'flip-sig-bit'; at: number; bit: number }
  | { kind: 'flip-body-char'; at: number; char: string }
  | { kind: 'swap-issuer'; to: number }
  | { kind: 'swap-audience'; to: number }
  | { kind: 'resign'; by: number }
  | { kind: 'random-sig'; bytes: Uint8Array }
  | { kind: 'sig-plus-l' }
  | { kind: 'small-order-issuer' };

const tamperArb: fc.Arbitrary<Tamper> = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('flip-token-bit' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('flip-sig-bit' as const), at: fc.nat(63), bit: fc.nat(7) }),
  fc.record({
    kind: fc.constant('flip-body-char' as const),
    at: fc.nat(),
    char: fc.constantFrom('a', '0', '"', '*', '/'),
  }),
  fc.record({ kind: fc.constant('swap-issuer' as const), to: fc.nat(3) }),
  fc.record({ kind: fc.constant('swap-audience' as const), to: fc.nat(3) }),
  fc.record({ kind: fc.constant('resign' as const), by: fc.nat(3) }),
  fc.record({ kind: fc.constant('random-sig' as const), bytes: fc.uint8Array({ minLength: 64, maxLength: 64 }) }),
  fc.constant({ kind: 'sig-plus-l' as const }),
  fc.constant({ kind: 'small-order-issuer' as const }),
);

function envelopeOf(token: string): { b: Record<string, unknown>; s: string } {
  return JSON.parse(envelopeText(token));
}

function encode(body: unknown, sig: string): string {
  return encodeBase64Url(new TextEncoder().encode(`{"b":${JSON.stringify(sortKeys(body))},"s":"${sig}"}`));
}

function sortKeys(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}

function tamper(token: string, change: Tamper): string {
  const { b, s } = envelopeOf(token);
  const sig = decodeBase64Url(s)!;
  switch (change.kind) {
    case 'none':
      return token;
    case 'flip-token-bit': {
      const bytes = decodeBase64Url(token)!;
      bytes[change.at % bytes.length]! ^= 1 << change.bit;
      return encodeBase64Url(bytes);
    }
    case 'flip-sig-bit':
      sig[change.at]! ^= 1 << change.bit;
      return encode(b, encodeBase64Url(sig));
    case 'flip-body-char': {
      const text = envelopeText(token);
      const at = change.at % text.length;
      return encodeBase64Url(new TextEncoder().encode(text.slice(0, at) + change.char + text.slice(at + 1)));
    }
    case 'swap-issuer':
      return encode({ ...b, iss: encodePublicKey(keys[change.to]!.publicKey) }, s);
    case 'swap-audience':
      return encode({ ...b, aud: encodePublicKey(keys[change.to]!.publicKey) }, s);
    case 'resign':
      return signCapability(
        {
          audience: String(b['aud']),
          action: String(b['act']),
          resource: String(b['res']),
          nonce: String(b['nce']),
          ...(typeof b['exp'] === 'number' ? { expiresAt: b['exp'] } : {}),
        },
        keys[change.by]!,
      ).token;
    case 'random-sig':
      return encode(b, encodeBase64Url(change.bytes));
    case 'sig-plus-l': {
      let scalar = 0n;
      for (let i = 31; i >= 0; i--) scalar = (scalar << 8n) | BigInt(sig[32 + i]!);
      scalar += L;
      for (let i = 0; i < 32; i++) sig[32 + i] = Number((scalar >> BigInt(8 * i)) & 255n);
      return encode(b, encodeBase64Url(sig));
    }
    case 'small-order-issuer': {
      // Identity key with R = identity, S = 0: "valid" for any message under the bare equation.
      const forged = new Uint8Array(64);
      forged.set(IDENTITY, 0);
      return encode({ ...b, iss: encodeBase64Url(IDENTITY) }, encodeBase64Url(forged));
    }
  }
}

describe('node:crypto and noble verifiers agree', () => {
  it('property: same result for random tokens under random tamperings', () => {
    fc.assert(
      fc.property(
        fc.nat(3),
        fc.nat(3),
        fc.constantFrom('fs.read', 'net.http', 'tool:*'),
        fc.constantFrom('/workspace/**', 'https://api.example.com/**', 'git'),
        fc.option(fc.integer({ min: T - 10, max: T + 10 }), { nil: undefined }),
        tamperArb,
        (issuer, audience, action, resource, expiresAt, change) => {
          const token = signCapability(
            {
              audience: keys[audience]!.publicKey,
              action,
              resource,
              ...(expiresAt === undefined ? {} : { expiresAt }),
            },
            keys[issuer]!,
          ).token;
          const tampered = tamper(token, change);
          const fromKernel = kernel.openToken(tampered);
          const fromStandalone = standalone.openToken(tampered);
          expect(fromStandalone).toEqual(fromKernel);
          const options = { anchors: [keys[0]!.publicKey, keys[1]!.publicKey], now: T };
          expect(standalone.verifyChain([tampered], options)).toEqual(kernel.verifyChain([tampered], options));
          if (change.kind === 'none') expect(fromKernel.ok).toBe(true);
          if (['flip-sig-bit', 'swap-issuer', 'random-sig', 'sig-plus-l', 'small-order-issuer'].includes(change.kind)) {
            if (change.kind !== 'swap-issuer' || (change as { to: number }).to !== issuer) {
              expect(fromKernel.ok).toBe(false);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('property: the raw signature verifiers agree on keys, messages and signatures of any shape', () => {
    const message = new TextEncoder().encode('isokernel');
    const signer = keys[0]!;
    const good = signer.sign(message);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant(signer.publicKey),
          fc.constant(IDENTITY),
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.uint8Array({ maxLength: 40 }),
        ),
        fc.oneof(fc.constant(good), fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.uint8Array({ maxLength: 70 })),
        (publicKey, signature) => {
          expect(standalone.nobleSignatureVerifier(publicKey, message, signature)).toBe(
            kernel.nodeSignatureVerifier(publicKey, message, signature),
          );
        },
      ),
      { numRuns: 500 },
    );
    expect(kernel.nodeSignatureVerifier(signer.publicKey, message, good)).toBe(true);
  });

  it('agree on whole chains, including delegated ones', () => {
    const [root, a, b] = keys as [SigningKey, SigningKey, SigningKey];
    const first = signCapability({ audience: a.publicKey, action: 'fs.*', resource: '/w/**' }, root);
    const second = signCapability(
      { audience: b.publicKey, action: 'fs.read', resource: '/w/x/**', parentId: first.id },
      a,
    );
    const request = { action: 'fs.read', resource: '/w/x/y' };
    for (const options of [
      { anchors: [root.publicKey], now: T, request },
      { anchors: [root.publicKey], now: T, request: { ...request, resource: '/w/y' } },
      { anchors: [a.publicKey], now: T },
      { anchors: [root.publicKey], now: T, holder: a.publicKey },
    ]) {
      const chain = [first.token, second.token];
      expect(standalone.verifyChain(chain, options)).toEqual(kernel.verifyChain(chain, options));
    }
    expect(standalone.verifyToken(first.token, { anchors: [root.publicKey], now: T })).toEqual({
      ok: true,
      value: first,
    });
  });
});

describe('degenerate keys', () => {
  it('regression: OpenSSL 3.0 alone accepts a forgery for the identity key on any message; both verifiers refuse it', () => {
    const forged = new Uint8Array(64);
    forged.set(IDENTITY, 0);
    const message = new TextEncoder().encode('anything at all');
    // The forgery is real on Node 20's OpenSSL 3.0; Node 24's OpenSSL 3.5 refuses it itself. The kernel's rule
    // must not depend on which one the host links.
    expect(verifySignature(IDENTITY, message, forged)).toBe(OPENSSL_3_0);
    expect(kernel.nodeSignatureVerifier(IDENTITY, message, forged)).toBe(false);
    expect(standalone.nobleSignatureVerifier(IDENTITY, message, forged)).toBe(false);
  });
});

describe('isokernel/token loads without node:crypto', () => {
  const hook = `data:text/javascript,${encodeURIComponent(
    "import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(\"export async function resolve(s, c, n) { if (s === 'node:crypto' || s === 'crypto') throw new Error('NODE_CRYPTO_IMPORTED by ' + c.parentURL); return n(s, c); }\"));",
  )}`;
  const load = (file: string) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        hook,
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(file)}); console.log('LOADED');`,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );

  it('imports token/index.ts with node:crypto blocked (and the check itself catches the kernel verifier)', () => {
    const token = load(fileURLToPath(new URL('../../../token/index.ts', import.meta.url)));
    expect(token.stderr).not.toContain('NODE_CRYPTO_IMPORTED');
    expect(token.stdout).toContain('LOADED');
    const nodePath = load(fileURLToPath(new URL('../../../runtime/capability/node-verifier.ts', import.meta.url)));
    expect(nodePath.stderr).toContain('NODE_CRYPTO_IMPORTED');
  });
});

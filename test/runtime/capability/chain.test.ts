import { describe, expect, it } from 'vitest';
import { MAX_CHAIN_LENGTH, validityWindow, verifyChainWith } from '../../../runtime/capability/chain.js';
import { nodeSignatureVerifier, verifyChain } from '../../../runtime/capability/node-verifier.js';
import { SigningKey } from '../../../runtime/capability/signing-key.js';
import { type CapabilityClaims, signCapability } from '../../../runtime/capability/token.js';
import { craftToken, envelopeText, rootBody } from '../../helpers/capability-tokens.js';

const root = SigningKey.generate();
const [alice, bob, carol, mallory] = [1, 2, 3, 4].map(() => SigningKey.generate()) as [
  SigningKey,
  SigningKey,
  SigningKey,
  SigningKey,
];
const T = 1_700_000_000_000;
const anchors = [root.publicKey];

/** root -> alice -> bob -> carol, each link narrowing the resource. */
function chain(overrides: Partial<CapabilityClaims>[] = []) {
  const a = signCapability(
    { audience: alice.publicKey, action: 'net.*', resource: '/workspace/**', expiresAt: T + 1000, ...overrides[0] },
    root,
  );
  const b = signCapability(
    { audience: bob.publicKey, action: 'net.http', resource: '/workspace/out/**', parentId: a.id, ...overrides[1] },
    alice,
  );
  const c = signCapability(
    { audience: carol.publicKey, action: 'net.http', resource: '/workspace/out/**', parentId: b.id, ...overrides[2] },
    bob,
  );
  return [a, b, c];
}
const tokens = (caps: { token: string }[]) => caps.map((cap) => cap.token);

describe('capability chains', () => {
  it('verifies an authentic chain and returns it root first', () => {
    const caps = chain();
    const result = verifyChain(tokens(caps), { anchors, now: T, holder: carol.publicKey });
    expect(result).toEqual({ ok: true, value: caps });
  });

  it('refuses an untrusted root, a root with a parent, a broken or reordered chain', () => {
    const caps = chain();
    expect(verifyChain(tokens(caps), { anchors: [mallory.publicKey], now: T })).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(verifyChain(tokens(caps.slice(1)), { anchors: [alice.publicKey], now: T })).toMatchObject({
      code: 'E_CAP_DENIED',
    });
    expect(verifyChain(tokens([caps[0]!, caps[2]!]), { anchors, now: T })).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(verifyChain(tokens([caps[1]!, caps[0]!, caps[2]!]), { anchors, now: T })).toMatchObject({
      code: 'E_CAP_DENIED',
    });
    expect(verifyChain([], { anchors, now: T })).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(verifyChain(Array(MAX_CHAIN_LENGTH + 1).fill(caps[0]!.token), { anchors, now: T })).toMatchObject({
      code: 'E_CAP_DENIED',
    });
  });

  it('attack: a long chain by throwaway keys is refused at its first bad link, not after every signature (red-team pass 120)', () => {
    // 32 links, each delegated by the previous holder: authentic but for its root, which no anchor issued.
    const keys = Array.from({ length: MAX_CHAIN_LENGTH + 1 }, () => SigningKey.generate());
    const links: { id: string; token: string }[] = [];
    for (let i = 0; i < MAX_CHAIN_LENGTH; i++) {
      const parent = links[i - 1];
      links.push(
        signCapability(
          {
            audience: keys[i + 1]!.publicKey,
            action: 'net.http',
            resource: '/workspace/**',
            ...(parent === undefined ? {} : { parentId: parent.id }),
          },
          keys[i]!,
        ),
      );
    }
    let checks = 0;
    const counted: typeof nodeSignatureVerifier = (...args) => {
      checks += 1;
      return nodeSignatureVerifier(...args);
    };
    const refuse = (chainTokens: string[], trusted = anchors) => {
      checks = 0;
      expect(verifyChainWith(counted, chainTokens, { anchors: trusted, now: T })).toMatchObject({
        code: 'E_CAP_DENIED',
      });
      return checks;
    };
    expect(refuse(tokens(links))).toBe(1);
    // A forged first link, and a break after the third.
    const signatureOf = (token: string) => (JSON.parse(envelopeText(token)) as { s: string }).s;
    const rootText = envelopeText(links[0]!.token).replace(signatureOf(links[0]!.token), signatureOf(links[1]!.token));
    const forged = [Buffer.from(rootText).toString('base64url'), ...tokens(links.slice(1))];
    expect(refuse(forged, [keys[0]!.publicKey])).toBe(1);
    const broken = [...tokens(links.slice(0, 3)), ...tokens(links.slice(4))];
    expect(refuse(broken, [keys[0]!.publicKey])).toBe(4);
    // The whole chain from a trusted root still verifies, one check a link.
    checks = 0;
    expect(verifyChainWith(counted, tokens(links), { anchors: [keys[0]!.publicKey], now: T })).toMatchObject({
      ok: true,
    });
    expect(checks).toBe(MAX_CHAIN_LENGTH);
  });

  it('attack: a child signed by someone other than the parent holder is refused', () => {
    const [a, b] = chain();
    const stolen = signCapability(
      { audience: mallory.publicKey, action: 'net.http', resource: '/workspace/**', parentId: a!.id },
      mallory,
    );
    expect(verifyChain([a!.token, stolen.token], { anchors, now: T })).toMatchObject({ code: 'E_CAP_DENIED' });
    const grafted = signCapability(
      { audience: mallory.publicKey, action: 'net.http', resource: '/workspace/**', parentId: a!.id },
      bob,
    );
    expect(verifyChain([a!.token, grafted.token], { anchors, now: T })).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(verifyChain([a!.token, b!.token], { anchors, now: T, holder: mallory.publicKey })).toMatchObject({
      code: 'E_CAP_DENIED',
      message: 'capability chain denied: presenter is not the holder',
    });
  });

  it('regression: a genuine chain stops verifying once any link expires', () => {
    const caps = chain([{}, { expiresAt: T + 500 }]);
    expect(verifyChain(tokens(caps), { anchors, now: T }).ok).toBe(true);
    expect(verifyChain(tokens(caps), { anchors, now: T + 499 }).ok).toBe(true);
    expect(verifyChain(tokens(caps), { anchors, now: T + 500 })).toMatchObject({ code: 'E_CAP_EXPIRED' });
    expect(verifyChain(tokens(caps), { anchors, now: T + 10_000 })).toMatchObject({ code: 'E_CAP_EXPIRED' });
    expect(verifyChain(tokens(caps), { anchors, now: Number.NaN })).toMatchObject({ code: 'E_CAP_EXPIRED' });
    const later = chain([{}, {}, { notBefore: T + 100 }]);
    expect(verifyChain(tokens(later), { anchors, now: T + 99 })).toMatchObject({ code: 'E_CAP_EXPIRED' });
    expect(verifyChain(tokens(later), { anchors, now: T + 100 }).ok).toBe(true);
  });

  it('signatures come first: a forged, expired chain gets E_CAP_DENIED, not E_CAP_EXPIRED', () => {
    const [a] = chain();
    const expired = craftToken(rootBody(root, alice, { exp: T - 1 }), root);
    expect(verifyChain([expired], { anchors, now: T })).toMatchObject({ code: 'E_CAP_EXPIRED' });
    const forged = craftToken(rootBody(root, alice, { exp: T - 1 }), mallory);
    expect(verifyChain([forged], { anchors, now: T })).toMatchObject({ code: 'E_CAP_DENIED' });
    const selfSigned = craftToken(rootBody(mallory, alice, { exp: T - 1 }), mallory);
    expect(verifyChain([selfSigned], { anchors, now: T })).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(verifyChain([a!.token, forged], { anchors, now: T })).toMatchObject({ code: 'E_CAP_DENIED' });
  });

  it('a request must be allowed by every link: a child cannot widen or morph what it was given', () => {
    const narrowing = chain();
    const request = { action: 'net.http', resource: '/workspace/out/a.txt' };
    expect(verifyChain(tokens(narrowing), { anchors, now: T, request }).ok).toBe(true);
    expect(
      verifyChain(tokens(narrowing), { anchors, now: T, request: { ...request, resource: '/workspace/a.txt' } }),
    ).toMatchObject({ code: 'E_CAP_DENIED' });
    const widening = chain([{ resource: '/workspace/out/**' }, { resource: '/**' }, { resource: '/**' }]);
    expect(
      verifyChain(tokens(widening), { anchors, now: T, request: { ...request, resource: '/etc/passwd' } }),
    ).toMatchObject({
      code: 'E_CAP_DENIED',
    });
    const morphing = chain([{ action: 'http_get' }, { action: 'shell_exec' }, { action: 'shell_exec' }]);
    expect(
      verifyChain(tokens(morphing), {
        anchors,
        now: T,
        request: { action: 'shell_exec', resource: '/workspace/out/x' },
      }),
    ).toMatchObject({ code: 'E_CAP_DENIED', message: expect.stringContaining('shell_exec') });
    const constrained = chain([{ constraints: { method: 'GET' } }, { constraints: {} }]);
    expect(
      verifyChain(tokens(constrained), { anchors, now: T, request: { ...request, params: { method: 'POST' } } }),
    ).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(
      verifyChain(tokens(constrained), { anchors, now: T, request: { ...request, defaults: { method: 'GET' } } }).ok,
    ).toBe(true);
    expect(
      verifyChain(tokens(narrowing), { anchors, now: T, request: { ...request, resource: '/workspace/out/../../x' } }),
    ).toMatchObject({ code: 'E_CAP_DENIED', message: expect.stringContaining('normal form') });
  });

  it('messages name the action and resource, never token bytes', () => {
    const caps = chain();
    const result = verifyChain(tokens(caps), {
      anchors,
      now: T,
      request: { action: 'net.http', resource: '/etc/shadow' },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.message).toContain('net.http');
    expect(result.message).toContain('/etc/shadow');
    for (const cap of caps) expect(result.message).not.toContain(cap.token.slice(0, 16));
  });

  it('host misuse throws TypeError', () => {
    expect(() => verifyChain('x' as unknown as string[], { anchors, now: T })).toThrow(TypeError);
    expect(() => verifyChain([], { anchors: ['not a key'], now: T })).toThrow(/anchors/);
  });

  it('validity window bounds: notBefore inclusive, expiresAt exclusive', () => {
    expect(validityWindow({ expiresAt: 10 }, 9)).toBe('valid');
    expect(validityWindow({ expiresAt: 10 }, 10)).toBe('expired');
    expect(validityWindow({ notBefore: 10 }, 10)).toBe('valid');
    expect(validityWindow({ notBefore: 10 }, 9)).toBe('not-yet-valid');
    expect(validityWindow({}, Number.POSITIVE_INFINITY)).toBe('expired');
  });
});

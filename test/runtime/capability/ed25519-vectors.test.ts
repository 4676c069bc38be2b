/**
 * Published Ed25519 vectors through BOTH signature verifiers: the kernel's (node-verifier.ts, node:crypto) and
 * `isokernel/token`'s (token/index.ts, @noble/ed25519). They must agree on every vector, and both must follow
 * the kernel's rule (runtime/core/ed25519-rule.ts): S < L, A and R canonical points of prime order, then the
 * equation. Sources, paths and commits: test/vectors/ed25519/SOURCE.md.
 *
 * - RFC 8032 §7.1: the five known answers: keys derive, signatures reproduce byte for byte, both verify.
 * - Wycheproof ed25519_test.json: every `valid` vector verifies and every `invalid` one is refused.
 * - ed25519-speccheck cases.json and C2SP CCTV ed25519vectors.json: the edge cases where verifiers disagree.
 *   Without the rule, OpenSSL (cofactorless) and noble (cofactored) split on 128 of them; with it, every
 *   vector with a small-order or mixed R or A, a non-canonical encoding or S ≥ L is refused by both.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ed from '@noble/ed25519';
import { describe, expect, it } from 'vitest';
import { nodeSignatureVerifier } from '../../../runtime/capability/node-verifier.js';
import { SigningKey, verifySignature } from '../../../runtime/capability/signing-key.js';
import { isSafePublicKey } from '../../../runtime/core/public-key.js';
import { nobleSignatureVerifier } from '../../../token/index.js';
import { OPENSSL_3_0 } from '../../helpers/runtime.js';

const VECTORS = join(import.meta.dirname, '..', '..', 'vectors', 'ed25519');
const load = <T>(name: string): T => JSON.parse(readFileSync(join(VECTORS, name), 'utf8')) as T;
const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Both verifiers' answers; the tests require them equal. */
function both(key: Uint8Array, message: Uint8Array, signature: Uint8Array): [boolean, boolean] {
  return [nodeSignatureVerifier(key, message, signature), nobleSignatureVerifier(key, message, signature)];
}

/** What the two verifiers did before the rule: OpenSSL behind the small-order blocklist, and noble strict. */
function withoutRule(key: Uint8Array, message: Uint8Array, signature: Uint8Array): [boolean, boolean] {
  let noble: boolean;
  try {
    noble = ed.verify(signature, message, key, { zip215: false });
  } catch {
    noble = false;
  }
  return [isSafePublicKey(key) && verifySignature(key, message, signature), noble];
}

describe('RFC 8032 §7.1', () => {
  const { vectors } = load<{
    vectors: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
  }>('rfc8032-section-7.1.json');

  it('has the five Ed25519 test vectors', () => {
    expect(vectors.map((v) => v.name)).toEqual(['TEST 1', 'TEST 2', 'TEST 3', 'TEST 1024', 'TEST SHA(abc)']);
  });

  it.each(vectors)('$name: the key derives, the signature reproduces, both verifiers accept it', (vector) => {
    const key = SigningKey.fromSeed(hex(vector.secretKey));
    expect(Buffer.from(key.publicKey).toString('hex')).toBe(vector.publicKey);
    const message = hex(vector.message);
    expect(Buffer.from(key.sign(message)).toString('hex')).toBe(vector.signature);
    expect(both(hex(vector.publicKey), message, hex(vector.signature))).toEqual([true, true]);
    const altered = new Uint8Array([...message, 0]);
    expect(both(hex(vector.publicKey), altered, hex(vector.signature))).toEqual([false, false]);
  });
});

describe('Wycheproof ed25519_test.json', () => {
  interface Group {
    publicKey: { pk: string };
    tests: { tcId: number; comment: string; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable' }[];
  }
  const { testGroups, numberOfTests } = load<{ testGroups: Group[]; numberOfTests: number }>(
    'wycheproof-ed25519_test.json',
  );
  const cases = testGroups.flatMap((group) => group.tests.map((test) => ({ key: group.publicKey.pk, ...test })));

  it('has every test case (151) and no "acceptable" ones to decide about', () => {
    expect(cases).toHaveLength(numberOfTests);
    expect(numberOfTests).toBe(151);
    expect(cases.filter((c) => c.result === 'acceptable')).toEqual([]);
  });

  it('both verifiers accept exactly the valid vectors', () => {
    const wrong = cases.filter((c) => {
      const [node, noble] = both(hex(c.key), hex(c.msg), hex(c.sig));
      return node !== noble || node !== (c.result === 'valid');
    });
    expect(wrong.map((c) => `${c.tcId} ${c.comment}`)).toEqual([]);
  });
});

describe('ed25519-speccheck cases.json', () => {
  const cases = load<{ message: string; pub_key: string; signature: string }[]>('speccheck-cases.json');

  // OpenSSL 3.5 (Node 22, 24) also refuses case 2 (small A and R) by itself; 3.0 accepts it as noble does.
  it('has its 12 cases; without the rule the verifiers split on the cofactored ones (4 and 5; and 2 on OpenSSL 3.5)', () => {
    expect(cases).toHaveLength(12);
    const split = cases
      .map((c, i) => [i, withoutRule(hex(c.pub_key), hex(c.message), hex(c.signature))] as const)
      .filter(([, [node, noble]]) => node !== noble)
      .map(([i]) => i);
    expect(split).toEqual(OPENSSL_3_0 ? [4, 5] : [2, 4, 5]);
  });

  it('with the rule both refuse all 12: each has a small or mixed A or R, S ≥ L, or a non-canonical encoding', () => {
    // The README's table: 0-2 small A and/or R; 3-5 mixed A and R; 6-7 S out of bounds (R and A of order L,
    // would verify otherwise); 8-9 non-canonical R; 10-11 non-canonical A.
    const answers = cases.map((c) => both(hex(c.pub_key), hex(c.message), hex(c.signature)));
    expect(answers).toEqual(cases.map(() => [false, false]));
  });
});

describe('C2SP CCTV ed25519vectors.json', () => {
  const vectors =
    load<{ number: number; key: string; sig: string; msg: string; flags: string[] | null }[]>(
      'cctv-ed25519vectors.json',
    );

  it('has its 914 vectors; without the rule the verifiers split on 126 of them (169 on OpenSSL 3.5)', () => {
    expect(vectors).toHaveLength(914);
    const split = vectors.filter((v) => {
      const [node, noble] = withoutRule(hex(v.key), utf8(v.msg), hex(v.sig));
      return node !== noble;
    });
    expect(split).toHaveLength(OPENSSL_3_0 ? 126 : 169);
  });

  it('with the rule both verifiers agree on every vector, and accept exactly the one without an edge-case flag', () => {
    const answers = vectors.map((v) => ({ v, answer: both(hex(v.key), utf8(v.msg), hex(v.sig)) }));
    expect(answers.filter(({ answer: [node, noble] }) => node !== noble).map(({ v }) => v.number)).toEqual([]);
    const accepted = answers.filter(({ answer: [node] }) => node).map(({ v }) => v);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.flags ?? []).toEqual([]);
  });

  it.each([
    'low_order_A',
    'low_order_R',
    'non_canonical_A',
    'non_canonical_R',
    'low_order_component_A',
    'low_order_component_R',
    'low_order_residue',
    'reencoded_k',
  ])('every vector flagged %s is refused by both', (flag) => {
    const flagged = vectors.filter((v) => v.flags?.includes(flag));
    expect(flagged.length).toBeGreaterThan(0);
    for (const v of flagged) expect(both(hex(v.key), utf8(v.msg), hex(v.sig)), `#${v.number}`).toEqual([false, false]);
  });
});

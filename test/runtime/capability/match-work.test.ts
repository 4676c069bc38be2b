// Red-team pass 58: the glob walks of one check over many held capabilities are bounded (MAX_MATCH_WORK), in
// an authorization without a capability id and in the planning of a spawn's delegations.
import { describe, expect, it } from 'vitest';
import { CapabilityAuthority } from '../../../runtime/capability/authority.js';
import { planDelegations } from '../../../runtime/capability/delegation.js';
import { SigningKey } from '../../../runtime/capability/signing-key.js';
import { KernelError } from '../../../runtime/core/errors.js';
import { encodePublicKey } from '../../../runtime/core/public-key.js';
import { MAX_REQUESTED_GLOB_LENGTH } from '../../../runtime/core/resource-match.js';
import { capRequestSchema } from '../../../syscalls/process-schemas.js';

const [alice, bob] = [SigningKey.generate(), SigningKey.generate()];
const key = (k: SigningKey) => encodePublicKey(k.publicKey);
const glob = (i: number) => `/ws/*${'a'.repeat(MAX_REQUESTED_GLOB_LENGTH - 7 - i)}b*`;
const LONG = `/ws/${'a'.repeat(4086)}`;

/** Bob holds 63 costly globs delegated by alice from her `/ws/**`, then (unless `tree` is false) `/ws/**`. */
function setup(tree = true) {
  const authority = new CapabilityAuthority({ rootKey: SigningKey.generate() });
  const root = authority.grant({ audience: alice.publicKey, action: 'fs.read', resource: '/ws/**' });
  const resources = Array.from({ length: 63 }, (_, i) => glob(i));
  if (tree) resources.push('/ws/**');
  const ids = resources.map((resource) => {
    const result = authority.delegate({ parentId: root.id, delegator: alice, audience: bob.publicKey, resource });
    if (!result.ok) throw new Error(result.message);
    return result.value.id;
  });
  return { authority, ids };
}

describe('authorize without a capability id', () => {
  it('skips globs past the bound and still finds a cheap capability after them', () => {
    const { authority, ids } = setup();
    const t0 = performance.now();
    const result = authority.authorize({ holder: key(bob), action: 'fs.read', resource: LONG });
    expect(performance.now() - t0).toBeLessThan(100);
    expect(result).toMatchObject({ ok: true, capabilityId: ids.at(-1) });
  });

  it('denies with E_CAP_DENIED, saying why, when only skipped globs were left', () => {
    const { authority } = setup(false);
    const result = authority.authorize({ holder: key(bob), action: 'fs.read', resource: LONG });
    expect(result).toMatchObject({ ok: false, code: 'E_CAP_DENIED' });
    expect(!result.ok && result.message).toMatch(/too many glob capabilities .* capability id/);
  });

  it('a glob that matches is still found before the bound, and by id', () => {
    const { authority, ids } = setup(false);
    const hit = `/ws/x${'a'.repeat(MAX_REQUESTED_GLOB_LENGTH)}by`;
    expect(authority.authorize({ holder: key(bob), action: 'fs.read', resource: hit })).toMatchObject({
      ok: true,
      capabilityId: ids[0],
    });
    expect(
      authority.authorize({ holder: key(bob), action: 'fs.read', resource: LONG, capabilityId: ids[62]! }),
    ).toMatchObject({ ok: false, code: 'E_CAP_DENIED' });
  });
});

describe('planDelegations', () => {
  it('refuses E_BAD_ARG before walking past the bound', () => {
    const { authority } = setup();
    const requests = Array.from({ length: 64 }, () => ({ resource: `/ws/${'a'.repeat(1000)}` }));
    const t0 = performance.now();
    let error: unknown;
    try {
      planDelegations(authority, key(bob), requests);
    } catch (e) {
      error = e;
    }
    expect(performance.now() - t0).toBeLessThan(100);
    expect(error).toBeInstanceOf(KernelError);
    expect(error).toMatchObject({ code: 'E_BAD_ARG', message: expect.stringMatching(/too costly to check/) });
  });

  it('naming the parent with `from` keeps the same requests cheap', () => {
    const { authority, ids } = setup();
    const requests = Array.from({ length: 64 }, () => ({ from: ids.at(-1)!, resource: `/ws/${'a'.repeat(1000)}` }));
    expect(planDelegations(authority, key(bob), requests)).toHaveLength(64);
  });
});

describe('capRequestSchema', () => {
  it('bounds an agent-written glob, not a literal', () => {
    const at = `/ws/${'*'.repeat(1)}${'a'.repeat(MAX_REQUESTED_GLOB_LENGTH - 5)}`;
    expect(at).toHaveLength(MAX_REQUESTED_GLOB_LENGTH);
    expect(capRequestSchema.safeParse({ resource: at }).success).toBe(true);
    expect(capRequestSchema.safeParse({ resource: `${at}a` }).success).toBe(false);
    expect(capRequestSchema.safeParse({ resource: `/ws/${'a'.repeat(1000)}` }).success).toBe(true);
    expect(capRequestSchema.safeParse({ resource: `/ws/${'a'.repeat(1021)}` }).success).toBe(false);
  });
});

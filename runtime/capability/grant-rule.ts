import type { CapabilityScope } from './attenuation.js';
import { CapabilityAuthority, type CapabilitySummary } from './authority.js';
import type { SigningKey } from './signing-key.js';
import { DirectoryCapabilityState, MemoryCapabilityState } from './state.js';

export type { CapabilityAuthority, CapabilitySummary };

/** A capability to grant or narrow, as the host writes it. */
export type GrantRule = CapabilityScope;

/**
 * The kernel's authority: with a store directory, the root key, revocations and invocation counters live
 * there (0700 directory, 0600 files) and survive restarts; without one, an ephemeral root key in memory.
 */
export function createAuthority(
  store: string | undefined,
  now: (() => number) | undefined,
): { authority: CapabilityAuthority; rootKey: SigningKey } {
  const state = store === undefined ? new MemoryCapabilityState() : DirectoryCapabilityState.open(store);
  const rootKey = state.rootKey();
  return { authority: new CapabilityAuthority({ rootKey, state, ...(now === undefined ? {} : { now }) }), rootKey };
}

const RULE_KEYS: ReadonlySet<string> = new Set([
  'action',
  'resource',
  'constraints',
  'maxUses',
  'expiresAt',
  'notBefore',
]);
const POLICY_SPELLINGS: Readonly<Record<string, string>> = {
  max_uses: 'maxUses',
  constraint: 'constraints',
  expires_at: 'expiresAt',
  not_before: 'notBefore',
};

/**
 * Checks the shape of a host-written rule before it is signed: an unknown key would otherwise be ignored,
 * and a caveat misspelt in the policy's snake_case (`max_uses`) would silently grant an unbounded
 * capability. Throws TypeError naming `argName` and the key (with the spelling that was meant).
 */
export function checkGrantRule(rule: unknown, argName: string, partial = false): void {
  if (rule === null || typeof rule !== 'object' || Array.isArray(rule))
    throw new TypeError(`${argName} must be an object`);
  for (const key of Object.keys(rule)) {
    if (RULE_KEYS.has(key)) continue;
    const meant = POLICY_SPELLINGS[key];
    throw new TypeError(
      `${argName}.${key} is not a capability field${meant === undefined ? '' : ` (did you mean ${meant}?)`}`,
    );
  }
  if (!partial) {
    const { action, resource } = rule as Record<string, unknown>;
    if (typeof action !== 'string') throw new TypeError(`${argName}.action must be a string`);
    if (typeof resource !== 'string') throw new TypeError(`${argName}.resource must be a string`);
  }
}

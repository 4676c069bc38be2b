import type { CapabilityScope } from './capability-attenuation.js';
import { CapabilityAuthority, type CapabilitySummary } from './capability-authority.js';
import { DirectoryCapabilityState, MemoryCapabilityState } from './capability-state.js';
import type { SigningKey } from './keys.js';

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

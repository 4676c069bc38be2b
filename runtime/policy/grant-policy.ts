/**
 * Turns a loaded policy into root capabilities: one grant per rule, for one holder.
 */
import type { CapabilityAuthority } from '../capability/authority.js';
import type { Capability } from '../capability/token.js';
import type { Policy } from './policy.js';

/**
 * Grants every rule of `policy` to `audience` through `authority` (signed by its root key), in rule order.
 * A rule's `expires_in` runs from the authority's clock now. Throws TypeError/RangeError as
 * `CapabilityAuthority.grant` does (a policy from loadPolicy is already valid, so only a bad audience can).
 */
export function grantPolicy(
  authority: CapabilityAuthority,
  policy: Policy,
  audience: string | Uint8Array,
): Capability[] {
  const now = authority.now();
  return policy.capabilities.map((rule) =>
    authority.grant({
      audience,
      action: rule.action,
      resource: rule.resource,
      constraints: rule.constraint,
      ...(rule.maxUses === undefined ? {} : { maxUses: rule.maxUses }),
      ...(rule.expiresInMs === undefined ? {} : { expiresAt: now + rule.expiresInMs }),
    }),
  );
}

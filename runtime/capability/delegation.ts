import { KernelError } from '../core/errors.js';
import { MAX_MATCH_WORK, resourceCoverCost } from '../core/resource-match.js';
import type { CapRequest } from '../process/process-control.js';
import { attenuationViolation, type CapabilityScope } from './attenuation.js';
import type { CapabilityAuthority } from './authority.js';
import type { SigningKey } from './signing-key.js';

/** One checked delegation, ready to sign for the child's key. */
interface PlannedDelegation {
  readonly parentId: string;
  readonly scope: CapabilityScope;
}

/**
 * Checks every requested capability against what `holder` holds and returns the delegations to make, or
 * throws KernelError E_ESCALATION naming the request and the dimension that is wider than the holder's
 * capability (action, resource, constraints, uses, expiry). Nothing is signed here: a spawn that asks for
 * one capability too many gets none, and no child runs. The glob walks of the resource checks are bounded by
 * MAX_MATCH_WORK over the whole call (each request may be tested against every held capability): above it,
 * E_BAD_ARG, before the walk that would pass it.
 */
export function planDelegations(
  authority: CapabilityAuthority,
  holder: string,
  requests: readonly CapRequest[],
): PlannedDelegation[] {
  const held = authority.list(holder);
  const now = authority.now();
  let work = 0;
  return requests.map((request, index) => {
    const candidates = request.from === undefined ? held : held.filter((summary) => summary.id === request.from);
    if (candidates.length === 0) {
      throw new KernelError('E_ESCALATION', `caps[${index}]: the caller does not hold that capability`);
    }
    let firstViolation: string | undefined;
    for (const summary of candidates) {
      const capability = authority.get(summary.id);
      if (capability === undefined) continue;
      // Compare against what is left of the whole chain: remaining uses and earliest expiry of any link.
      const parent: CapabilityScope = {
        action: capability.action,
        resource: capability.resource,
        constraints: capability.constraints,
        ...(summary.remainingUses === null ? {} : { maxUses: summary.remainingUses }),
        ...(summary.expiresAt === null ? {} : { expiresAt: summary.expiresAt }),
      };
      const maxUses = request.max_uses ?? parent.maxUses;
      const expiresAt = request.expires_in_ms === undefined ? parent.expiresAt : now + request.expires_in_ms;
      const scope: CapabilityScope = {
        action: request.action ?? parent.action,
        resource: request.resource ?? parent.resource,
        constraints: request.constraint ?? parent.constraints ?? {},
        ...(maxUses === undefined ? {} : { maxUses }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      };
      if (scope.resource !== parent.resource) {
        const cost = resourceCoverCost(parent.resource, scope.resource);
        if (work > 0 && work + cost > MAX_MATCH_WORK) {
          throw new KernelError(
            'E_BAD_ARG',
            `caps[${index}]: too costly to check against the caller's capabilities (name the parent with from, or ask for fewer, shorter or less glob-heavy resources)`,
          );
        }
        work += cost;
      }
      const violation = attenuationViolation(parent, scope);
      if (violation === undefined) return { parentId: summary.id, scope };
      firstViolation ??= violation;
    }
    const what = `${request.action ?? '(same action)'} on ${request.resource ?? '(same resource)'}`;
    throw new KernelError(
      'E_ESCALATION',
      `caps[${index}]: ${what} is wider than the caller's capability (${firstViolation ?? 'unknown'})`,
    );
  });
}

/** Signs the planned delegations for `audience`. Throws KernelError with the authority's code on failure. */
export function applyDelegations(
  authority: CapabilityAuthority,
  delegator: SigningKey,
  audience: string,
  plans: readonly PlannedDelegation[],
): void {
  for (const plan of plans) {
    const result = authority.delegate({
      parentId: plan.parentId,
      delegator,
      audience,
      action: plan.scope.action,
      resource: plan.scope.resource,
      ...(plan.scope.constraints === undefined ? {} : { constraints: plan.scope.constraints }),
      ...(plan.scope.maxUses === undefined ? {} : { maxUses: plan.scope.maxUses }),
      ...(plan.scope.expiresAt === undefined ? {} : { expiresAt: plan.scope.expiresAt }),
    });
    if (!result.ok) throw new KernelError(result.code, result.message);
  }
}

/**
 * Whether a requested child capability stays within its parent: spawn and handoff refuse a wider child with
 * E_ESCALATION, and the authority skips the use-time test of a parent that `scopeWithin` says covers its child
 * (authority.ts, Link.gates). That second use makes soundness a safety property: these checks may call a
 * narrower child wider (conservative), never a wider child narrower.
 */
import { type Constraints, constraintsNarrow } from '../core/constraint-match.js';
import { actionPatternCovers, resourcePatternCovers } from '../core/resource-match.js';

/** The parts of a capability that attenuation compares. */
export interface CapabilityScope {
  readonly action: string;
  readonly resource: string;
  readonly constraints?: Constraints;
  readonly maxUses?: number;
  readonly expiresAt?: number;
  readonly notBefore?: number;
}

/** Which part of a child is wider than its parent. */
export type AttenuationViolation = 'action' | 'resource' | 'constraints' | 'maxUses' | 'expiresAt' | 'notBefore';

/**
 * The first part of `child` that is not within `parent`, or undefined when the child is an attenuation:
 * an action and resource pattern covered by the parent's (resource cover is conservative, see
 * `resourcePatternCovers`), every parent constraint kept with no new allowed values, no more uses (a
 * bounded parent needs a bounded child), no later expiry (an expiring parent needs an expiring child) and
 * no earlier not-before. `maxUses` is compared with the parent's `maxUses` as given: pass the parent's
 * remaining uses to compare against those instead. Never throws; malformed patterns count as violations.
 */
export function attenuationViolation(
  parent: CapabilityScope,
  child: CapabilityScope,
): AttenuationViolation | undefined {
  if (!actionPatternCovers(parent.action, child.action)) return 'action';
  if (!resourcePatternCovers(parent.resource, child.resource)) return 'resource';
  if (!constraintsNarrow(parent.constraints ?? {}, child.constraints ?? {})) return 'constraints';
  if (parent.maxUses !== undefined && !(child.maxUses !== undefined && child.maxUses <= parent.maxUses)) {
    return 'maxUses';
  }
  if (parent.expiresAt !== undefined && !(child.expiresAt !== undefined && child.expiresAt <= parent.expiresAt)) {
    return 'expiresAt';
  }
  if (parent.notBefore !== undefined && !(child.notBefore !== undefined && child.notBefore >= parent.notBefore)) {
    return 'notBefore';
  }
  return undefined;
}

/**
 * True when everything `child` allows by action, resource and constraints, `parent` allows too (the first
 * three checks of `attenuationViolation`; counters and windows aside). Sound: never true for a wider child.
 * Never throws.
 */
export function scopeWithin(parent: CapabilityScope, child: CapabilityScope): boolean {
  return (
    actionPatternCovers(parent.action, child.action) &&
    resourcePatternCovers(parent.resource, child.resource) &&
    constraintsNarrow(parent.constraints ?? {}, child.constraints ?? {})
  );
}

/** True when `child` is within `parent` (see `attenuationViolation`). Never throws. */
export function isAttenuation(parent: CapabilityScope, child: CapabilityScope): boolean {
  return attenuationViolation(parent, child) === undefined;
}

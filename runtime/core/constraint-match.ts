/**
 * Argument constraints of a capability, such as `{ method: 'GET' }` or `{ method: ['GET', 'HEAD'] }`.
 *
 * A constraint names a request parameter and the value (or list of values) it must have. A request that
 * leaves a constrained parameter out is judged by the tool's default for it (`defaults`), so a `GET`-only
 * grant allows a request that relies on the tool defaulting to GET. A parameter that is absent from both is
 * refused. Comparison is strict equality on strings, finite numbers and booleans; nothing is coerced or
 * case-folded (the tool must pass the exact value it will act on).
 *
 * Pure (no node:crypto): shared with the standalone token verifier.
 */
import { z } from 'zod';

export type ConstraintScalar = string | number | boolean;
export type ConstraintValue = ConstraintScalar | readonly ConstraintScalar[];
export type Constraints = Readonly<Record<string, ConstraintValue>>;

export const MAX_CONSTRAINTS = 16;
export const MAX_CONSTRAINT_CHOICES = 32;
const MAX_CONSTRAINT_STRING = 256;
const CONSTRAINT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

const scalarSchema = z.union([z.string().max(MAX_CONSTRAINT_STRING), z.number().finite(), z.boolean()]);

/**
 * Zod schema of a constraints object. Refuses own `__proto__` keys and objects with a prototype of their own
 * explicitly because zod's record drops such keys and inherited ones silently, and a dropped constraint would
 * widen what was signed.
 */
export const constraintsSchema = z
  .custom<unknown>((value) => !hasProtoKey(value), { message: 'constraint name __proto__ is reserved' })
  .refine((value) => typeof value !== 'object' || value === null || hasPlainPrototype(value), {
    message: 'constraints must be a plain object (inherited keys would be dropped)',
  })
  .pipe(
    z.record(
      z.string().regex(CONSTRAINT_NAME, 'constraint name must be a letter followed by letters, digits, _ or -'),
      z.union([scalarSchema, z.array(scalarSchema).min(1).max(MAX_CONSTRAINT_CHOICES)]),
    ),
  )
  .refine((value) => Object.keys(value).length <= MAX_CONSTRAINTS, {
    message: `at most ${MAX_CONSTRAINTS} constraints`,
  });

function hasPlainPrototype(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function hasProtoKey(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__');
}

/**
 * True when every constraint is satisfied by the request's params, a missing (or undefined) param taking its
 * value from `defaults`. Never throws; params that are not plain data simply fail to match.
 */
export function constraintsAllow(
  constraints: Constraints,
  params: Readonly<Record<string, unknown>> | undefined,
  defaults: Readonly<Record<string, unknown>> | undefined,
): boolean {
  // Only plain records count: a string or array has own properties too (`length`), which must not satisfy
  // a constraint of that name.
  const given = isRecord(params) ? params : undefined;
  const fallback = isRecord(defaults) ? defaults : undefined;
  for (const name in constraints) {
    if (!Object.hasOwn(constraints, name)) continue;
    const expected = constraints[name]!;
    let actual = given !== undefined && Object.hasOwn(given, name) ? given[name] : undefined;
    if (actual === undefined && fallback !== undefined && Object.hasOwn(fallback, name)) actual = fallback[name];
    if (actual === undefined) return false;
    if (Array.isArray(expected) ? !expected.includes(actual as ConstraintScalar) : actual !== expected) return false;
  }
  return true;
}

/**
 * True when the child's constraints are at least as strict as the parent's: every parent constraint is also
 * on the child, with a set of allowed values inside the parent's. Extra child constraints only narrow.
 * Never throws.
 */
export function constraintsNarrow(parent: Constraints, child: Constraints): boolean {
  // A delegation that leaves the constraints as they are hands on the parent's own object.
  if (parent === child) return true;
  for (const name in parent) {
    if (!Object.hasOwn(parent, name)) continue;
    if (!Object.hasOwn(child, name)) return false;
    const expected = parent[name]!;
    const given = child[name]!;
    if (expected === given) continue;
    // A Set, not `includes` per value: agent-written lists of 32 choices under 16 names, checked against 64
    // held capabilities for each of 64 requests, held a spawn's planning 50 ms (red-team pass 61). Set
    // membership is SameValueZero, as `includes` is.
    const allowed = new Set(choices(expected));
    for (const value of choices(given)) {
      if (!allowed.has(value)) return false;
    }
  }
  return true;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function choices(value: ConstraintValue): readonly ConstraintScalar[] {
  return Array.isArray(value) ? value : [value as ConstraintScalar];
}

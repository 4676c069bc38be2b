import { z } from 'zod';
import { constraintsSchema } from '../runtime/core/constraint-match.js';
import { isGlob, MAX_PATTERN_LENGTH, MAX_REQUESTED_GLOB_LENGTH } from '../runtime/core/resource-match.js';
import { LIMIT_FIELDS } from '../runtime/process/limits.js';
import { NAMESPACE_SEGMENT } from '../runtime/store/namespace-memory.js';

/** Schemas shared by `sys.spawn` and `sys.handoff`. */
export const capRequestSchema = z.strictObject({
  from: z.string().min(1).max(128).optional(),
  action: z.string().min(1).max(128).optional(),
  // An agent-written glob is tested against other resources (its children's, every tool call's): its length
  // bounds that work (MAX_REQUESTED_GLOB_LENGTH). A literal may be as long as any pattern.
  resource: z
    .string()
    .min(1)
    .max(MAX_PATTERN_LENGTH)
    .refine((resource) => resource.length <= MAX_REQUESTED_GLOB_LENGTH || !isGlob(resource), {
      message: `a resource glob (with *, ? or [) must be at most ${MAX_REQUESTED_GLOB_LENGTH} characters`,
    })
    .optional(),
  constraint: constraintsSchema.optional(),
  max_uses: z.int().min(1).max(1_000_000_000).optional(),
  expires_in_ms: z
    .int()
    .min(1)
    .max(10 * 365 * 24 * 3600 * 1000)
    .optional(),
});

export const capRequestsSchema = z.array(capRequestSchema).max(64);

export const budgetSchema = z.partialRecord(z.enum(LIMIT_FIELDS as [string, ...string[]]), z.number());

const SEGMENT = NAMESPACE_SEGMENT;

export const mountSchema = z.strictObject({
  name: z.string().regex(SEGMENT, 'mount name must be a lowercase name of at most 32 characters'),
  prefix: z.string().max(256).optional(),
  mode: z.enum(['ro', 'rw']),
  from: z.string().regex(SEGMENT).optional(),
});

export const childRequestSchema = z
  .strictObject({
    program: z.string().min(1).max(64).optional(),
    code: z.string().min(1).optional(),
    input: z.unknown().optional(),
    caps: capRequestsSchema.optional(),
    budget: budgetSchema.optional(),
    namespace: z.string().regex(SEGMENT, 'namespace must be a lowercase name of at most 32 characters').optional(),
    mounts: z.array(mountSchema).max(16).optional(),
  })
  .refine((request) => (request.program === undefined) !== (request.code === undefined), {
    message: 'exactly one of program and code',
  });

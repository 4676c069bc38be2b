import { z } from 'zod';
import { parseOptions } from '../core/options.js';

/**
 * An agent's budget (docs/architecture.md §6). CPU, wall clock and memory are enforced by the sandbox watchdog; the
 * counted quotas by the kernel as syscalls and tools charge them (see quota.ts). An absent counted limit is
 * unlimited (Infinity).
 */
export interface Limits {
  /** CPU time the agent's isolate may use, including work after `main` returns; children's counts too. */
  readonly cpu_ms: number;
  /** Wall-clock time from spawn to the end of `main`. */
  readonly wall_ms: number;
  /** Heap one isolate may use; a per-isolate cap (a child's may not exceed its parent's), not a pool. */
  readonly memory_mb: number;
  /** Model tokens in and out, and dollars, as tools report them with `ctx.charge`. */
  readonly tokens_in: number;
  readonly tokens_out: number;
  readonly cost_usd: number;
  /** Tool calls (`sys.tool`), the agent's own and its descendants'. */
  readonly tool_calls: number;
  /**
   * Syscall attempts of any kind (refused and malformed ones too, `sys.log` included), the agent's own and
   * its descendants': each costs the kernel work and two audit records.
   */
  readonly syscalls: number;
  /** Agents spawned in the whole subtree below this one. */
  readonly children: number;
  /** Levels of descendants below this agent (0: it may not spawn). */
  readonly depth: number;
  /** Fraction of a limit at which a `warn` event and audit record are emitted, in (0, 1]. */
  readonly warn_at: number;
}

export type LimitField = keyof Limits;

export const DEFAULT_LIMITS: Limits = Object.freeze({
  cpu_ms: 10_000,
  wall_ms: 60_000,
  memory_mb: 128,
  tokens_in: Number.POSITIVE_INFINITY,
  tokens_out: Number.POSITIVE_INFINITY,
  cost_usd: Number.POSITIVE_INFINITY,
  tool_calls: Number.POSITIVE_INFINITY,
  // About 1 KB of audit log per attempt: a runaway loop stops at ~20 MB. Agents that work through more
  // calls than this get a larger budget from their policy or host.
  syscalls: 20_000,
  children: 100,
  depth: 8,
  warn_at: 0.8,
});

const BOUNDS: Record<LimitField, readonly [number, number]> = {
  cpu_ms: [1, 24 * 3600 * 1000],
  wall_ms: [1, 7 * 24 * 3600 * 1000],
  memory_mb: [8, 16 * 1024],
  tokens_in: [0, 1e12],
  tokens_out: [0, 1e12],
  cost_usd: [0, 1e9],
  tool_calls: [0, 1e9],
  syscalls: [0, 1e9],
  children: [0, 100_000],
  depth: [0, 64],
  warn_at: [0.01, 1],
};

/** The fields `resolveLimits` accepts, in a stable order. */
export const LIMIT_FIELDS = Object.freeze(Object.keys(BOUNDS) as LimitField[]);

const boundMessage = (field: LimitField) => `must be between ${BOUNDS[field][0]} and ${BOUNDS[field][1]}`;

/** Host-written limits: any subset of the fields, each a finite number within its bounds. */
export const limitsSchema = z.strictObject(
  Object.fromEntries(
    LIMIT_FIELDS.map((field) => [
      field,
      z.number().min(BOUNDS[field][0], boundMessage(field)).max(BOUNDS[field][1], boundMessage(field)).optional(),
    ]),
  ) as Record<LimitField, z.ZodOptional<z.ZodNumber>>,
);

/** `partial`'s defined fields over `base`, frozen. `partial` must have passed `limitsSchema`. */
export function mergeLimits(
  base: Limits,
  partial: Partial<Record<LimitField, number | undefined>> | undefined,
): Limits {
  if (partial === undefined) return base;
  const out: Record<string, number> = { ...base };
  for (const [key, value] of Object.entries(partial)) if (value !== undefined) out[key] = value;
  return Object.freeze(out as unknown as Limits);
}

/**
 * Merges host-supplied limits over `base`. Throws TypeError for unknown keys or non-numbers (NaN and
 * infinities included) and RangeError for values outside their bounds, naming `argName` and the key.
 */
export function resolveLimits(partial: unknown, base: Limits, argName: string): Limits {
  if (partial === undefined) return base;
  return mergeLimits(base, parseOptions(limitsSchema, partial, argName));
}

/** The bounds of one field, for validating budgets an agent asks for. */
export function limitBounds(field: LimitField): readonly [number, number] {
  return BOUNDS[field];
}

/**
 * What the host hands the kernel (`Kernel.create` options, `kernel.spawn`/`run` requests, `kernel.restore`
 * options): the public types and the zod schemas that check them. A schema is the one statement of what is
 * accepted; `parseOptions` turns its first issue into the TypeError/RangeError host misuse throws, naming
 * the argument and the key. Unknown keys are errors: a misspelt option would otherwise be ignored.
 */
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';
import type { FsyncPolicy } from './audit/file-store.js';
import { checkGrantRule, type GrantRule } from './capability/grant-rule.js';
import { parseOptions } from './core/options.js';
import { EMPTY_LABEL, type Label, makeLabel } from './labels/label.js';
import { type Limits, limitsSchema } from './process/limits.js';
import { MAX_NAMESPACE_LENGTH, NAMESPACE_PATH } from './store/namespace-memory.js';
import type { Tool } from './tool-use/tool-contract.js';

/** Default cap on one payload crossing the boundary, either direction, in UTF-8 bytes (1 MiB). */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
const MIN_PAYLOAD_BYTES = 1024;
const MAX_PAYLOAD_BYTES = 256 * 1024 * 1024;
const MIN_HELD_BYTES = 1024 * 1024;
const MIN_STORED_SHARE_BYTES = 64 * 1024;

/**
 * `maxHeldBytes` when the host sets none. A quarter of V8's heap limit keeps what agents make the kernel hold
 * well clear of a heap-limit abort.
 */
export function defaultMaxHeldBytes(): number {
  return Math.min(1024 ** 3, Math.floor(getHeapStatistics().heap_size_limit / 4));
}

export interface KernelOptions {
  /** Defaults for every agent; each run may override them. */
  readonly limits?: Partial<Limits>;
  /** Cap on one payload crossing the boundary, either direction, in UTF-8 bytes (default 1 MiB). */
  readonly maxPayloadBytes?: number;
  /**
   * Bytes the kernel may keep in its own heap for all agents together, half for what they hold while they live
   * (handles, child results waiting for `join`, pending syscalls) and half for what the in-memory stores keep
   * (without `store`: namespace memory, blobs, snapshots). Default: a quarter of the heap limit, at most 1 GiB.
   */
  readonly maxHeldBytes?: number;
  /**
   * Of the in-memory stores' half of `maxHeldBytes`, what one tenant may hold: its namespace memory, snapshots,
   * blobs and undo records, together. A tenant is a namespace's first segment (`alice` for `alice/worker`), so an
   * agent's children share their parent's. Default: a quarter of that half. Unused with a store directory.
   */
  readonly maxStoredBytesPerTenant?: number;
  /**
   * Of the agents' half of `maxHeldBytes`, what one tenant's agents may hold together (handles, child results
   * waiting for `join`, pending calls, capabilities), so one tree cannot fill it and refuse every other tenant's
   * runs. Default: a quarter of that half.
   */
  readonly maxHeldBytesPerTenant?: number;
  readonly tools?: readonly Tool[];
  /** The policy (a YAML file path or an object): its rules become root capabilities of every top agent. */
  readonly policy?: string | object;
  /**
   * Directory for state that outlives the process (root key, revocations, counters, namespace memory,
   * snapshots, undo records and file labels); in memory if absent.
   */
  readonly store?: string;
  /** Clock for capability validity, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Where the audit log goes: a JSONL file (one writer at a time), or memory when absent. */
  readonly audit?: { readonly file: string; readonly fsync?: FsyncPolicy; readonly checkpointEvery?: number };
  /**
   * Where agent code runs (docs/architecture.md §11). `'process'` (the default): in supervised sandbox-host
   * child processes the kernel can SIGKILL, so a V8 crash, a wedged isolate thread or runaway allocation ends
   * only the agents of that host. `'inline'`: in this process (faster; capabilities, labels, quotas and audit
   * hold, but an agent that crashes V8 takes the process with it). The launcher is chosen by the package
   * entry; the runtime kernel itself does not read these two options.
   */
  readonly isolation?: 'process' | 'inline';
  /** The process tier's supervisor (ignored inline); see README, "Isolation tiers". */
  readonly sandboxHosts?: SandboxHostOptions;
}

/** How the `process` tier runs its sandbox hosts. */
export interface SandboxHostOptions {
  /** Hosts kept started and idle ahead of demand (default 1). */
  readonly warm?: number;
  /** Top-level runs that may share one host at a time (default 1: every run has a process of its own). */
  readonly agentsPerHost?: number;
  /** Agents a host runs before it is replaced (default 100). */
  readonly recycleAfter?: number;
  /** Resident-memory bound per host in MB (default: the host's idle size plus what its agents may use). */
  readonly rssLimitMb?: number;
  /** How long a kill may go unconfirmed before the host is SIGKILLed, in ms (default 100; the k-th of a burst, k times it). */
  readonly killGraceMs?: number;
}

export interface SpawnRequest {
  /** The agent module's source; exactly one of `code`, `file` and `program`. */
  readonly code?: string;
  /** Path of the agent module on the host. */
  readonly file?: string;
  /** A program registered with `kernel.programs.add`. */
  readonly program?: string;
  /** The agent's namespace (default `default`): its memory and its audit records. */
  readonly namespace?: string;
  /** Tags of the input (for example ['email'] for text from an inbox): the agent's label starts there. */
  readonly label?: readonly string[];
  /**
   * Start the agent as a child of this live agent: its budget is carved from the parent's remainder
   * (`limits` asks for part of it), it holds only `caps` (not the policy's rules), its label starts at the
   * parent's, and its namespace is under the parent's (`namespace` then names one level). An unknown or
   * ended parent is KernelError E_NOT_FOUND.
   */
  readonly parent?: string;
  /** Passed to `main`; must be JSON-serializable. */
  readonly input?: unknown;
  readonly limits?: Partial<Limits>;
  /** Root capabilities for this agent in addition to the policy's. */
  readonly caps?: readonly GrantRule[];
  /**
   * How a top agent holds the policy's rules. `'per-run'` (the default): fresh root grants, so `max_uses` counts
   * and `expires_in` runs per run. `'shared'`: delegations of the host's own grants (those `kernel.submit` uses),
   * so every use debits the same counters and the kernel's start is when `expires_in` began, across every run
   * started so and the host's own calls (`isokernel mcp serve` runs `execute` so: a session must not reset a
   * rule's uses by running code). Not with `parent`.
   */
  readonly policyGrants?: 'per-run' | 'shared';
}

/** Options of `kernel.restore`. */
export interface RestoreOptions {
  /** Passed to `main`; must be JSON-serializable. */
  readonly input?: unknown;
  readonly limits?: Partial<Limits>;
  /** Where the snapshot's memory is copied and the agent runs (default a fresh `restored-…`, a tenant of its own). */
  readonly namespace?: string;
  /** Root capabilities in addition to the policy's (a snapshot never grants any). */
  readonly caps?: readonly GrantRule[];
}

const namespaceSchema = z
  .string()
  .max(MAX_NAMESPACE_LENGTH, `must be at most ${MAX_NAMESPACE_LENGTH} characters`)
  .regex(NAMESPACE_PATH, 'must be lowercase names separated by "/"');
const capsSchema = z.array(z.unknown());
const fn = <T>(what: string) => z.custom<T>((value) => typeof value === 'function', `must be ${what}`);

const between = (min: number, max: number) =>
  z
    .int(`must be an integer between ${min} and ${max}`)
    .min(min, `must be an integer between ${min} and ${max}`)
    .max(max, `must be an integer between ${min} and ${max}`)
    .optional();

const sandboxHostsSchema = z.strictObject({
  warm: between(0, 64),
  agentsPerHost: between(1, 1024),
  recycleAfter: between(1, 1_000_000),
  rssLimitMb: between(64, 1024 * 1024),
  killGraceMs: between(1, 60_000),
});

const kernelOptionsSchema = z.strictObject({
  limits: limitsSchema.optional(),
  maxPayloadBytes: z
    .int(`must be an integer between ${MIN_PAYLOAD_BYTES} and ${MAX_PAYLOAD_BYTES}`)
    .min(MIN_PAYLOAD_BYTES, `must be an integer between ${MIN_PAYLOAD_BYTES} and ${MAX_PAYLOAD_BYTES}`)
    .max(MAX_PAYLOAD_BYTES, `must be an integer between ${MIN_PAYLOAD_BYTES} and ${MAX_PAYLOAD_BYTES}`)
    .optional(),
  maxHeldBytes: z
    .int(`must be an integer of at least ${MIN_HELD_BYTES}`)
    .min(MIN_HELD_BYTES, `must be an integer of at least ${MIN_HELD_BYTES}`)
    .optional(),
  maxStoredBytesPerTenant: z
    .int(`must be an integer of at least ${MIN_STORED_SHARE_BYTES}`)
    .min(MIN_STORED_SHARE_BYTES, `must be an integer of at least ${MIN_STORED_SHARE_BYTES}`)
    .optional(),
  maxHeldBytesPerTenant: z
    .int(`must be an integer of at least ${MIN_STORED_SHARE_BYTES}`)
    .min(MIN_STORED_SHARE_BYTES, `must be an integer of at least ${MIN_STORED_SHARE_BYTES}`)
    .optional(),
  // Each tool is checked by the registry, which names the tool.
  tools: z.array(z.unknown()).optional(),
  // The policy loader checks the content and reports file:line:col.
  policy: z
    .union([z.string().min(1), z.custom<object>((value) => value !== null && typeof value === 'object')], {
      error: 'must be a policy file path or a policy object',
    })
    .optional(),
  store: z.string('must be a directory path').min(1, 'must be a directory path').optional(),
  now: fn<() => number>('a function returning ms since the epoch').optional(),
  audit: z
    .strictObject({
      file: z.string('must be a file path').min(1, 'must be a file path'),
      fsync: z.enum(['always', 'interval', 'never']).optional(),
      // The audit log checks the range and names the option.
      checkpointEvery: z.number().optional(),
    })
    .optional(),
  isolation: z.enum(['process', 'inline'], "must be 'process' or 'inline'").optional(),
  sandboxHosts: sandboxHostsSchema.optional(),
});

/** Kernel options after validation. */
export type CheckedKernelOptions = z.output<typeof kernelOptionsSchema>;

/** Validates `Kernel.create` options. Throws TypeError/RangeError naming `options.<key>`. */
export function parseKernelOptions(options: unknown): CheckedKernelOptions {
  return parseOptions(kernelOptionsSchema, options, 'options');
}

const spawnRequestSchema = z
  .strictObject({
    code: z.string().optional(),
    file: z.string().min(1, 'must be a path').optional(),
    program: z.string('must be a program name').optional(),
    namespace: namespaceSchema.optional(),
    label: z.unknown().optional(),
    parent: z.string('must be an agent id').optional(),
    input: z.unknown().optional(),
    limits: limitsSchema.optional(),
    caps: capsSchema.optional(),
    policyGrants: z.enum(['per-run', 'shared'], 'must be "per-run" or "shared"').optional(),
  })
  .refine(
    (request) => [request.code, request.file, request.program].filter((value) => value !== undefined).length === 1,
    'must have exactly one of code, file and program',
  )
  .refine((request) => request.parent === undefined || request.policyGrants === undefined, {
    message: "is for top agents: a child holds only its caps, never the policy's rules",
    path: ['policyGrants'],
  });

/** A spawn request after validation: its label built and its capability rules checked. */
export type CheckedSpawnRequest = Omit<z.output<typeof spawnRequestSchema>, 'label' | 'caps'> & {
  readonly label: Label;
  readonly caps: readonly GrantRule[];
};

/** Validates a `kernel.spawn`/`run` request. Throws TypeError/RangeError naming `request.<key>`. */
export function parseSpawnRequest(request: unknown): CheckedSpawnRequest {
  const checked = parseOptions(spawnRequestSchema, request, 'request');
  const caps = checkedCaps(checked.caps, 'request.caps');
  const label = checked.label === undefined ? EMPTY_LABEL : makeLabel(checked.label, 'request.label');
  return { ...checked, label, caps };
}

const restoreOptionsSchema = z.strictObject({
  input: z.unknown().optional(),
  limits: limitsSchema.optional(),
  namespace: namespaceSchema.optional(),
  caps: capsSchema.optional(),
});

/** Restore options after validation. */
export type CheckedRestoreOptions = Omit<z.output<typeof restoreOptionsSchema>, 'caps'> & {
  readonly caps: readonly GrantRule[];
};

/** Validates `kernel.restore` options. Throws TypeError/RangeError naming `options.<key>`. */
export function parseRestoreOptions(options: unknown): CheckedRestoreOptions {
  const checked = parseOptions(restoreOptionsSchema, options, 'options');
  return { ...checked, caps: checkedCaps(checked.caps, 'options.caps') };
}

// Capability rules keep their own check (grant-rule.ts), shared with grant and delegate, which knows the
// policy's snake_case spellings and says which field was meant.
function checkedCaps(caps: readonly unknown[] | undefined, name: string): readonly GrantRule[] {
  if (caps === undefined) return [];
  for (const [index, rule] of caps.entries()) checkGrantRule(rule, `${name}[${index}]`);
  return caps as readonly GrantRule[];
}

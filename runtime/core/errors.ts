/**
 * The kernel's error codes (docs/architecture.md §9). The same codes appear in the host API, in guest errors and in
 * the audit log. Messages are fixed strings chosen by the kernel: they may name a syscall, tool, limit or
 * rule, but never carry host paths, stacks, token bytes or secret values.
 */
export const ERROR_CODES = [
  'E_CAP_DENIED',
  'E_CAP_EXPIRED',
  'E_CAP_EXHAUSTED',
  'E_CAP_REVOKED',
  'E_ESCALATION',
  'E_TAINT',
  'E_QUOTA',
  'E_BAD_ARG',
  'E_NO_TOOL',
  'E_TOOL_FAILED',
  'E_KILLED',
  'E_BAD_CODE',
  'E_NOT_FOUND',
  'E_BAD_SNAPSHOT',
  'E_AGENT_FAILED',
  'E_INTERNAL',
  // The sandbox host process running the agent died (abort, signal, exit, IPC failure) or was killed by the
  // kernel (memory bound, protocol violation): docs/architecture.md §11.
  'E_CRASHED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

/** True when `value` is one of the kernel's error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && CODE_SET.has(value);
}

const REFUSALS: ReadonlySet<string> = new Set<ErrorCode>([
  'E_CAP_DENIED',
  'E_CAP_EXPIRED',
  'E_CAP_EXHAUSTED',
  'E_CAP_REVOKED',
  'E_ESCALATION',
  'E_TAINT',
  'E_QUOTA',
  'E_BAD_ARG',
  'E_NO_TOOL',
  'E_NOT_FOUND',
  'E_BAD_CODE',
]);

/**
 * True for the codes that mean the kernel refused the call (no capability, a label, a quota, a malformed or
 * unknown request, code it will not run), as opposed to a call that ran and failed. The audit log's `denied`
 * status and the CLI's "refused" are this one rule.
 */
export function isRefusal(code: string): boolean {
  return REFUSALS.has(code);
}

/** The error shape every agent-triggerable failure is reported as. */
export interface KernelErrorInfo {
  readonly code: ErrorCode;
  readonly message: string;
}

/**
 * The base class of every error isokernel throws on purpose (KernelError, PolicyError, AuditStoreError),
 * so a host can tell the kernel's refusals from its own bugs with one `instanceof`. Host misuse (a wrong
 * argument type, a value out of range) is a plain TypeError or RangeError instead, as in the platform.
 * Subclasses set `name` to their own class name.
 */
export class IsokernelError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IsokernelError';
  }
}

/**
 * An error the kernel raises on purpose with one of the error codes. Its message is safe to show to an
 * agent by construction: code that creates one must pass only kernel-chosen text. Anything else that
 * escapes a handler is reported as E_INTERNAL with a fixed message (see `toErrorInfo`).
 */
export class KernelError extends IsokernelError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'KernelError';
    this.code = code;
  }
}

/**
 * A refusal by a bound whose state data of some label sized (the kernel's held-memory pool, a namespace's or a
 * tenant's share of the store): whether it refuses is an observation of that data, so whoever receives the
 * refusal takes `observed` into its label (syscalls/dispatch.ts, syscalls/tool.ts). Red-team pass 49 filled such
 * a bound to the byte and read a handle's size, and so a vault PIN, with a clean label.
 */
export class ObservedRefusal extends KernelError {
  /** A label (sorted tags, as runtime/labels/label.ts makes them). */
  readonly observed: readonly string[];

  constructor(code: ErrorCode, message: string, observed: readonly string[]) {
    super(code, message);
    this.observed = observed;
  }
}

/** The label a thrown value carries for whoever receives it: an ObservedRefusal's, else none. */
export function observedBy(thrown: unknown): readonly string[] {
  return thrown instanceof ObservedRefusal ? thrown.observed : [];
}

/** Maps any thrown value to a safe error record: KernelErrors keep their text, anything else is hidden. */
export function toErrorInfo(thrown: unknown, fallback: ErrorCode = 'E_INTERNAL'): KernelErrorInfo {
  if (thrown instanceof KernelError) return { code: thrown.code, message: thrown.message };
  return { code: fallback, message: fallback === 'E_INTERNAL' ? 'internal kernel error' : 'operation failed' };
}

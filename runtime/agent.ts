import type { ToolRegistry } from '../tools/registry.js';
import type { AuditLog } from './audit-log.js';
import type { CapabilityAuthority } from './capability-authority.js';
import type { ErrorCode, KernelErrorInfo } from './errors.js';
import { HandleTable } from './handles.js';
import type { SigningKey } from './keys.js';
import type { LabelRules } from './label-rules.js';
import { EMPTY_LABEL, type Label } from './labels.js';
import type { Limits } from './limits.js';
import { encodePublicKey } from './public-key.js';

/** What an agent used; reported with every run result. */
export interface Usage {
  cpu_ms: number;
  wall_ms: number;
  heap_peak_mb: number;
  syscalls: number;
}

export type RunResult =
  | { readonly ok: true; readonly value: unknown; readonly usage: Usage }
  | { readonly ok: false; readonly error: KernelErrorInfo; readonly usage: Usage };

/** Events the kernel emits for observers; the audit log (a later layer) records the same facts. */
export type KernelEvent =
  | { type: 'syscall'; agent: string; syscall: string; code: ErrorCode | null; refused: boolean }
  | { type: 'exit'; agent: string; result: RunResult }
  | { type: 'log'; agent: string; text: string }
  | { type: 'catastrophe'; agent: string };

/** The kernel services a syscall handler may use on behalf of an agent. */
export interface KernelServices {
  readonly tools: ToolRegistry;
  readonly authority: CapabilityAuthority;
  readonly audit: AuditLog;
  readonly labels: LabelRules;
  readonly maxPayloadBytes: number;
  emit(event: KernelEvent): void;
}

export type AgentState = 'starting' | 'running' | 'ended';

/**
 * The kernel's record of one agent. Syscalls find their caller through the session bound to the isolate
 * the call arrived on, never through anything in the call's arguments.
 */
export class AgentSession {
  readonly id: string;
  /** The agent's Ed25519 identity; the private half never leaves the host. */
  readonly key: SigningKey;
  /** `key`'s public half, base64url: the holder of the agent's capabilities. */
  readonly publicKey: string;
  readonly limits: Limits;
  readonly services: KernelServices;
  /** The namespace the agent's records and memory live under. */
  readonly namespace: string;
  /** The spawning agent's id; null for an agent the host started. */
  readonly parent: string | null;
  state: AgentState = 'starting';
  /** The floating context label: the join of everything the agent has read. Only ever rises. */
  label: Label = EMPTY_LABEL;
  /** Values kept in the kernel for this agent, each with its own label. */
  readonly handles = new HandleTable();
  /** Every syscall attempt, including refused and malformed ones. */
  syscalls = 0;
  readonly #abort = new AbortController();

  constructor(
    id: string,
    key: SigningKey,
    limits: Limits,
    services: KernelServices,
    placement: { namespace: string; parent: string | null } = { namespace: 'default', parent: null },
  ) {
    this.id = id;
    this.namespace = placement.namespace;
    this.parent = placement.parent;
    this.key = key;
    this.publicKey = encodePublicKey(key.publicKey);
    this.limits = limits;
    this.services = services;
  }

  /** Aborted when the agent ends, so long-running tools can stop work nobody will read. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Marks the agent ended: every later syscall is refused with E_KILLED. Idempotent. */
  end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.#abort.abort();
  }
}

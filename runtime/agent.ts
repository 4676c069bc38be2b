import type { ToolRegistry } from '../tools/registry.js';
import type { AuditLog } from './audit-log.js';
import type { CapabilityAuthority } from './capability-authority.js';
import type { ErrorCode, KernelErrorInfo } from './errors.js';
import { HandleTable } from './handles.js';
import type { SigningKey } from './keys.js';
import type { LabelRules } from './label-rules.js';
import { EMPTY_LABEL, type Label } from './labels.js';
import type { Limits } from './limits.js';
import type { Mount, NamespaceMemory } from './namespace-memory.js';
import type { ProcessControl } from './process-control.js';
import { encodePublicKey } from './public-key.js';
import type { Quota } from './quota.js';
import type { ToolEnvironment } from './tool-context.js';

/** What an agent used; reported with every run result. */
export interface Usage {
  cpu_ms: number;
  wall_ms: number;
  heap_peak_mb: number;
  syscalls: number;
  /** Counted quotas of the agent and its descendants (tokens, dollars, tool calls, children spawned). */
  tokens_in: number;
  tokens_out: number;
  cost_usd: number;
  tool_calls: number;
  children: number;
}

export type RunResult =
  | { readonly ok: true; readonly value: unknown; readonly usage: Usage; readonly label?: readonly string[] }
  | { readonly ok: false; readonly error: KernelErrorInfo; readonly usage: Usage; readonly label?: readonly string[] };

/** Events the kernel emits for observers; the audit log (a later layer) records the same facts. */
export type KernelEvent =
  | { type: 'syscall'; agent: string; syscall: string; code: ErrorCode | null; refused: boolean }
  | { type: 'exit'; agent: string; result: RunResult }
  | { type: 'log'; agent: string; text: string }
  | { type: 'catastrophe'; agent: string }
  | { type: 'spawn'; agent: string; parent: string | null; program: string }
  | { type: 'warn'; agent: string; limit: string; used: number; max: number };

/** The kernel services a syscall handler may use on behalf of an agent. */
export interface KernelServices {
  readonly tools: ToolRegistry;
  readonly authority: CapabilityAuthority;
  readonly audit: AuditLog;
  readonly labels: LabelRules;
  readonly maxPayloadBytes: number;
  /** What tool calls draw on: vault, blobs, labels kept for files, undo records. */
  readonly toolEnv: ToolEnvironment;
  /** Spawn, join, kill, handoff and snapshots for agents. */
  readonly processes: ProcessControl;
  readonly memory: NamespaceMemory;
  emit(event: KernelEvent): void;
}

/** Where an agent sits in the tree and what it starts with. */
export interface Placement {
  readonly namespace: string;
  readonly parent: string | null;
  /** The program's display name (a registered name, or the file's base name). */
  readonly program: string;
  /** The SHA-256 of the program's source: what snapshots name. */
  readonly programId: string;
  readonly mounts: ReadonlyMap<string, Mount>;
  /** The state a restored agent reads with `sys.restored()`; undefined when not restored. */
  readonly restored?: unknown;
  readonly depth: number;
}

const ROOT_PLACEMENT: Placement = {
  namespace: 'default',
  parent: null,
  program: 'agent.js',
  programId: '',
  mounts: new Map(),
  depth: 0,
};

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
  readonly placement: Placement;
  /** The agent's budget and use; charges reach every ancestor. Set by the kernel before launch. */
  quota: Quota | undefined;
  /** Ids of the children this agent spawned (live or ended), for join and kill. */
  readonly children = new Set<string>();
  state: AgentState = 'starting';
  /** The floating context label: the join of everything the agent has read. Only ever rises. */
  label: Label = EMPTY_LABEL;
  /** Values kept in the kernel for this agent, each with its own label. */
  readonly handles = new HandleTable();
  /** Every syscall attempt, including refused and malformed ones. */
  syscalls = 0;
  readonly #abort = new AbortController();
  #cpuReported = 0;

  constructor(
    id: string,
    key: SigningKey,
    limits: Limits,
    services: KernelServices,
    placement: Placement = ROOT_PLACEMENT,
  ) {
    this.id = id;
    this.placement = placement;
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

  /**
   * Charges CPU time the isolate used since the last report to the agent's quota and every ancestor's (a
   * crossing ends whichever agent's limit it is). Never throws: it runs on the watchdog's timer.
   */
  reportCpu(totalMs: number): void {
    const delta = totalMs - this.#cpuReported;
    try {
      this.quota?.checkWall();
      if (!(delta > 0)) return;
      this.#cpuReported = totalMs;
      this.quota?.charge('cpu_ms', delta);
    } catch {
      // E_QUOTA: the quota's hook has already ended the agent whose limit was crossed.
    }
  }

  /** Marks the agent ended: every later syscall is refused with E_KILLED. Idempotent. */
  end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.#abort.abort();
  }
}

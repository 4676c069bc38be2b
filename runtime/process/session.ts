import type { AuditSubject } from '../audit/attempt.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { CapabilityAuthority } from '../capability/authority.js';
import type { SigningKey } from '../capability/signing-key.js';
import { KernelError, observedBy } from '../core/errors.js';
import { encodePublicKey } from '../core/public-key.js';
import { HandleTable } from '../labels/handles.js';
import { EMPTY_LABEL, joinLabels, type Label, labelLeq } from '../labels/label.js';
import type { LabelRules } from '../labels/label-rules.js';
import type { Meter, Mount, NamespaceMemory } from '../store/namespace-memory.js';
import { tenantOf } from '../store/store-shares.js';
import type { ToolEnvironment } from '../tool-use/tool-context.js';
import type { ToolRegistry } from '../tool-use/tool-contract.js';
import { ToolSlots } from '../tool-use/tool-slots.js';
import type { CallsInFlight } from './calls-in-flight.js';
import { estimateBytes, type HeldMemory } from './held-memory.js';
import type { Limits } from './limits.js';
import type { ChildOutcome, ChildRequest } from './process-control.js';
import type { Quota } from './quota.js';
import type { KernelEvent } from './run-result.js';
import { WakeTimer } from './wake-timer.js';

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
  /** The syscalls whose reply is still to come: `close` waits a while for them (calls-in-flight.ts). */
  readonly calls: CallsInFlight;
  emit(event: KernelEvent): void;
}

/**
 * The process-model operations syscalls reach the kernel through . Each throws KernelError with a
 * code from docs/architecture.md §9 for anything the calling agent got wrong or may not do.
 */
export interface ProcessControl {
  /** Starts a child of `parent`; returns its id. */
  spawn(parent: AgentSession, request: ChildRequest): string;
  /** Resolves with a descendant's outcome once it ends; E_NOT_FOUND for anything else. */
  join(parent: AgentSession, id: string): Promise<ChildOutcome>;
  /** Ends a descendant and its own descendants; E_NOT_FOUND for anything else. */
  kill(parent: AgentSession, id: string): void;
  /** Freezes the agent's state into the snapshot store; resolves to the content id. */
  snapshot(session: AgentSession, state: unknown): Promise<string>;
  /** The audit records of the namespaces the agent may see (its own and its mounts'), newest last. */
  auditRecords(session: AgentSession, options: { after?: number; limit: number }): unknown[];
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

/** What one pending syscall is held as (see `AgentSession.holdPending`). */
export const PENDING_SYSCALL_BYTES = 8 * 1024;

const noop = (): void => {};

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
  /** The namespace's first segment: whose share of the in-memory store the agent draws on (StoreShares). */
  readonly tenant: string;
  /** The spawning agent's id; null for an agent the host started. */
  readonly parent: string | null;
  /** Who the agent is in the audit log. */
  readonly subject: AuditSubject;
  /**
   * Where the agent runs and what it started from. Its restored state is dropped when the agent ends: a sandbox host
   * keeps ended sessions to refuse late calls, and with them every restored state, uncharged (review 138: about
   * 500 KB a restore of a large state, up to the 100 agents a host serves before it retires).
   */
  placement: Placement;
  /** The agent's budget and use; charges reach every ancestor. Set by the kernel before launch. */
  quota: Quota | undefined;
  /** Ids of the children this agent spawned (live or ended), for join and kill. */
  readonly children = new Set<string>();
  state: AgentState = 'starting';
  /** The floating context label: the join of everything the agent has read. Only ever rises. */
  label: Label = EMPTY_LABEL;
  /**
   * Bytes the kernel holds for this agent (handles, buffered child results), against its memory_mb and the
   * kernel's bound. Set by the kernel before launch; undefined for a session the kernel does not meter.
   */
  held: HeldMemory | undefined;
  /** Values kept in the kernel for this agent, each with its own label; each one's size is held. */
  readonly handles = new HandleTable((value, label) => {
    // Sizing the value, and all the kernel's later work on it, is time charged to this agent's cpu_ms.
    this.worked(label);
    return this.held?.holdValue(value, label);
  });
  /** Every syscall attempt, including refused and malformed ones. */
  syscalls = 0;
  /**
   * The agent tree's calls of tools with a `maxInFlight` bound, running and waiting (syscalls/tool.ts): its
   * own for a top agent; the kernel gives a child its parent's before launch.
   */
  toolSlots = new ToolSlots();
  /** The kernel's own time on this agent's syscalls so far, in ms (charged to cpu_ms). */
  kernelMs = 0;
  /** The labels of data the kernel worked on for this agent without the agent reading it (see `worked`). */
  #worked: Label = EMPTY_LABEL;
  /** The agent's one host timer: wakes the guest's own timer queue (setTimeout and friends). */
  readonly wake = new WakeTimer();
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
    this.tenant = tenantOf(placement.namespace);
    this.parent = placement.parent;
    this.subject = Object.freeze({ id, namespace: placement.namespace, parent: placement.parent });
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

  /**
   * Counts one syscall attempt against the `syscalls` budget of the agent and its ancestors. False when the
   * budget is crossed (the quota's hook has then ended the agent whose budget it was). Never throws.
   */
  countSyscall(): boolean {
    try {
      this.quota?.charge('syscalls', 1);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The kernel's time on this agent's syscalls (kernel_ms, cpu_ms) may now depend on data labelled `label` that the
   * agent holds unread (a handle's value, a tool's result on its way into one): the reports of its usage carry it
   * (Quota.spentOn), its own label does not rise. Never throws.
   */
  worked(label: Label): void {
    if (label.length === 0 || labelLeq(label, this.#worked)) return;
    this.#worked = joinLabels(this.#worked, label);
    this.quota?.spentOn(label);
  }

  /**
   * The label of a host report of this agent's usage (run result, `exit` event, `kernel.agents()`): its own, the
   * labels of every use its usage counts (own-budget descendants' included) and of what the kernel worked on for it.
   */
  usageLabel(): Label {
    const label = joinLabels(this.label, this.#worked);
    return this.quota === undefined ? label : joinLabels(label, this.quota.spentLabel());
  }

  /**
   * Charges `ms` of the kernel's own time on one of this agent's syscalls to its cpu_ms (and every
   * ancestor's); crossing the limit ends the agent whose limit it is. Never throws: it runs on the syscall
   * path after the reply is decided.
   */
  chargeKernelTime(ms: number): void {
    if (!(ms > 0)) return;
    this.kernelMs += ms;
    try {
      this.quota?.charge('cpu_ms', ms);
    } catch {
      // E_QUOTA: the quota's hook has already ended the agent whose limit was crossed.
    }
  }

  /**
   * Runs `call` and charges the kernel time of its synchronous part (until it returns, or until its promise
   * first awaits) like `chargeKernelTime`: for the kernel's work that runs after an await inside a syscall
   * (a write queue, a snapshot's encoding), which the dispatcher's clock pair does not see. Returns what
   * `call` returns and rethrows what it throws.
   */
  readonly metered: Meter = (call) => {
    const started = performance.now();
    try {
      return call();
    } finally {
      this.chargeKernelTime(performance.now() - started);
    }
  };

  /**
   * `metered` for work whose only product is this agent's reply (parsing a value it read): refused with E_KILLED
   * once the agent has ended, as nobody will read it. Red-team pass 82: an agent fired 200 reads of 900 KB and
   * returned, and the kernel parsed them all after its end, 25-30 times its cpu_ms, stalling every tenant 7-9 s.
   */
  readonly meteredReply: Meter = (call) => {
    if (this.state === 'ended') throw new KernelError('E_KILLED', 'the agent has ended');
    return this.metered(call);
  };

  /**
   * Holds the estimated size of a pending syscall's decoded arguments, which the kernel keeps until the call
   * settles (1 MiB of nested arrays is tens of MB of heap), unless the flat charge of every pending call covers
   * them; returns what gives it back. Measure the arguments as decoded, before handles are substituted: a
   * handle's value is held by the handle table already. `copies`: how many times the kernel keeps them (2 when
   * handles were substituted into a copy). Throws KernelError E_QUOTA (see HeldMemory.hold).
   */
  holdArguments(value: unknown, label: Label, copies = 1): () => void {
    const held = this.held;
    if (held === undefined) return noop;
    const bytes = copies * estimateBytes(value, held.limit + 1);
    if (bytes <= PENDING_SYSCALL_BYTES) return noop;
    held.hold(bytes, label);
    return () => held.release(bytes);
  }

  /**
   * Holds what a syscall whose reply comes later keeps in the kernel meanwhile (its audit attempt, tool
   * context, closures, then its reply: about 6.5 KB measured for a tool call, held as PENDING_SYSCALL_BYTES).
   * Returns a function that gives it back when the call settles. Crossing memory_mb ends the agent (the call
   * goes on, unheld, and its reply reaches nobody); a full kernel pool leaves it unheld, and the agent takes the
   * refusal's label. Never throws.
   */
  holdPending(): () => void {
    const held = this.held;
    if (held === undefined) return noop;
    try {
      // How many calls are pending is the agent's choice: what the holds move (its tenant's share, the pool)
      // carries its label (red-team pass 76: a labelled child's 8·v pending calls spelled a byte to its clean
      // parent, who counted the handles its tenant's share still took).
      held.hold(PENDING_SYSCALL_BYTES, this.label);
    } catch (error) {
      // Whether the pool had room depends on everything it holds, and what is held decides a later memory_mb
      // end (red-team pass 64: a clean parent read another tenant's labelled holdings from which of its
      // children a burst of pending calls ended).
      this.label = joinLabels(this.label, observedBy(error));
      return noop;
    }
    return () => held.release(PENDING_SYSCALL_BYTES);
  }

  /** Marks the agent ended: every later syscall is refused with E_KILLED. Idempotent. */
  end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.wake.cancel();
    this.#abort.abort();
    if (this.placement.restored !== undefined) {
      const { restored: _dropped, ...rest } = this.placement;
      this.placement = rest;
    }
  }
}

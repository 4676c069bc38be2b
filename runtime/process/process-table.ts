import { randomUUID } from 'node:crypto';
import { Attempt } from '../audit/attempt.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditView } from '../audit/audit-view.js';
import { applyDelegations, planDelegations } from '../capability/delegation.js';
import { SigningKey } from '../capability/signing-key.js';
import { type ErrorCode, KernelError, ObservedRefusal, observedBy } from '../core/errors.js';
import { jsonWithin } from '../core/payload-size.js';
import { EMPTY_LABEL, holdsSecret, joinLabels, type Label } from '../labels/label.js';
import type { BlobStore } from '../store/blob-store.js';
import {
  checkKey,
  freshNamespaceSegment,
  MAX_NAMESPACE_LENGTH,
  type MemoryEntry,
  type Mount,
  type MountRequest,
  type NamespaceMemory,
} from '../store/namespace-memory.js';
import type { SnapshotBody, SnapshotStore } from '../store/snapshot-store.js';
import { tenantOf } from '../store/store-shares.js';
import type { AgentLauncher, AgentProcess } from './agent-launcher.js';
import { estimateBytes, HeldMemory, type HeldShares, MEMORY_EXCEEDED } from './held-memory.js';
import type { Limits } from './limits.js';
import type { ChildOutcome, ChildRequest } from './process-control.js';
import { type AgentSource, loadAgentSource, type ProgramRegistry, programId } from './programs.js';
import { COUNTED_FIELDS, type CountedField, ownFields, Quota, type QuotaUse } from './quota.js';
import type { RunResult, Usage } from './run-result.js';
import { AgentSession, type KernelServices, type ProcessControl } from './session.js';

const MiB = 1024 * 1024;

/** The most namespace memory (keys and JSON text, in characters) one snapshot covers. */
export const MAX_SNAPSHOT_MEMORY_BYTES = 4 * 1024 * 1024;

/** Everything needed to start one agent, top-level or child. */
export interface StartSpec {
  readonly code: string;
  /** Display name: a registered program's name or a file's base name. */
  readonly program: string;
  readonly inputJson: string;
  readonly limits: Limits;
  readonly parent: AgentSession | undefined;
  readonly namespace: string;
  readonly mounts: ReadonlyMap<string, Mount>;
  readonly label: Label;
  readonly restored?: unknown;
  /** Counted use carried over from a snapshot. */
  readonly usage?: Partial<QuotaUse>;
  /** The counted fields the child's budget is its own for (`ownFields` of its request; quota.ts). */
  readonly own?: readonly CountedField[];
  /** Gives the new agent its capabilities; throwing aborts the start (nothing runs). */
  grant(session: AgentSession): void;
}

/** A live agent as `kernel.agents()` lists it. */
export interface AgentInfo {
  readonly id: string;
  readonly parent: string | null;
  readonly program: string;
  readonly namespace: string;
  readonly state: string;
  /** The agent's label joined with the labels of the use `usage` counts (its descendants' on budgets of their own). */
  readonly label: readonly string[];
  readonly usage: QuotaUse & { wall_ms: number; syscalls: number };
}

interface Live {
  readonly session: AgentSession;
  readonly process: AgentProcess;
  readonly code: string;
}

/** The dependencies of a process table; `services` is read when an agent starts. */
export interface ProcessTableDeps {
  readonly launcher: AgentLauncher;
  readonly services: () => KernelServices;
  readonly programs: ProgramRegistry;
  readonly memory: NamespaceMemory;
  readonly blobs: BlobStore;
  readonly snapshots: SnapshotStore;
  readonly auditView: AuditView;
  readonly audit: AuditLog;
  /** What the kernel may hold in its heap for all agents together (handles, buffered results, stores). */
  readonly held: HeldShares;
}

/**
 * The tree of agents (docs/architecture.md §3): starts agents, keeps parent/child links, ends subtrees, and answers the
 * process syscalls. Invariants: a live agent's parent is live (a parent's end kills its children at once);
 * every agent's quota is a child of its parent's; children get only delegated attenuations of their
 * parent's capabilities.
 */
export class ProcessTable implements ProcessControl {
  readonly #deps: ProcessTableDeps;
  readonly #live = new Map<string, Live>();
  /** Outcomes of agents whose parent is still live, for `join`. */
  readonly #outcomes = new Map<string, Promise<ChildOutcome>>();
  /**
   * Who spawned whom, ended agents included, for every tree whose root is live: `kill` answers the same for
   * every id ever spawned in the caller's subtree whether it still runs or not (see `kill`). An entry is
   * dropped with its tree's root, so what is kept for a tree is bounded by its root's `children` quota (a
   * spawn anywhere below counts against every ancestor's), the same bound as the `children` sets of its
   * sessions, and each entry is a few ids.
   */
  readonly #lineage = new Map<string, { readonly parent: string | null; readonly root: string }>();
  /** The ids in each live root's tree, to drop from `#lineage` when the root ends. */
  readonly #trees = new Map<string, string[]>();

  constructor(deps: ProcessTableDeps) {
    this.#deps = deps;
  }

  /** Starts an agent. Throws KernelError (or the grant's error) before anything runs when it cannot start. */
  start(spec: StartSpec): { id: string; session: AgentSession; result: Promise<RunResult> } {
    const id = randomUUID();
    const services = this.#deps.services();
    const parent = spec.parent;
    const session = new AgentSession(id, SigningKey.generate(), spec.limits, services, {
      namespace: spec.namespace,
      parent: parent?.id ?? null,
      program: spec.program,
      programId: programId(spec.code),
      mounts: spec.mounts,
      depth: parent === undefined ? 0 : parent.placement.depth + 1,
      ...(spec.restored === undefined ? {} : { restored: spec.restored }),
    });
    session.label = spec.label;
    // Bounded tools count a child's calls with its parent's, as its quota counts its spending; a child on a budget of
    // its own has places of its own, as it has counters of its own (tool-slots.ts, red-team pass 128).
    if (parent !== undefined) {
      session.toolSlots = (spec.own ?? []).length > 0 ? parent.toolSlots.group() : parent.toolSlots;
    }
    const quota = new Quota(
      spec.limits,
      parent?.quota,
      {
        warn: (field, used, max, observed) => this.#warn(session, field, used, max, observed),
        exceeded: (field, observed) => {
          session.label = joinLabels(session.label, observed);
          this.#terminate(id, 'E_QUOTA', `quota exceeded: ${field}`);
        },
        raise: (label) => this.#raiseTree(session, label),
      },
      () => session.label,
      spec.own ?? [],
    );
    for (const field of COUNTED_FIELDS) {
      const carried = spec.usage?.[field];
      if (carried !== undefined && carried > 0) {
        quota.used[field] = carried;
        quota.spent[field] = carried;
      }
    }
    session.quota = quota;
    session.held = new HeldMemory(
      this.#deps.held.of(tenantOf(spec.namespace)),
      spec.limits.memory_mb * MiB,
      (observed) => {
        session.label = joinLabels(session.label, observed);
        this.#terminate(id, 'E_QUOTA', MEMORY_EXCEEDED);
      },
    );
    try {
      spec.grant(session);
      // The authority keeps the agent's capabilities until it ends: up to 64 delegated tokens of up to 8 KB a
      // spawn, which no bound counted (red-team pass 63: one tree kept 700 MB of kernel heap under a 32 MB
      // memory_mb, ten of them aborted the kernel). They are held like a handle's value: against the agent's
      // memory_mb and the kernel's pool, a spawn that does not fit refused with E_QUOTA.
      const bytes = services.authority.heldBytes(session.publicKey);
      if (bytes > session.held.limit) {
        throw new KernelError('E_QUOTA', "the agent's capabilities do not fit its memory_mb");
      }
      // What the capabilities take was decided by whoever spawned the agent, whose label it starts with.
      session.held.hold(bytes, session.label);
    } catch (error) {
      services.authority.forget(session.publicKey);
      throw error;
    }
    const process = this.#deps.launcher.launch({
      session,
      code: spec.code,
      filename: spec.program,
      inputJson: spec.inputJson,
    });
    this.#live.set(id, { session, process, code: spec.code });
    parent?.children.add(id);
    this.#remember(id, parent?.id ?? null);
    // The spawn, its program's name and its time are the parent's choices: the child starts with its label.
    services.emit({
      type: 'spawn',
      agent: id,
      parent: parent?.id ?? null,
      program: spec.program,
      label: session.label,
    });
    const result = process.result.then((outcome) => this.#ended(session, outcome));
    if (parent !== undefined) {
      this.#outcomes.set(
        id,
        result.then((settled) => {
          // Sizing the result is work its shape decides: the ended child's kernel time (its ancestors' budgets).
          const kept = session.metered(() => this.#buffered(parent, settled, session.label));
          // A result the kernel's pool refused carries what that refusal depended on, as any pool refusal does.
          return keptOutcome(parent, kept.result, joinLabels(session.label, kept.observed), quota);
        }),
      );
    }
    return { id, session, result };
  }

  // A child's result waits in the kernel until its parent joins it or ends: the parent holds its bytes. A
  // result that does not fit ends the parent (its memory_mb) or, when the kernel's bound is full, is replaced
  // by that refusal. Whether the parent ends depends on the result's size: it carries the child's label. Whether
  // the pool refuses depends on everything it holds: `observed` is that refusal's label, for the join to carry
  // (dropped, a clean parent read another tenant's labelled holdings from which sizes were kept, a byte a run:
  // red-team pass 62, join-buffer-pool-oracle.test.ts).
  #buffered(parent: AgentSession, result: RunResult, label: Label): { result: RunResult; observed: Label } {
    if (!result.ok || parent.held === undefined) return { result, observed: EMPTY_LABEL };
    try {
      parent.held.holdValue(result.value, label);
      return { result, observed: EMPTY_LABEL };
    } catch (error) {
      const code = error instanceof KernelError ? error.code : 'E_INTERNAL';
      return {
        result: { ok: false, error: { code, message: "the child's result could not be kept" }, usage: result.usage },
        observed: observedBy(error),
      };
    }
  }

  #ended(session: AgentSession, outcome: RunResult): RunResult {
    this.#live.delete(session.id);
    // A root's end ends its whole tree (below, at once): nobody is left to ask about its ids.
    for (const member of this.#trees.get(session.id) ?? []) this.#lineage.delete(member);
    this.#trees.delete(session.id);
    // The watchdog counts held bytes with the heap, so a memory kill depends on what was held: it takes their label.
    if (session.held !== undefined && !outcome.ok && outcome.error.message === MEMORY_EXCEEDED) {
      session.label = joinLabels(session.label, session.held.label);
    }
    session.held?.releaseAll();
    session.handles.close();
    // A parent's end ends its subtree, and its children's results are no longer joinable.
    for (const child of session.children) {
      this.#terminate(child, 'E_KILLED', 'killed: its parent ended');
      this.#outcomes.delete(child);
    }
    session.services.authority.forget(session.publicKey);
    const quota = session.quota;
    quota?.retire();
    const counted: Partial<Usage> = {};
    if (quota !== undefined) {
      // CPU and syscalls are reported as the agent's own (the launcher's figures); the budget counts the subtree.
      for (const field of COUNTED_FIELDS) {
        if (field !== 'cpu_ms' && field !== 'syscalls') counted[field] = round(quota.spent[field]);
      }
    }
    // The kernel's time on the agent's syscalls was charged to cpu_ms with the isolate's own.
    const kernelMs = round(session.kernelMs);
    const usage = {
      ...outcome.usage,
      ...counted,
      cpu_ms: round(outcome.usage.cpu_ms + kernelMs),
      kernel_ms: kernelMs,
    } as Usage;
    // The usage counts the subtree's use, a labelled worker's on its own budget included: the report carries it.
    const label = session.usageLabel();
    const full: RunResult = { ...outcome, usage, label };
    session.services.emit({ type: 'exit', agent: session.id, result: full });
    return full;
  }

  /** Ends `id` and its live descendants (deepest first) with `code`. A no-op for an agent not live. */
  #terminate(id: string, code: ErrorCode, message: string): void {
    const live = this.#live.get(id);
    if (live === undefined) return;
    for (const child of live.session.children) this.#terminate(child, 'E_KILLED', 'killed: its parent ended');
    live.process.terminate(code, message);
  }

  /** Kills a live agent (host API). False when no live agent has that id. */
  killById(id: string, reason: string): boolean {
    if (!this.#live.has(id)) return false;
    this.#terminate(id, 'E_KILLED', `killed: ${reason}`.slice(0, 200));
    return true;
  }

  /** The live session with this id. */
  session(id: string): AgentSession | undefined {
    return this.#live.get(id)?.session;
  }

  /** Live agents (not yet ended), parents before children. */
  list(): AgentInfo[] {
    const running = [...this.#live.values()].filter(({ session }) => session.state !== 'ended');
    return running.map(({ session }) => ({
      id: session.id,
      parent: session.parent,
      program: session.placement.program,
      namespace: session.namespace,
      state: session.state,
      label: session.usageLabel(),
      usage: {
        ...(session.quota?.usage() ?? { ...emptyUse(), wall_ms: 0 }),
        syscalls: session.syscalls,
      },
    }));
  }

  get size(): number {
    return this.list().length;
  }

  /** Ends every live agent (kernel close). */
  killAll(reason: string): Promise<unknown> {
    const ending = [...this.#live.values()].map(({ process }) => process.result);
    for (const { session } of [...this.#live.values()]) {
      if (session.parent === null) this.#terminate(session.id, 'E_KILLED', `killed: ${reason}`);
    }
    for (const { process } of [...this.#live.values()]) process.terminate('E_KILLED', `killed: ${reason}`);
    return Promise.all(ending);
  }

  // ------------------------------------------------------------------------------------- syscalls

  spawn(parent: AgentSession, request: ChildRequest): string {
    // A namespace the agent names is its own text, and every record its child makes carries it in clear: an agent
    // that read a `secret` could spell it there (red-team pass 83: `namespace: 'n' + pin`). Refused, as a sink
    // refuses `secret`; by the caller's own label, so the refusal tells it nothing new.
    if (request.namespace !== undefined && holdsSecret(parent.label)) {
      throw new KernelError(
        'E_TAINT',
        "sys.spawn: an agent labelled secret cannot name its child's namespace (the log keeps it in clear)",
      );
    }
    const services = parent.services;
    const { code, name } = this.#childSource(parent, request);
    const quota = parent.quota;
    if (quota === undefined) throw new KernelError('E_INTERNAL', 'internal kernel error');
    // Carving a budget reads what remains of the parent's (moved by its descendants), and planning the
    // delegations reads the remaining uses of what it holds: success or refusal, the parent learns something
    // of the agents that moved those counters, and so does the child, whose limits are that remainder.
    parent.label = joinLabels(parent.label, quota.observed());
    if ((request.caps ?? []).length > 0) {
      const held = services.authority.list(parent.publicKey).map((summary) => summary.id);
      parent.label = joinLabels(parent.label, services.authority.observedLabel(held));
    }
    const limits = quota.carve(request.budget);
    const plans = planDelegations(services.authority, parent.publicKey, request.caps ?? []);
    const mounts = childMounts(parent, request.mounts ?? []);
    const input = parent.handles.substitute(request.input ?? null);
    // Handles substitute to their values: one repeated handle must not build an input past the payload cap.
    const encoded = jsonWithin(input.value, services.maxPayloadBytes);
    if (!encoded.ok) {
      // The refusal depends on the size of the handles' data: it raises the parent by their label (red-team
      // pass 48: padding an input to the cap told whether a vault scrub had grown a handle).
      parent.label = joinLabels(parent.label, input.label);
      throw new KernelError(
        'E_BAD_ARG',
        encoded.reason === 'too-large'
          ? 'sys.spawn: input exceeds the payload cap once handles are substituted'
          : 'sys.spawn: input must be JSON-serializable',
      );
    }
    return this.startChild(parent, {
      code,
      program: name,
      inputJson: encoded.json,
      limits,
      namespace: request.namespace,
      mounts,
      label: input.label,
      own: ownFields(request.budget),
      grant: (child) => applyDelegations(services.authority, parent.key, child.publicKey, plans),
    }).id;
  }

  /**
   * Starts a child of a live agent, for `sys.spawn` and for the host's `kernel.spawn({ parent })` alike:
   * charges the parent's `children` quota, places the child under the parent's namespace (a fresh segment
   * unless `namespace` names one), and starts its label at the parent's joined with `label`. `limits` must
   * already be carved from the parent's quota (`quotaOf(parent).carve`).
   */
  startChild(
    parent: AgentSession,
    spec: Omit<StartSpec, 'parent' | 'namespace'> & { readonly namespace: string | undefined },
  ): { id: string; result: Promise<RunResult> } {
    const namespace = `${parent.namespace}/${spec.namespace ?? freshNamespaceSegment()}`;
    if (namespace.length > MAX_NAMESPACE_LENGTH) {
      throw new KernelError(
        'E_BAD_ARG',
        `sys.spawn: the child's namespace would be longer than ${MAX_NAMESPACE_LENGTH} characters, what an audit record holds`,
      );
    }
    const quota = this.#quotaOf(parent);
    quota.chargeSpawn();
    const started = this.start({
      ...spec,
      parent,
      namespace,
      // Everything the parent passes carries at least its context label.
      label: joinLabels(parent.label, spec.label),
    });
    if (started.session.quota !== undefined) quota.prepay(started.session.quota);
    return started;
  }

  // Raises `session` and its live descendants by `label`: whether they run on depends on a counter that use
  // carrying it moved (quota.ts, `hooks.raise`).
  #raiseTree(session: AgentSession, label: Label): void {
    const pending = [session];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      next.label = joinLabels(next.label, label);
      for (const child of next.children) {
        const live = this.#live.get(child)?.session;
        if (live !== undefined) pending.push(live);
      }
    }
  }

  /** The quota of a live agent (every started agent has one). */
  #quotaOf(session: AgentSession): Quota {
    if (session.quota === undefined) throw new KernelError('E_INTERNAL', 'internal kernel error');
    return session.quota;
  }

  #childSource(parent: AgentSession, request: ChildRequest): AgentSource {
    const source = loadAgentSource(this.#deps.programs, request, 'agent');
    if (request.program !== undefined) return source;
    const decision = parent.services.authority.authorize({
      holder: parent.publicKey,
      label: parent.label,
      action: 'agent.spawn',
      resource: 'inline',
    });
    if (decision.observed !== undefined) parent.label = joinLabels(parent.label, decision.observed);
    if (!decision.ok)
      throw new KernelError(decision.code, `sys.spawn: inline code needs agent.spawn (${decision.message})`);
    return source;
  }

  join(parent: AgentSession, id: string): Promise<ChildOutcome> {
    const outcome = parent.children.has(id) ? this.#outcomes.get(id) : undefined;
    if (outcome === undefined) return Promise.reject(new KernelError('E_NOT_FOUND', `sys.join: no child ${id}`));
    return outcome;
  }

  /** Records `id` (just started) under `parent` in its tree's lineage; a root starts a tree of its own. */
  #remember(id: string, parent: string | null): void {
    const root = parent === null ? id : this.#lineage.get(parent)?.root;
    // A parent whose root already ended is being killed with its tree: nothing will ask about this id.
    if (root === undefined) return;
    this.#lineage.set(id, { parent, root });
    const members = this.#trees.get(root);
    if (members === undefined) this.#trees.set(root, [id]);
    else members.push(id);
  }

  /** True when `ancestor` is a proper ancestor of `id` in the recorded lineage (ended agents included). */
  #spawnedBelow(ancestor: string, id: string): boolean {
    for (let up = this.#lineage.get(id)?.parent ?? null; up !== null; up = this.#lineage.get(up)?.parent ?? null) {
      if (up === ancestor) return true;
    }
    return false;
  }

  // The answer depends only on whether `id` was ever spawned in the caller's subtree, never on whether it still
  // runs: a descendant that ended and one that is killed now both answer undefined. Answering by state (as this
  // once did for descendants below the children) tells the caller when a labelled descendant ended, a bit of
  // what it read, with no label rising. The other sound choice, raising the caller's label by the target's, is
  // not simpler: an ended agent's label is gone with its session, so it needs the same memory of ids, and it
  // taints every caller that kills a labelled descendant.
  kill(parent: AgentSession, id: string): void {
    // The recorded lineage, not the live tree: an agent whose parent has just ended is still live for a moment
    // (its end is under way), and a walk over live agents alone would answer differently for it.
    if (!parent.children.has(id) && !this.#spawnedBelow(parent.id, id) && !this.#liveBelow(parent.id, id)) {
      throw new KernelError('E_NOT_FOUND', `sys.kill: no descendant ${id}`);
    }
    this.#terminate(id, 'E_KILLED', `killed by its ancestor ${parent.id}`);
  }

  /** True when `ancestor` is above the live agent `id` in the live tree (for an id the lineage does not hold). */
  #liveBelow(ancestor: string, id: string): boolean {
    for (
      let up = this.#live.get(id)?.session.parent ?? null;
      up !== null;
      up = this.#live.get(up)?.session.parent ?? null
    ) {
      if (up === ancestor) return true;
    }
    return false;
  }

  async snapshot(session: AgentSession, state: unknown): Promise<string> {
    const live = this.#live.get(session.id);
    if (live === undefined) throw new KernelError('E_KILLED', 'sys.snapshot: the agent has ended');
    const { authority } = session.services;
    // Up to the first await this runs inside the dispatcher's clock pair; after it, out of its sight, so the
    // heavy synchronous parts (listing and copying the memory, encoding and signing) are metered to the caller.
    const metered = session.metered;
    // A killed agent's snapshot stops at its next step (many may be pending when it is killed).
    const alive = (): void => {
      if (session.state === 'ended') throw new KernelError('E_KILLED', 'sys.snapshot: the agent has ended');
    };
    const tenant = tenantOf(session.namespace);
    const codeId = await this.#deps.blobs.put(new TextEncoder().encode(live.code), tenant);
    alive();
    const held = authority.list(session.publicKey);
    // Scopes only: remaining uses are data of whoever spent them, in another agent or a host submit (red-team pass
    // 108 read a PIN a labelled child spent from the body of its clean parent's snapshot), and restoring never
    // used them.
    const capabilities = held
      .map(({ action, resource, expiresAt }) => ({ action, resource, expiresAt }))
      .sort((a, b) => compareText(JSON.stringify(a), JSON.stringify(b)));
    // Memory is parsed whole to be covered, and parsing multiplies small JSON text into many objects (nested
    // arrays: 25 times its size in heap): a snapshot covers a bounded part of the namespace's 16 MiB.
    const { bytes: size, label: sizedBy } = await this.#deps.memory.sized(session.namespace, metered);
    // The time it took was the entries' doing (review 115: a snapshot ended by its cpu_ms reported it under []).
    session.worked(sizedBy);
    alive();
    if (size > MAX_SNAPSHOT_MEMORY_BYTES) {
      // The size counts entries of any label: the refusal carries them (red-team pass 51: a clean child padded its
      // namespace to the bound beside a stored unread handle, and which snapshots were refused spelled a PIN).
      throw new ObservedRefusal(
        'E_QUOTA',
        `sys.snapshot: a snapshot covers at most ${MAX_SNAPSHOT_MEMORY_BYTES} characters of namespace memory`,
        sizedBy,
      );
    }
    // The parsed memory stays in the kernel until the snapshot is saved: each value is held against the caller's
    // memory_mb as it is parsed, until then (40 concurrent snapshots of a nested namespace took the kernel past
    // its heap limit). A crossing depends on the values' sizes: it carries their labels.
    const kernelHeld = session.held;
    let parsed = 0;
    const keep = (entry: MemoryEntry): void => {
      // Called as each entry is parsed, before that work is charged.
      session.worked(entry.label);
      if (kernelHeld === undefined) return;
      const bytes = estimateBytes(entry.value, kernelHeld.limit + 1);
      kernelHeld.hold(bytes, entry.label);
      parsed += bytes;
    };
    try {
      const entries = await this.#deps.memory.list(session.namespace, '', 100_000, metered, keep);
      alive();
      // Read after the listing (it only rises): a delete between the two reads is then in it.
      const { removed, label: shapedBy } = await this.#deps.memory.sized(session.namespace, metered);
      session.worked(shapedBy);
      alive();
      const memory = entries.map(([key, entry]) => [key, entry.value, [...entry.label]] as const);
      // The restored agent starts from the counted quota use the body records, moved by descendants that may be
      // labelled (a budget refused E_QUOTA tells how many children a labelled child made): the body's label joins
      // theirs to the caller's. The memory entries keep their own labels, and the restored agent reads them as
      // any agent does; the capability list is not restored (the current policy's is).
      // Which entries the memory holds at all is data of the agents that deleted others: the body carries their
      // labels too (red-team pass 52).
      const agentLabel = joinLabels(session.label, removed);
      const carried = session.quota === undefined ? agentLabel : joinLabels(agentLabel, session.quota.observed());
      // The id is a function of everything the snapshot covers, so it carries all their labels (an id over a
      // labelled PIN is an oracle for the PIN).
      let covered = carried;
      for (const [, entry] of entries) covered = joinLabels(covered, entry.label);
      covered = joinLabels(joinLabels(covered, sizedBy), shapedBy);
      const used = session.quota?.used ?? emptyUse();
      const body: SnapshotBody = {
        program: { name: session.placement.program, id: codeId },
        capabilities,
        label: [...carried],
        usage: {
          tokens_in: used.tokens_in,
          tokens_out: used.tokens_out,
          cost_usd: used.cost_usd,
          tool_calls: used.tool_calls,
          children: used.children,
        },
        memory,
        state,
      };
      // Whether the save fits the tenant's share depends on the body's size, so on everything it covers: a refusal
      // carries it, as the id does (red-team pass 73: a counter a labelled agent of another tenant spent shortened
      // the body by a digit, and which snapshot was refused spelled a PIN to a clean agent).
      session.label = joinLabels(session.label, covered);
      // Encoded in metered slices with the event loop free between them (snapshot-store.ts, `encodeSnapshot`).
      return await this.#deps.snapshots.save(
        body,
        { meter: metered, signal: session.signal, maxPathChars: session.services.maxPayloadBytes },
        tenant,
        covered,
      );
    } finally {
      kernelHeld?.release(parsed);
    }
  }

  auditRecords(session: AgentSession, options: { after?: number; limit: number }): unknown[] {
    // A mount of a whole namespace shows its records; a prefix mount does not (records name keys outside it).
    const mounted = [...session.placement.mounts.values()].filter((mount) => mount.prefix === '');
    const namespaces = new Set([session.namespace, ...mounted.map((mount) => mount.namespace)]);
    const records = this.#deps.auditView.query(namespaces, options.after ?? -1, options.limit);
    // Records are data of the agents that made them (a resource can spell what they read): reading them
    // raises the reader's context by each record's label, as reading memory does. Their seq numbers count
    // every record of the kernel, the reader's own included, so even an answer of its own records (or of
    // none) tells how many records labelled agents wrote: it raises the context by every label in the log.
    for (const record of records) session.label = joinLabels(session.label, record.label);
    session.label = joinLabels(session.label, this.#deps.auditView.tags());
    return records;
  }

  #warn(session: AgentSession, field: CountedField | 'wall_ms', used: number, max: number, observed: Label): void {
    // When the warning comes spells what the agent did and what decided its charges, and the use it reports is
    // labelled as every report of usage is (review 115: kernel time on a `secret` handle crossed warn_at under []).
    const label = joinLabels(session.usageLabel(), observed);
    const attempt = new Attempt(this.#deps.audit, session.subject, 'quota', null);
    attempt.describe('quota.warn', field, { used, max }, label, false);
    attempt.end(null);
    session.services.emit({ type: 'warn', agent: session.id, limit: field, used: round(used), max, label });
  }
}

function childMounts(parent: AgentSession, requests: readonly MountRequest[]): Map<string, Mount> {
  const mounts = new Map<string, Mount>();
  for (const request of requests) {
    if (mounts.has(request.name)) throw new KernelError('E_BAD_ARG', `sys.spawn: mount "${request.name}" is repeated`);
    const source: Mount | undefined =
      request.from === undefined
        ? { namespace: parent.namespace, prefix: '', mode: 'rw' }
        : parent.placement.mounts.get(request.from);
    if (source === undefined) throw new KernelError('E_NOT_FOUND', `sys.spawn: no mount named "${request.from}"`);
    if (source.mode === 'ro' && request.mode === 'rw') {
      throw new KernelError(
        'E_ESCALATION',
        `sys.spawn: mount "${request.name}" cannot be writable: its source is read-only`,
      );
    }
    const prefix = source.prefix + (request.prefix ?? '');
    checkKey(prefix, 'mount prefix');
    mounts.set(request.name, { namespace: source.namespace, prefix, mode: request.mode });
  }
  return mounts;
}

function emptyUse(): QuotaUse {
  return { cpu_ms: 0, tokens_in: 0, tokens_out: 0, cost_usd: 0, tool_calls: 0, syscalls: 0, children: 0 };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/**
 * What a parent keeps of an ended child until it joins it or ends: the result, its label and the budget left to
 * refund. Made outside `start`, whose closures share one context holding the child's session, source and input:
 * kept from there, every ended child stayed whole in the kernel, uncharged, while its parent lived (red-team
 * pass 137: 200 children of 200 KB of source kept 40 MB; 45 runs of 100 children of 1 MB aborted the kernel).
 */
function keptOutcome(parent: AgentSession, result: RunResult, label: Label, quota: Quota): ChildOutcome {
  return {
    result,
    label,
    // What the child left of its own budgets goes back to a parent that takes its label (join by value).
    takeLabel: () => {
      parent.label = joinLabels(parent.label, label);
      parent.quota?.refund(quota);
    },
  };
}

import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { Attempt } from './audit/attempt.js';
import { AuditLog, type AuditSink, MemoryAuditSink } from './audit/audit-log.js';
import { AUDIT_VIEW_BYTES, AuditView } from './audit/audit-view.js';
import { AuditFileStore } from './audit/file-store.js';
import { type CapabilityAuthority, checkGrantRule, createAuthority, type GrantRule } from './capability/grant-rule.js';
import { SigningKey } from './capability/signing-key.js';
import type { Capability } from './capability/token.js';
import { type ErrorCode, KernelError, ObservedRefusal } from './core/errors.js';
import { jsonWithin, PayloadTooLargeError } from './core/payload-size.js';
import { encodePublicKey } from './core/public-key.js';
import {
  type CheckedKernelOptions,
  type CheckedSpawnRequest,
  DEFAULT_MAX_PAYLOAD_BYTES,
  defaultMaxHeldBytes,
  type KernelOptions,
  parseKernelOptions,
  parseRestoreOptions,
  parseSpawnRequest,
  type RestoreOptions,
  type SpawnRequest,
} from './kernel-options.js';
import {
  type AuditReader,
  type AuthorityView,
  auditReader,
  authorityView,
  type LabelledCapabilitySummary,
  labelledSummaries,
} from './kernel-views.js';
import { KvLabelStore } from './labels/kv-label-store.js';
import { EMPTY_LABEL, joinLabels, type Label, makeLabel } from './labels/label.js';
import { LabelRules } from './labels/label-rules.js';
import { grantPolicy } from './policy/grant-policy.js';
import { loadPolicy, type Policy, type PolicySection } from './policy/policy.js';
import type { AgentLauncher } from './process/agent-launcher.js';
import { CallsInFlight } from './process/calls-in-flight.js';
import { HeldMemoryPool, HeldShares } from './process/held-memory.js';
import { DEFAULT_LIMITS, type Limits, mergeLimits, resolveLimits } from './process/limits.js';
import { type AgentInfo, ProcessTable } from './process/process-table.js';
import { loadAgentSource, MAX_CODE_BYTES, ProgramRegistry } from './process/programs.js';
import { ownFields } from './process/quota.js';
import type { KernelEvent, RunResult } from './process/run-result.js';
import type { KernelServices } from './process/session.js';
import { type BlobStore, DirectoryBlobStore, MemoryBlobStore } from './store/blob-store.js';
import { type KvStore, LevelKvStore, MemoryKvStore } from './store/kv-store.js';
import { freshNamespaceSegment, NamespaceMemory } from './store/namespace-memory.js';
import { SnapshotStore } from './store/snapshot-store.js';
import { StoreShares } from './store/store-shares.js';
import {
  HOST_SUBJECT,
  type HostTools,
  type RollbackResult,
  refuseForHost,
  rollbackForHost,
  type SubmitRequest,
  type SubmitResult,
  submitForHost,
} from './tool-use/host-actions.js';
import type { ToolEnvironment } from './tool-use/tool-context.js';
import { type Tool, ToolRegistry } from './tool-use/tool-contract.js';
import { UndoJournal } from './tool-use/undo-journal.js';
import { Vault } from './tool-use/vault.js';

export type { KernelOptions, RestoreOptions, SpawnRequest };
export { DEFAULT_MAX_PAYLOAD_BYTES, MAX_CODE_BYTES };

/** Records the in-memory audit log keeps when no file is configured (the Merkle tree still covers all). */
export const MEMORY_AUDIT_RETAIN = 10_000;

/**
 * Without a store directory, one tenant may hold this fraction of the in-memory stores' bound by default: enough
 * for an agent tree's working set, and a single tree can never refuse every other tenant's writes.
 */
const DEFAULT_TENANTS_PER_STORE = 4;
/**
 * How long `close` waits for syscalls still in flight once every agent is killed. The built-in tools end at their
 * abort signal within milliseconds; a host tool that ignores it and runs on past this leaves its intent without an
 * outcome (`audit verify` reports it; SECURITY.md).
 */
const CLOSE_CALLS_GRACE_MS = 2_000;

export type { RollbackResult, SubmitRequest, SubmitResult };

export interface AgentHandle {
  readonly id: string;
  /** Resolves once with the agent's outcome; never rejects. */
  readonly result: Promise<RunResult>;
  /** Ends the agent with E_KILLED (no-op once ended). */
  kill(reason?: string): void;
}

type EventType = KernelEvent['type'];

/** What the layers above the runtime supply to a kernel (see the package entry). */
export interface KernelParts {
  readonly launcher: AgentLauncher;
  /** The policy's `tools:` sections the kernel accepts. */
  readonly policySections: readonly PolicySection[];
}

/**
 * The host kernel: owns the tool registry, the programs, the tree of live agents and the stores, and starts
 * each agent through a launcher (the package entry supplies the isolated-vm one). Use `Kernel.create` from
 * the package entry.
 */
export class Kernel {
  readonly tools = new ToolRegistry();
  /** Programs agents may start by name (`sys.spawn({ program })`, `sys.handoff({ to })`). */
  readonly programs = new ProgramRegistry();
  /** Credentials injected host-side into matching, authorized tool calls; agents never see them. */
  readonly vault = new Vault();
  /**
   * The capability authority, read-only (`rootPublicKey`, `verify`, `list`, `get`, `exportChain`) plus the
   * audited `addTrustAnchor`: grants, delegations and revocations go through the kernel's audited methods.
   */
  readonly authority: AuthorityView;
  /** Every attempted syscall, hash-chained and in a Merkle tree with checkpoints signed by the root key: read, prove, verify. */
  readonly audit: AuditReader;
  readonly #authority: CapabilityAuthority;
  readonly #audit: AuditLog;
  readonly policy: Policy;
  /** Signed, content-addressed snapshots of agents' state. */
  readonly snapshots: SnapshotStore;
  readonly #launcher: AgentLauncher;
  readonly #limits: Limits;
  readonly #services: KernelServices;
  readonly #table: ProcessTable;
  readonly #kv: KvStore;
  readonly #toolEnv: ToolEnvironment;
  /** The host's own identity: holder of the policy's rules for `submit`, and delegator for `delegate`. */
  readonly #hostKey = SigningKey.generate();
  // The root grants of the policy's rules the host holds (kernel.submit's), in rule order.
  readonly #hostPolicyCaps: readonly Capability[];
  readonly #hostAbort = new AbortController();
  readonly #events = new EventEmitter();
  #closed = false;
  #auditClosed = false;

  /**
   * `parts` are what the package entry joins in: the launcher that runs agent code, and the `tools:` policy
   * sections the tools it ships own. Throws TypeError/RangeError naming the option when `options` is malformed.
   */
  constructor(given: KernelOptions, parts: KernelParts) {
    const { launcher, policySections } = parts;
    const options = parseKernelOptions(given);
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    // Half the bound for what agents hold while they live (handles, results, pending calls), half for what the
    // in-memory stores keep: a full store must not leave agents unable to join a child or hold a reply.
    const maxHeld = options.maxHeldBytes ?? defaultMaxHeldBytes();
    const agentsPool = new HeldMemoryPool(Math.ceil(maxHeld / 2));
    const held = new HeldShares(
      agentsPool,
      options.maxHeldBytesPerTenant ?? Math.ceil(agentsPool.limit / DEFAULT_TENANTS_PER_STORE),
    );
    const storedPool = new HeldMemoryPool(Math.ceil(maxHeld / 2), "the kernel's in-memory store is full");
    const stored = new StoreShares(
      storedPool,
      options.maxStoredBytesPerTenant ?? Math.ceil(storedPool.limit / DEFAULT_TENANTS_PER_STORE),
    );
    if (options.tools !== undefined) this.tools.add(...(options.tools as Tool[]));
    this.policy = options.policy === undefined ? { capabilities: [] } : loadPolicy(options.policy, policySections);
    // The policy's budget sets every top agent's; explicit kernel options and each run may narrow or widen it.
    const base = resolveLimits(this.policy.budget, DEFAULT_LIMITS, 'policy.budget');
    this.#limits = mergeLimits(base, options.limits);
    const { authority, rootKey } = createAuthority(options.store, options.now);
    this.#authority = authority;
    const auditSink = openAuditSink(options.audit, rootKey);
    const auditView = new AuditView(auditSink);
    this.#audit = openAudit(options.audit, rootKey, auditView);
    if (auditSink instanceof AuditFileStore) recordUncleanEnd(this.#audit, auditSink);
    this.authority = authorityView(authority, {
      trust: (key) => this.#trust(key),
      holderKey: (holder) => this.#holderKey(holder),
    });
    this.audit = auditReader(this.#audit, auditView, rootKey.publicKey);
    INTERNALS.set(this, { authority, audit: this.#audit });
    this.#hostPolicyCaps = grantPolicy(this.#authority, this.policy, this.#hostKey.publicKey);
    this.#launcher = launcher;
    const store = options.store;
    // Without a store directory, memory, blobs and snapshots live in the kernel's heap: they draw on `stored`,
    // each tenant on its share of it.
    this.#kv = store === undefined ? new MemoryKvStore(stored) : new LevelKvStore(join(store, 'kv'));
    const blobs: BlobStore =
      store === undefined ? new MemoryBlobStore(stored) : new DirectoryBlobStore(join(store, 'blobs'));
    this.snapshots = new SnapshotStore(store === undefined ? undefined : join(store, 'snapshots'), rootKey, stored);
    const memory = new NamespaceMemory(this.#kv, store === undefined ? stored : undefined);
    this.#toolEnv = {
      authority: this.#authority,
      audit: this.#audit,
      vault: this.vault,
      blobs,
      labels: new KvLabelStore(this.#kv),
      undo: new UndoJournal(this.#kv),
      ...(store === undefined ? { stored } : {}),
    };
    this.#table = new ProcessTable({
      launcher,
      services: () => this.#services,
      programs: this.programs,
      memory,
      blobs,
      snapshots: this.snapshots,
      auditView,
      audit: this.#audit,
      held,
    });
    this.#services = {
      tools: this.tools,
      authority: this.#authority,
      audit: this.#audit,
      labels: new LabelRules(this.policy.labels),
      maxPayloadBytes,
      toolEnv: this.#toolEnv,
      processes: this.#table,
      memory,
      calls: new CallsInFlight(),
      emit: (event) => this.#emit(event),
    };
  }

  /** The host identity's public key (base64url): the holder of the policy's rules for `submit`. */
  get hostPublicKey(): string {
    return encodePublicKey(this.#hostKey.publicKey);
  }

  /** Subscribes to kernel events ('syscall', 'log', 'exit', 'spawn', 'warn', 'catastrophe'). */
  on<T extends EventType>(type: T, listener: (event: Extract<KernelEvent, { type: T }>) => void): this {
    this.#events.on(type, listener);
    return this;
  }

  off<T extends EventType>(type: T, listener: (event: Extract<KernelEvent, { type: T }>) => void): this {
    this.#events.off(type, listener);
    return this;
  }

  /**
   * Starts a top agent and returns at once. Its capabilities are the policy's rules plus `caps`; its budget
   * the kernel's limits (from the policy's `budget:`) with `limits` over them. Throws TypeError/RangeError on a
   * malformed request (naming the field), KernelError E_NOT_FOUND for an unknown program, the file system's
   * error if `file` cannot be read, and Error once the kernel is closed.
   */
  spawn(request: SpawnRequest): AgentHandle {
    if (this.#closed) throw new Error('kernel is closed');
    const checked = parseSpawnRequest(request);
    const inputJson = this.#inputJson(checked.input);
    const { code, name } = loadAgentSource(this.programs, checked, 'host');
    const { label, caps } = checked;
    if (checked.parent !== undefined) {
      return this.#startUnder(checked.parent, { code, program: name, inputJson, request: checked, label, caps });
    }
    const limits = mergeLimits(this.#limits, checked.limits);
    const namespace = checked.namespace ?? 'default';
    const policyGrants = checked.policyGrants ?? 'per-run';
    return this.#startTop({ code, program: name, inputJson, limits, namespace, label, caps, policyGrants });
  }

  // A host-started child of a live agent: the same rules as sys.spawn (budget carved from the parent's
  // remainder, no capability but the ones given, the parent's label and more), so the host can attach work
  // to a subtree without widening it.
  #startUnder(
    parentId: string,
    spec: {
      code: string;
      program: string;
      inputJson: string;
      request: CheckedSpawnRequest;
      label: Label;
      caps: readonly GrantRule[];
    },
  ): AgentHandle {
    const parent = this.#table.session(parentId);
    if (parent === undefined || parent.state === 'ended' || parent.quota === undefined) {
      throw new KernelError('E_NOT_FOUND', `no live agent ${parentId.slice(0, 64)}`);
    }
    const { id, result } = this.#table.startChild(parent, {
      code: spec.code,
      program: spec.program,
      inputJson: spec.inputJson,
      limits: parent.quota.carve(spec.request.limits),
      own: ownFields(spec.request.limits),
      namespace: spec.request.namespace,
      mounts: new Map(),
      // The child's limits are the parent's remainder, moved by the parent's other descendants.
      label: joinLabels(spec.label, parent.quota.observed()),
      grant: (session) => {
        for (const rule of spec.caps) this.#authority.grant({ ...rule, audience: session.publicKey });
      },
    });
    return { id, result, kill: (reason = 'killed by host') => this.#table.killById(id, String(reason)) };
  }

  #startTop(spec: {
    code: string;
    program: string;
    inputJson: string;
    limits: Limits;
    namespace: string;
    label: Label;
    caps: readonly GrantRule[];
    policyGrants?: 'per-run' | 'shared';
    restored?: unknown;
    usage?: Partial<Record<string, number>>;
  }): AgentHandle {
    const { id, result } = this.#table.start({
      code: spec.code,
      program: spec.program,
      inputJson: spec.inputJson,
      limits: spec.limits,
      parent: undefined,
      namespace: spec.namespace,
      mounts: new Map(),
      label: spec.label,
      ...(spec.restored === undefined ? {} : { restored: spec.restored }),
      ...(spec.usage === undefined ? {} : { usage: spec.usage }),
      grant: (session) => {
        if (spec.policyGrants === 'shared') {
          session.label = joinLabels(session.label, this.#delegatePolicy(session.publicKey));
        } else grantPolicy(this.#authority, this.policy, session.publicKey);
        for (const rule of spec.caps) this.#authority.grant({ ...rule, audience: session.publicKey });
      },
    });
    return { id, result, kill: (reason = 'killed by host') => this.#table.killById(id, String(reason)) };
  }

  // The host's own policy grants, handed on: a use of any of them debits the host's counter and ends at its
  // expiry. One the authority refuses to hand on (used up, expired, revoked) is left out: any use would be refused.
  // Returns the label the agent takes: a grant left out as used up tells that its counter reached the bound, so
  // the agent takes the label of the uses that spent it, as a use refused E_CAP_EXHAUSTED would (review 88: a
  // run read, clean, whether a `secret` run had spent a shared `max_uses: 1`).
  #delegatePolicy(audience: string): Label {
    let observed: Label = EMPTY_LABEL;
    for (const capability of this.#hostPolicyCaps) {
      const result = this.#authority.delegate({ parentId: capability.id, delegator: this.#hostKey, audience });
      if (!result.ok && result.code === 'E_CAP_EXHAUSTED') {
        observed = joinLabels(observed, this.#authority.observedLabel([capability.id]));
      }
    }
    return observed;
  }

  /**
   * The limits a top agent started with `overrides` gets: the kernel's (its options over the policy's
   * `budget:`) with `overrides` over them. Throws TypeError/RangeError naming the field like `spawn`.
   */
  limitsFor(overrides?: Partial<Limits>): Limits {
    return resolveLimits(overrides, this.#limits, 'limits');
  }

  /**
   * Runs an agent to completion and resolves to its result, whatever the agent does. Never throws
   * synchronously: a request `spawn` would refuse (malformed, unknown program, unreadable file, kernel
   * closed) rejects with the same error.
   */
  run(request: SpawnRequest): Promise<RunResult> {
    try {
      return this.spawn(request).result;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Starts a new top agent from a snapshot: the snapshot's program, label, counted quota use and namespace
   * memory (copied into `options.namespace`, default a fresh one), with the policy's capabilities (a
   * snapshot never mints authority). The agent reads the frozen state with `sys.restored()`. Forking is
   * restoring twice. Rejects with KernelError E_BAD_SNAPSHOT for an unknown, tampered, truncated or unsigned
   * snapshot; throws TypeError/RangeError for malformed options.
   */
  async restore(id: string, given: RestoreOptions = {}): Promise<AgentHandle> {
    if (this.#closed) throw new Error('kernel is closed');
    const options = parseRestoreOptions(given);
    const limits = mergeLimits(this.#limits, options.limits);
    const inputJson = this.#inputJson(options.input);
    // A tenant of its own by default: one `restored` tenant for every restore let one restored tree's memory
    // refuse every other restore (StoreShares).
    const namespace = options.namespace ?? `restored-${freshNamespaceSegment()}`;
    // Opened, not loaded: the memory is parsed one entry at a time as it is copied (SnapshotStore.open).
    const snapshot = await this.snapshots.open(id);
    const body = snapshot.frame;
    const codeBytes = await this.#toolEnv.blobs.get(body.program.id);
    if (codeBytes === undefined) throw new KernelError('E_BAD_SNAPSHOT', `snapshot ${id}: its program is missing`);
    let label: Label;
    try {
      label = body.label.length === 0 ? EMPTY_LABEL : makeLabel(body.label, 'label');
    } catch {
      throw new KernelError('E_BAD_SNAPSHOT', `snapshot ${id} has a malformed label`);
    }
    const memory = this.#services.memory;
    if (this.#closed) throw new Error('kernel is closed');
    // Which keys the copy holds is the snapshotted agent's data (deletes by labelled agents shaped it): the
    // namespace's listings and absent keys carry the body's label, as the restored agent does.
    await memory.raise(namespace, label);
    for await (const [key, value, tags] of snapshot.entries()) {
      // close() may have run during any await: nothing is written or started after it.
      if (this.#closed) throw new Error('kernel is closed');
      await memory.put(namespace, key, { value, label: tags.length === 0 ? EMPTY_LABEL : makeLabel(tags, 'label') });
    }
    if (this.#closed) throw new Error('kernel is closed');
    return this.#startTop({
      code: new TextDecoder().decode(codeBytes),
      program: body.program.name,
      inputJson,
      limits,
      namespace,
      label,
      caps: options.caps,
      restored: body.state ?? null,
      usage: body.usage,
    });
  }

  /** A snapshot's content, decoded (rich types restored by superjson). Rejects like `restore`. */
  async inspectSnapshot(id: string): Promise<Awaited<ReturnType<SnapshotStore['load']>>> {
    return await this.snapshots.load(id);
  }

  /** Ids of live agents. */
  live(): string[] {
    return this.#table.list().map((agent) => agent.id);
  }

  /** The live tree: id, parent, program, namespace, state, label and usage of every live agent. */
  agents(): AgentInfo[] {
    return this.#table.list();
  }

  /** Live agents and isolates not yet disposed (equal unless an isolate is being torn down). */
  stats(): { agents: number; isolates: number } {
    return { agents: this.#table.size, isolates: this.#launcher.liveIsolates() };
  }

  /** Ends a live agent and its descendants with E_KILLED. False when no live agent has that id. */
  kill(id: string, reason = 'killed by host'): boolean {
    if (typeof id !== 'string') throw new TypeError('id must be an agent id');
    return this.#table.killById(id, String(reason));
  }
  /**
   * Grants a root capability (signed by the kernel's root key) to a live agent (by id) or to any public key.
   * Throws TypeError/RangeError naming the field for a malformed rule or holder.
   */
  grant(to: string, rule: GrantRule): { id: string; token: string } {
    return this.#hostAction('grant', rule?.action, rule?.resource, { to, rule }, () => {
      checkGrantRule(rule, 'rule');
      const capability = this.#authority.grant({ ...rule, audience: this.#holderKey(to) });
      return { id: capability.id, token: capability.token };
    });
  }

  /**
   * Delegates a capability the host holds (one of the policy's rules, or one granted to `hostPublicKey`) to
   * an agent or key, narrowed by `rule`; every use debits the parent's chain. Throws KernelError
   * (E_ESCALATION when the host does not hold `from`, E_BAD_ARG for malformed fields); a refusal by the chain's
   * standing (E_CAP_EXHAUSTED) is an ObservedRefusal. `label` (and a refusal's `observed`) is the label of the uses
   * that moved the chain's counters: whether it could be delegated tells of them (review 99: a `secret` use
   * decided whether a `max_uses` rule could still be delegated, and the host learned it clean).
   */
  delegate(
    from: string,
    to: string,
    rule: Partial<GrantRule> = {},
  ): { id: string; token: string; label: readonly string[] } {
    const observed = typeof from === 'string' ? this.#authority.observedLabel([from]) : EMPTY_LABEL;
    const run = () => {
      checkGrantRule(rule, 'rule', true);
      const result = this.#authority.delegate({
        ...rule,
        parentId: from,
        delegator: this.#hostKey,
        audience: this.#holderKey(to),
      });
      if (!result.ok) throw new ObservedRefusal(result.code, result.message, observed);
      return { id: result.value.id, token: result.value.token, label: observed };
    };
    return this.#hostAction('delegate', rule?.action ?? 'delegate', from, { from, to, rule }, run, observed);
  }

  // addTrustAnchor widens what verifies, so it is audited like grant.
  #trust(publicKey: string | Uint8Array): void {
    const shown = typeof publicKey === 'string' ? publicKey : 'bytes';
    this.#hostAction('trust', 'trust', shown, { publicKey: shown }, () => this.#authority.addTrustAnchor(publicKey));
  }

  /** Revokes a capability and, at once, everything delegated from it. */
  revoke(id: string): void {
    this.#hostAction('revoke', 'revoke', id, { id }, () => this.#authority.revoke(id));
  }

  // Host actions that change what agents may do are audited like syscalls: intent, then outcome.
  #hostAction<T>(
    syscall: string,
    action: unknown,
    resource: unknown,
    args: unknown,
    run: () => T,
    label: Label = EMPTY_LABEL,
  ): T {
    const attempt = new Attempt(this.#audit, HOST_SUBJECT, syscall, args);
    attempt.describe(
      typeof action === 'string' ? action.slice(0, 128) : syscall,
      typeof resource === 'string' ? resource.slice(0, 4096) : null,
      args,
      label,
    );
    attempt.begin();
    try {
      const value = run();
      attempt.end(null);
      return value;
    } catch (error) {
      attempt.end(error instanceof KernelError ? error.code : 'E_BAD_ARG');
      throw error;
    }
  }

  /**
   * The live capabilities of an agent (by id) or key. A counted one's `label` is that of the uses that moved its
   * counters: its `remainingUses` tells of them, as `sys.caps` raises an agent that reads them.
   */
  capabilities(holder: string): LabelledCapabilitySummary[] {
    return labelledSummaries(this.#authority, this.#authority.list(this.#holderKey(holder)));
  }

  /**
   * Runs the tool that performs `action` for the host itself, under the policy: the same validation,
   * authorization and debit as an agent's call. Never rejects; a refusal is DENIED, anything else ERROR.
   * Throws TypeError when `request.action` is not a string.
   */
  submit(request: SubmitRequest): Promise<SubmitResult> {
    return this.#inFlight(submitForHost(this.#hostTools(), request));
  }

  /**
   * Records a submission the host turned away itself before `submit` (a client's call to a tool it does not serve,
   * past a bound of its own, malformed): an intent and an outcome with `code`, under `request.label`, as `submit`
   * records a refusal, so every attempt a host relays is in the log. Returns the outcome's seq, or null if the log
   * failed. Throws TypeError when `request.action` is not a string, RangeError when `code` is not a kernel code.
   */
  recordRefusal(request: SubmitRequest, code: ErrorCode): number | null {
    return refuseForHost(this.#hostTools(), request, code);
  }

  /**
   * Undoes a tool call that saved an undo record (its result carried `recordId`), re-authorized under the
   * policy for the host and audited; see host-tools.ts. Never rejects.
   */
  rollback(recordId: string, options: { force?: boolean } = {}): Promise<RollbackResult> {
    return this.#inFlight(rollbackForHost(this.#hostTools(), recordId, options));
  }

  // The host's own calls are audited as agents' are, so `close` waits for them too (red-team pass 80: a submit of a
  // tool that ignored its abort signal finished its write after the log had closed, its intent left alone).
  #inFlight<T>(call: Promise<T>): Promise<T> {
    this.#services.calls.add(call);
    return call;
  }

  /** Undo records saved by tool calls, newest first. */
  async undoRecords(limit = 100): Promise<Awaited<ReturnType<UndoJournal['list']>>> {
    return await this.#toolEnv.undo.list(limit);
  }

  #hostTools(): HostTools {
    return {
      tools: this.tools,
      labels: this.#services.labels,
      env: this.#toolEnv,
      caller: {
        id: 'host',
        holder: this.hostPublicKey,
        subject: HOST_SUBJECT,
        signal: this.#hostAbort.signal,
        quota: undefined,
      },
    };
  }

  /**
   * Kills every live agent, waits for them to end, waits up to CLOSE_CALLS_GRACE_MS for the syscalls still in flight
   * (their tools were aborted; one that ignores its signal may still finish its effect, which is then recorded), stops
   * the watchdog, closes the tools that hold resources (`tool.close`) and the stores. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#hostAbort.abort();
    await this.#table.killAll('kernel closed');
    await this.#services.calls.settled(CLOSE_CALLS_GRACE_MS);
    this.#launcher.close();
    // Tools that hold processes (MCP servers) release them once nothing can call them any more.
    await Promise.allSettled(this.tools.list().map(async (tool) => await tool.close?.()));
    if (!this.#auditClosed) {
      this.#auditClosed = true;
      this.#audit.close();
      await this.#kv.close();
    }
  }

  #holderKey(to: string): string {
    if (typeof to !== 'string') throw new TypeError('holder must be an agent id or a public key');
    return this.#table.session(to)?.publicKey ?? to;
  }

  #inputJson(input: unknown): string {
    const encoded = jsonWithin(input, this.#services.maxPayloadBytes);
    if (encoded.ok) return encoded.json;
    if (encoded.reason === 'too-large') throw new PayloadTooLargeError('request.input exceeds maxPayloadBytes');
    throw new TypeError('request.input must be JSON-serializable');
  }

  // Listener bugs are the host's; they must not break a syscall that is being answered.
  #emit(event: KernelEvent): void {
    try {
      this.#events.emit(event.type, event);
    } catch (error) {
      process.emitWarning(`isokernel: a '${event.type}' listener threw: ${String(error)}`);
    }
  }
}

/** The full authority and log behind a kernel's views, for the kernel's own tests; not exported by the package. */
export interface KernelInternals {
  readonly authority: CapabilityAuthority;
  readonly audit: AuditLog;
}

const INTERNALS = new WeakMap<Kernel, KernelInternals>();

/**
 * The unrestricted authority and audit log of `kernel`, for the package's own drivers (withOutcome appends
 * its host records) and the repository's tests; the package entry does not export it: host code gets the
 * read-only views.
 */
export function kernelInternals(kernel: Kernel): KernelInternals {
  const internals = INTERNALS.get(kernel);
  if (internals === undefined) throw new TypeError('kernel must be a Kernel');
  return internals;
}

function openAuditSink(options: CheckedKernelOptions['audit'], key: SigningKey): AuditSink {
  // Bounded by bytes too, as the view above it is: it holds the same records (red-team pass 118: 19,000 refused
  // calls on 4 KB URLs kept 40 MB in it after the view had let them go).
  if (options === undefined) return new MemoryAuditSink({ retain: MEMORY_AUDIT_RETAIN, maxBytes: AUDIT_VIEW_BYTES });
  return AuditFileStore.open(options.file, {
    ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
    trustedKeys: [key.publicKey],
  });
}

/**
 * Records, as the host, that the log's last writer ended without closing it (a crash, a kill): its lock was left
 * behind, a line was torn, or records had no checkpoint. Under `fsync: 'interval'` such an end loses up to the last
 * interval of records, effects already done among them, and without this record a restart left no trace of it: the
 * next checkpoint signed over the shortened log (red-team pass 80). The resource says what was found.
 */
function recordUncleanEnd(audit: AuditLog, store: AuditFileStore): void {
  const { staleLockPid, tornRecordBytes, tornCheckpointBytes } = store.recovery;
  const chain = store.recovered?.chain;
  const anchored = store.recovered?.checkpoints.at(-1)?.size ?? 0;
  const unanchored = chain === undefined ? 0 : chain.size - anchored;
  if (staleLockPid === null && tornRecordBytes + tornCheckpointBytes === 0 && unanchored === 0) return;
  const found =
    `the writer (pid ${staleLockPid ?? 'unknown'}) ended without closing the log: ${unanchored} records had no ` +
    `checkpoint, ${chain?.openIntents ?? 0} intents no outcome, ${tornRecordBytes + tornCheckpointBytes} torn bytes were dropped`;
  const attempt = new Attempt(audit, HOST_SUBJECT, 'audit', null);
  attempt.describe('audit.recover', found, null, undefined, false);
  attempt.end(null);
}

function openAudit(options: CheckedKernelOptions['audit'], key: SigningKey, sink: AuditSink): AuditLog {
  try {
    return new AuditLog({
      key,
      sink,
      ...(options?.checkpointEvery === undefined ? {} : { checkpointEvery: options.checkpointEvery }),
    });
  } catch (error) {
    sink.close();
    throw error;
  }
}

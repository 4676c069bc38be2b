import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type Tool, ToolRegistry } from '../tools/registry.js';
import { AgentSession, type KernelEvent, type KernelServices, type RunResult } from './agent.js';
import { AuditLog, type AuditSink, MemoryAuditSink } from './audit-log.js';
import { AuditFileStore, type FsyncPolicy } from './audit-store.js';
import { Attempt } from './audit-trail.js';
import { KernelError } from './errors.js';
import {
  type CapabilityAuthority,
  type CapabilitySummary,
  createAuthority,
  type GrantRule,
} from './kernel-capabilities.js';
import { SigningKey } from './keys.js';
import { LabelRules } from './label-rules.js';
import { EMPTY_LABEL, joinLabels, makeLabel } from './labels.js';
import type { AgentLauncher, AgentProcess } from './launcher.js';
import { DEFAULT_LIMITS, type Limits, resolveLimits } from './limits.js';
import { loadPolicy, type Policy } from './policy.js';
import { grantPolicy } from './policy-grants.js';
import { encodePublicKey } from './public-key.js';
import { authorizeToolUse, checkSinks, prepareToolUse, runToolUse } from './tool-gate.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Agent source larger than this is refused before it reaches V8. */
export const MAX_CODE_BYTES = 4 * 1024 * 1024;

export interface KernelOptions {
  /** Defaults for every agent; each run may override them. */
  readonly limits?: Partial<Limits>;
  /** Cap on one payload crossing the boundary, either direction (default 1 MiB). */
  readonly maxPayloadBytes?: number;
  readonly tools?: readonly Tool[];
  /** The policy (a YAML file path or an object): its rules become root capabilities of every top agent. */
  readonly policy?: string | object;
  /** Directory for state that outlives the process (root key, revocations, counters); in memory if absent. */
  readonly store?: string;
  /** Clock for capability validity, ms since the epoch (default Date.now). */
  readonly now?: () => number;
  /** Where the audit log goes: a JSONL file (one writer at a time), or memory when absent. */
  readonly audit?: { readonly file: string; readonly fsync?: FsyncPolicy; readonly checkpointEvery?: number };
}

export interface SpawnRequest {
  /** The agent module's source; exactly one of `code` and `file`. */
  readonly code?: string;
  /** Path of the agent module on the host; exactly one of `code` and `file`. */
  readonly file?: string;
  /** Passed to `main`; must be JSON-serializable. */
  readonly input?: unknown;
  readonly limits?: Partial<Limits>;
  /** Root capabilities for this agent in addition to the policy's. */
  readonly caps?: readonly GrantRule[];
}

/** `kernel.submit`: the host runs a tool for itself under the policy (the agent_os_kernel workflow). */
export interface SubmitRequest {
  readonly action: string;
  /** The resource, placed in the argument the tool names as its `target`. */
  readonly target?: string;
  readonly params?: Readonly<Record<string, unknown>>;
  /** Tags of the host-supplied data in this call (for example ['email'] for text from an inbox). */
  readonly label?: readonly string[];
}

export interface SubmitResult {
  readonly status: 'OK' | 'DENIED' | 'ERROR';
  readonly data: unknown;
  readonly error: { readonly code: string; readonly message: string } | null;
  /** The seq of the submission's outcome record in the audit log (null if the log failed). */
  readonly recordId: number | null;
  /** The label of `data`: the call's label joined with the tool's source tags. */
  readonly label: readonly string[];
}

/** Records the in-memory audit log keeps when no file is configured (the Merkle tree still covers all). */
export const MEMORY_AUDIT_RETAIN = 10_000;

/** The host's identity in the audit log. */
const HOST_SUBJECT = { id: 'host', namespace: 'host', parent: null } as const;

export interface AgentHandle {
  readonly id: string;
  /** Resolves once with the agent's outcome; never rejects. */
  readonly result: Promise<RunResult>;
  /** Ends the agent with E_KILLED (no-op once ended). */
  kill(reason?: string): void;
}

type EventType = KernelEvent['type'];

/**
 * The host kernel: owns the tool registry and the table of live agents, and starts each agent through a
 * launcher (the package entry supplies the isolated-vm one). Use `Kernel.create` from the package entry.
 */
export class Kernel {
  readonly tools = new ToolRegistry();
  /** Verifies, debits and revokes every capability; `authority.rootPublicKey` is the kernel's trust anchor. */
  readonly authority: CapabilityAuthority;
  /** Every attempted syscall, hash-chained and in a Merkle tree with checkpoints signed by the root key. */
  readonly audit: AuditLog;
  readonly policy: Policy;
  readonly #launcher: AgentLauncher;
  readonly #limits: Limits;
  readonly #services: KernelServices;
  /** The host's own identity: holder of the policy's rules for `submit`, and delegator for `delegate`. */
  readonly #hostKey = SigningKey.generate();
  readonly #hostAbort = new AbortController();
  readonly #live = new Map<string, { process: AgentProcess; session: AgentSession }>();
  readonly #events = new EventEmitter();
  #closed = false;
  #auditClosed = false;

  /** Throws TypeError/RangeError naming the option when `options` is malformed. */
  constructor(options: KernelOptions, launcher: AgentLauncher) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    this.#limits = resolveLimits(options.limits, DEFAULT_LIMITS, 'options.limits');
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1024 || maxPayloadBytes > 256 * 1024 * 1024) {
      throw new RangeError('options.maxPayloadBytes must be an integer between 1024 and 268435456');
    }
    if (options.tools !== undefined) this.tools.add(...options.tools);
    if (options.store !== undefined && (typeof options.store !== 'string' || options.store === '')) {
      throw new TypeError('options.store must be a directory path');
    }
    if (options.now !== undefined && typeof options.now !== 'function')
      throw new TypeError('options.now must be a function');
    this.policy = options.policy === undefined ? { capabilities: [] } : loadPolicy(options.policy);
    const { authority, rootKey } = createAuthority(options.store, options.now);
    this.authority = authority;
    this.audit = openAudit(options.audit, rootKey);
    grantPolicy(this.authority, this.policy, this.#hostKey.publicKey);
    this.#launcher = launcher;
    this.#services = {
      tools: this.tools,
      authority: this.authority,
      audit: this.audit,
      labels: new LabelRules(this.policy.labels),
      maxPayloadBytes,
      emit: (event) => this.#emit(event),
    };
  }

  /** The host identity's public key (base64url): the holder of the policy's rules for `submit`. */
  get hostPublicKey(): string {
    return encodePublicKey(this.#hostKey.publicKey);
  }

  /** Subscribes to kernel events ('syscall', 'log', 'exit', 'catastrophe'). */
  on<T extends EventType>(type: T, listener: (event: Extract<KernelEvent, { type: T }>) => void): this {
    this.#events.on(type, listener);
    return this;
  }

  off<T extends EventType>(type: T, listener: (event: Extract<KernelEvent, { type: T }>) => void): this {
    this.#events.off(type, listener);
    return this;
  }

  /**
   * Starts an agent and returns at once. Throws TypeError/RangeError on a malformed request (naming the
   * field), the file system's error if `file` cannot be read, and Error once the kernel is closed.
   */
  spawn(request: SpawnRequest): AgentHandle {
    if (this.#closed) throw new Error('kernel is closed');
    if (request === null || typeof request !== 'object') throw new TypeError('request must be an object');
    const { code, filename } = loadSource(request);
    const limits = resolveLimits(request.limits, this.#limits, 'request.limits');
    let inputJson: string | undefined;
    try {
      inputJson = JSON.stringify(request.input ?? null);
    } catch {
      inputJson = undefined;
    }
    if (inputJson === undefined) throw new TypeError('request.input must be JSON-serializable');
    if (inputJson.length > this.#services.maxPayloadBytes)
      throw new RangeError('request.input exceeds maxPayloadBytes');

    const caps = request.caps ?? [];
    if (!Array.isArray(caps)) throw new TypeError('request.caps must be an array');

    const id = randomUUID();
    const session = new AgentSession(id, SigningKey.generate(), limits, this.#services);
    grantPolicy(this.authority, this.policy, session.publicKey);
    for (const rule of caps) this.authority.grant({ ...rule, audience: session.publicKey });
    const process = this.#launcher.launch({ session, code, filename, inputJson });
    this.#live.set(id, { process, session });
    const result = process.result.then((outcome) => {
      this.#live.delete(id);
      this.authority.forget(session.publicKey);
      this.#emit({ type: 'exit', agent: id, result: outcome });
      return outcome;
    });
    return { id, result, kill: (reason = 'killed by host') => process.kill(String(reason)) };
  }

  /** Runs an agent to completion. Same errors as `spawn`; the promise itself never rejects. */
  run(request: SpawnRequest): Promise<RunResult> {
    return this.spawn(request).result;
  }

  /** Ids of agents that have not ended. */
  live(): string[] {
    return [...this.#live.keys()];
  }

  /**
   * Grants a root capability (signed by the kernel's root key) to a live agent (by id) or to any public key.
   * Throws TypeError/RangeError naming the field for a malformed rule or holder.
   */
  grant(to: string, rule: GrantRule): { id: string; token: string } {
    return this.#hostAction('grant', rule?.action, rule?.resource, { to, rule }, () => {
      const capability = this.authority.grant({ ...rule, audience: this.#holderKey(to) });
      return { id: capability.id, token: capability.token };
    });
  }

  /**
   * Delegates a capability the host holds (one of the policy's rules, or one granted to `hostPublicKey`) to
   * an agent or key, narrowed by `rule`; every use debits the parent's chain. Throws KernelError
   * (E_ESCALATION when the host does not hold `from`, E_BAD_ARG for malformed fields).
   */
  delegate(from: string, to: string, rule: Partial<GrantRule> = {}): { id: string; token: string } {
    return this.#hostAction('delegate', rule?.action ?? 'delegate', from, { from, to, rule }, () => {
      const result = this.authority.delegate({
        ...rule,
        parentId: from,
        delegator: this.#hostKey,
        audience: this.#holderKey(to),
      });
      if (!result.ok) throw new KernelError(result.code, result.message);
      return { id: result.value.id, token: result.value.token };
    });
  }

  /** Revokes a capability and, at once, everything delegated from it. */
  revoke(id: string): void {
    this.#hostAction('revoke', 'revoke', id, { id }, () => this.authority.revoke(id));
  }

  // Host actions that change what agents may do are audited like syscalls: intent, then outcome.
  #hostAction<T>(syscall: string, action: unknown, resource: unknown, args: unknown, run: () => T): T {
    const attempt = new Attempt(this.audit, HOST_SUBJECT, syscall, args);
    attempt.describe(
      typeof action === 'string' ? action.slice(0, 128) : syscall,
      typeof resource === 'string' ? resource.slice(0, 4096) : null,
      args,
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

  /** The live capabilities of an agent (by id) or key. */
  capabilities(holder: string): CapabilitySummary[] {
    return this.authority.list(this.#holderKey(holder));
  }

  /**
   * Runs the tool that performs `action` for the host itself, under the policy: the same validation,
   * authorization and debit as an agent's call. Never rejects; a refusal is DENIED, anything else ERROR.
   */
  async submit(request: SubmitRequest): Promise<SubmitResult> {
    if (request === null || typeof request !== 'object' || typeof request.action !== 'string') {
      throw new TypeError('request.action must be a string');
    }
    const params = request.params ?? {};
    const callLabel = request.label === undefined ? EMPTY_LABEL : makeLabel(request.label, 'request.label');
    const attempt = new Attempt(this.audit, HOST_SUBJECT, 'submit', request);
    attempt.describe(request.action, request.target ?? null, params, callLabel);
    const tool = this.tools.forAction(request.action);
    if (tool === undefined) {
      return submitError(attempt, new KernelError('E_NO_TOOL', `no tool performs "${request.action}"`));
    }
    const args =
      request.target !== undefined && tool.target !== undefined ? { ...params, [tool.target]: request.target } : params;
    try {
      const use = prepareToolUse(tool, args);
      attempt.describe(use.action, use.resource, use.args, callLabel);
      attempt.begin();
      checkSinks(this.#services.labels, use, callLabel);
      const decision = authorizeToolUse(this.authority, this.hostPublicKey, use);
      if (!decision.ok) {
        const recordId = attempt.end(decision.code);
        const error = { code: decision.code, message: decision.message };
        return { status: 'DENIED', data: null, error, recordId, label: callLabel };
      }
      const data = await runToolUse(use, { agent: 'host', signal: this.#hostAbort.signal, label: callLabel });
      const label = joinLabels(callLabel, this.#services.labels.sourceTags(tool, use.resource));
      return { status: 'OK', data, error: null, recordId: attempt.end(null, { tool_calls: 1 }), label };
    } catch (error) {
      const info = error instanceof KernelError ? error : new KernelError('E_INTERNAL', 'internal kernel error');
      return submitError(attempt, info);
    }
  }

  /** Kills every live agent, waits for them to end and stops the watchdog. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#hostAbort.abort();
    const ending = [...this.#live.values()].map(({ process }) => {
      process.kill('kernel closed');
      return process.result;
    });
    await Promise.all(ending);
    this.#launcher.close();
    if (!this.#auditClosed) {
      this.#auditClosed = true;
      this.audit.close();
    }
  }

  #holderKey(to: string): string {
    if (typeof to !== 'string') throw new TypeError('holder must be an agent id or a public key');
    return this.#live.get(to)?.session.publicKey ?? to;
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

// A taint refusal is a denial like a capability refusal; anything else that stops a submission is an error.
function submitError(attempt: Attempt, error: KernelError): SubmitResult {
  const recordId = attempt.end(error.code);
  const status = error.code === 'E_TAINT' ? 'DENIED' : 'ERROR';
  return { status, data: null, error: { code: error.code, message: error.message }, recordId, label: EMPTY_LABEL };
}

function openAudit(options: KernelOptions['audit'], key: SigningKey): AuditLog {
  if (options === undefined) return new AuditLog({ key, sink: new MemoryAuditSink({ retain: MEMORY_AUDIT_RETAIN }) });
  if (options === null || typeof options !== 'object' || typeof options.file !== 'string' || options.file === '') {
    throw new TypeError('options.audit.file must be a file path');
  }
  const sink: AuditSink = AuditFileStore.open(options.file, {
    ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
    trustedKeys: [key.publicKey],
  });
  try {
    return new AuditLog({
      key,
      sink,
      ...(options.checkpointEvery === undefined ? {} : { checkpointEvery: options.checkpointEvery }),
    });
  } catch (error) {
    sink.close();
    throw error;
  }
}

function loadSource(request: SpawnRequest): { code: string; filename: string } {
  const hasCode = request.code !== undefined;
  const hasFile = request.file !== undefined;
  if (hasCode === hasFile) throw new TypeError('request must have exactly one of code and file');
  let code: string;
  let filename = 'agent.js';
  if (hasFile) {
    if (typeof request.file !== 'string' || request.file === '') throw new TypeError('request.file must be a path');
    code = readFileSync(request.file, 'utf8');
    // Only the base name reaches the guest (in its own stack traces), never the host directory.
    filename = basename(request.file);
  } else {
    if (typeof request.code !== 'string') throw new TypeError('request.code must be a string');
    code = request.code;
  }
  if (code.length > MAX_CODE_BYTES) throw new RangeError(`agent source exceeds ${MAX_CODE_BYTES} bytes`);
  return { code, filename };
}

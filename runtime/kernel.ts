import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type Tool, ToolRegistry } from '../tools/registry.js';
import { AgentSession, type KernelEvent, type KernelServices, type RunResult } from './agent.js';
import type { AgentLauncher, AgentProcess } from './launcher.js';
import { DEFAULT_LIMITS, type Limits, resolveLimits } from './limits.js';

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Agent source larger than this is refused before it reaches V8. */
export const MAX_CODE_BYTES = 4 * 1024 * 1024;

export interface KernelOptions {
  /** Defaults for every agent; each run may override them. */
  readonly limits?: Partial<Limits>;
  /** Cap on one payload crossing the boundary, either direction (default 1 MiB). */
  readonly maxPayloadBytes?: number;
  readonly tools?: readonly Tool[];
}

export interface SpawnRequest {
  /** The agent module's source; exactly one of `code` and `file`. */
  readonly code?: string;
  /** Path of the agent module on the host; exactly one of `code` and `file`. */
  readonly file?: string;
  /** Passed to `main`; must be JSON-serializable. */
  readonly input?: unknown;
  readonly limits?: Partial<Limits>;
}

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
  readonly #launcher: AgentLauncher;
  readonly #limits: Limits;
  readonly #services: KernelServices;
  readonly #live = new Map<string, AgentProcess>();
  readonly #events = new EventEmitter();
  #closed = false;

  /** Throws TypeError/RangeError naming the option when `options` is malformed. */
  constructor(options: KernelOptions, launcher: AgentLauncher) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    this.#limits = resolveLimits(options.limits, DEFAULT_LIMITS, 'options.limits');
    const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!Number.isInteger(maxPayloadBytes) || maxPayloadBytes < 1024 || maxPayloadBytes > 256 * 1024 * 1024) {
      throw new RangeError('options.maxPayloadBytes must be an integer between 1024 and 268435456');
    }
    if (options.tools !== undefined) this.tools.add(...options.tools);
    this.#launcher = launcher;
    this.#services = { tools: this.tools, maxPayloadBytes, emit: (event) => this.#emit(event) };
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

    const id = randomUUID();
    const session = new AgentSession(id, limits, this.#services);
    const process = this.#launcher.launch({ session, code, filename, inputJson });
    this.#live.set(id, process);
    const result = process.result.then((outcome) => {
      this.#live.delete(id);
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

  /** Kills every live agent, waits for them to end and stops the watchdog. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const ending = [...this.#live.values()].map((process) => {
      process.kill('kernel closed');
      return process.result;
    });
    await Promise.all(ending);
    this.#launcher.close();
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

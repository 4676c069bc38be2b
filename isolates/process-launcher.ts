import type { AgentLauncher, AgentProcess, LaunchRequest } from '../runtime/process/agent-launcher.js';
import type { RunResult } from '../runtime/process/run-result.js';
import { DEFAULT_HOST_POOL, HostPool, type HostPoolOptions } from './host-pool.js';
import type { HostedOutcome } from './host-process.js';
import { defaultHostEntry, type HostEntry } from './host-spawn.js';
import { preludeConfig } from './prelude-config.js';
import { DEFAULT_TICK_MS } from './watchdog.js';

// Each pool setting may be left out or undefined (parsed kernel options carry undefined): the default applies.
export type ProcessLauncherOptions = { readonly [K in keyof HostPoolOptions]?: HostPoolOptions[K] | undefined } & {
  /** The largest payload the kernel accepts (its `maxPayloadBytes`); frames from hosts are bounded by it. */
  readonly maxPayloadBytes: number;
  /** Memory size of the agents expected first (hosts build a realm for it while warming up). */
  readonly warmMemoryMb?: number;
  /** The sandbox host program (tests substitute a compromised one). */
  readonly entry?: HostEntry;
};

/**
 * The `process` isolation tier (docs/architecture.md §11): runs each agent's isolate in a sandbox host child
 * process placed by the supervisor (host-pool.ts), with the kernel's own wall-clock deadline as a backstop to
 * the host's watchdog. Killing is certain: the host is asked to dispose the isolate, and SIGKILLed when it does
 * not confirm within the grace.
 */
export class ProcessLauncher implements AgentLauncher {
  readonly #pool: HostPool;
  readonly #killGraceMs: number;
  #live = 0;

  constructor(options: ProcessLauncherOptions) {
    const { maxPayloadBytes, warmMemoryMb, entry, ...pool } = options;
    const settings: HostPoolOptions = { ...DEFAULT_HOST_POOL, ...definedOnly(pool) };
    this.#killGraceMs = settings.killGraceMs;
    this.#pool = new HostPool(
      settings,
      {
        entry: entry ?? defaultHostEntry(),
        preludeConfig: preludeConfig(maxPayloadBytes),
        tickMs: DEFAULT_TICK_MS,
        // The largest legitimate frame from a host is a syscall or a result carrying one payload (plus a few
        // short fields); agent code only travels the other way.
        maxFrameBytes: maxPayloadBytes + 64 * 1024,
        killGraceMs: settings.killGraceMs,
      },
      warmMemoryMb ?? 128,
    );
  }

  launch({ session, code, filename, inputJson }: LaunchRequest): AgentProcess {
    session.state = 'running';
    this.#live++;
    let settled = false;
    let resolveResult!: (result: RunResult) => void;
    const result = new Promise<RunResult>((resolve) => {
      resolveResult = resolve;
    });
    let deadline: NodeJS.Timeout | undefined;
    const settle = ({ outcome, usage }: HostedOutcome): void => {
      if (settled) return;
      settled = true;
      if (deadline !== undefined) clearTimeout(deadline);
      this.#live--;
      const fullUsage = {
        ...usage,
        syscalls: session.syscalls,
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0,
        tool_calls: 0,
        children: 0,
      };
      resolveResult(
        outcome.ok
          ? { ok: true, value: outcome.value, usage: fullUsage }
          : { ok: false, error: outcome.error, usage: fullUsage },
      );
    };
    const host = this.#pool.start({ session, code, filename, inputJson }, settle);
    // The kernel's own deadline, from the moment the host can run the agent (waiting for a host to start is
    // the kernel's time, not the agent's): the host's watchdog ends the agent at wall_ms; if it cannot (a
    // wedged host), this asks again and the grace turns into SIGKILL.
    host?.ready.then((up) => {
      if (!up || settled) return;
      deadline = setTimeout(
        () => this.#pool.terminate(session.id, 'E_QUOTA', 'quota exceeded: wall_ms'),
        session.limits.wall_ms + this.#killGraceMs,
      );
    });
    const terminate = (code: Parameters<AgentProcess['terminate']>[0], message: string): void => {
      if (!settled) this.#pool.terminate(session.id, code, message.slice(0, 200));
    };
    return {
      result,
      kill: (reason) => terminate('E_KILLED', `killed: ${reason}`),
      terminate,
    };
  }

  liveIsolates(): number {
    return this.#live;
  }

  /** The pid of the sandbox host an agent runs on (diagnostics and tests); undefined once it ended. */
  hostPid(agent: string): number | undefined {
    return this.#pool.hostOf(agent)?.pid;
  }

  /** A bare round trip of `payload` to a ready sandbox host and back (the benchmark's floor). */
  async ping(payload: string): Promise<string | undefined> {
    return await (await this.#pool.anyReadyHost())?.ping(payload);
  }

  /** Pids of the live sandbox hosts. */
  hostPids(): number[] {
    return this.#pool.pids();
  }

  close(): void {
    this.#pool.close();
  }
}

function definedOnly<T extends object>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

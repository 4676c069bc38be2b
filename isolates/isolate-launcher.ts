import type { AgentLauncher, AgentProcess, LaunchRequest } from '../runtime/process/agent-launcher.js';
import type { RunResult } from '../runtime/process/run-result.js';
import { dispatch } from '../syscalls/dispatch.js';
import { loadCodeChecker } from './code-check.js';
import { INLINE_NEIGHBOURS } from './memory-neighbours.js';
import { preludeConfig } from './prelude-config.js';
import { RealmPool } from './realm-pool.js';
import { Sandbox } from './sandbox.js';
import { Watchdog } from './watchdog.js';

/** Runs each agent in its own isolated-vm isolate, with one watchdog timer shared by all of them. */
export class IsolateLauncher implements AgentLauncher {
  readonly #watchdog: Watchdog;
  readonly #realms: RealmPool;
  #live = 0;

  /** `maxPayloadBytes`: the kernel's payload cap, which its realms' preludes apply before a payload crosses. */
  constructor(options: { maxPayloadBytes: number; tickMs?: number; poolSize?: number }) {
    this.#watchdog = new Watchdog(options.tickMs);
    this.#realms = new RealmPool(preludeConfig(options.maxPayloadBytes), options.poolSize);
    // Loaded with the kernel, as it was when code-check.ts imported it, not on the first spawn's path.
    loadCodeChecker();
  }

  launch({ session, code, filename, inputJson }: LaunchRequest): AgentProcess {
    const services = session.services;
    const sandbox = new Sandbox({
      code,
      filename,
      inputJson,
      limits: session.limits,
      maxPayloadBytes: services.maxPayloadBytes,
      watchdog: this.#watchdog,
      realms: this.#realms,
      hooks: {
        enter: (syscall, payload) => dispatch(session, syscall, payload),
        catastrophe: () => services.emit({ type: 'catastrophe', agent: session.id, label: session.label }),
        ended: () => session.end(),
        cpu: (totalMs) => session.reportCpu(totalMs),
        heldBytes: () => session.held?.held ?? 0,
        decoded: (ms) => session.chargeKernelTime(ms),
      },
    });
    session.state = 'running';
    this.#live++;
    INLINE_NEIGHBOURS.enter(session);
    const result: Promise<RunResult> = sandbox.outcome.then(({ outcome, usage, memoryEstimated }) => {
      // The outcome settles only after the isolate is disposed.
      this.#live--;
      INLINE_NEIGHBOURS.leave(session, memoryEstimated);
      // Counted quotas are filled in by the kernel's process table from the agent's quota.
      const fullUsage = {
        ...usage,
        syscalls: session.syscalls,
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0,
        tool_calls: 0,
        children: 0,
      };
      return outcome.ok
        ? { ok: true, value: outcome.value, usage: fullUsage }
        : { ok: false, error: outcome.error, usage: fullUsage };
    });
    return {
      result,
      kill: (reason) => sandbox.kill('E_KILLED', `killed: ${reason}`.slice(0, 200)),
      terminate: (code, message) => sandbox.kill(code, message.slice(0, 200)),
    };
  }

  liveIsolates(): number {
    return this.#live;
  }

  close(): void {
    this.#watchdog.close();
    this.#realms.close();
  }
}

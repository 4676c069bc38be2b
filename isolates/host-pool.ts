import type { ErrorCode } from '../runtime/core/errors.js';
import type { AgentSession } from '../runtime/process/session.js';
import { type HostedOutcome, type HostSettings, SandboxHost } from './host-process.js';
import { isolateHeapLimitMb } from './watchdog.js';

/** How the supervisor runs sandbox hosts (`Kernel.create({ isolation: 'process', sandboxHosts })`). */
export interface HostPoolOptions {
  /** Hosts kept started and idle ahead of demand, so a run does not wait for a process to start. */
  readonly warm: number;
  /** Top-level runs that may share one host at a time; 1 keeps every run in a process of its own. */
  readonly agentsPerHost: number;
  /** Agents a host runs before it is replaced by a fresh one. */
  readonly recycleAfter: number;
  /** A fixed resident-memory bound per host in MB; by default its idle size plus what its agents may use. */
  readonly rssLimitMb: number | undefined;
  /** How long a kill may go unconfirmed before the host is SIGKILLed. */
  readonly killGraceMs: number;
}

export const DEFAULT_HOST_POOL: HostPoolOptions = Object.freeze({
  warm: 1,
  agentsPerHost: 1,
  recycleAfter: 100,
  rssLimitMb: undefined,
  killGraceMs: 100,
});

/** How often the supervisor reads each host's RSS and CPU from the OS. */
const POLL_MS = 20;
/** A host that ran a run to its end is watched this long before it takes another: its threads must be quiet. */
const COOL_MS = 30;
/**
 * CPU (ms) a quiet host's non-main threads may use while cooling (a GC helper, a thread winding down); more
 * means an isolate thread kept running after its agent.
 */
const COOL_CPU_MS = 15;
/** How long after a placement the supervisor tops the warm hosts up again. */
const REFILL_DELAY_MS = 50;
/** Idle hosts are also checked over this window for runaway threads a cooling check missed. */
const IDLE_CHECK_MS = 200;
/**
 * A host whose RSS stays this far above its start after a run ended is retired, not handed to the next tenant
 * (red-team pass 72: a run left 190-220 MB resident that the next run's bound did not allow for).
 */
const MAX_RESIDUE_BYTES = 64 * 1024 * 1024;

interface Placement {
  readonly host: SandboxHost;
  readonly root: string;
}

interface StartRequest {
  readonly session: AgentSession;
  readonly code: string;
  readonly filename: string;
  readonly inputJson: string;
}

interface HostState {
  ready: boolean;
  /** Agents per top-level run placed here. */
  readonly runs: Map<string, number>;
  /** Set while the host is watched after a run (see COOL_MS); starts wait in `deferred`. */
  coolingUntil: number | undefined;
  coolingTicks: number | undefined;
  readonly deferred: Array<{ request: StartRequest; root: string; settle: (outcome: HostedOutcome) => void }>;
  /** No new runs: it is replaced once its runs end. */
  retiring: boolean;
  idleSince: { at: number; ticks: number } | undefined;
  /**
   * What the host's RSS stood above its start when its last run ended (memory freed but kept by the allocator):
   * the next run's bound counts from there, so one run's leftovers are not charged to the next tenant.
   */
  residue: number;
}

/**
 * The supervisor of the `process` tier (docs/architecture.md §11): it keeps warm sandbox hosts, places each
 * top-level run on a host of its own (or shares up to `agentsPerHost` runs when the host program opts in),
 * places children on their parent's host, reads every host's resident memory and CPU from the OS, SIGKILLs a
 * host past its memory bound, replaces hosts that die or ran `recycleAfter` agents, and retires a host whose
 * agent was killed (its isolate thread may still be running) or whose threads stay busy after its run ended.
 */
export class HostPool {
  readonly #options: HostPoolOptions;
  readonly #settings: Omit<HostSettings, 'warmMemoryMb'>;
  readonly #hosts = new Map<SandboxHost, HostState>();
  readonly #placements = new Map<string, Placement>();
  readonly #tickMs: number;
  #warmMemoryMb: number;
  #poll: NodeJS.Timeout | undefined;
  #refillTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: HostPoolOptions, settings: Omit<HostSettings, 'warmMemoryMb'>, warmMemoryMb: number) {
    this.#options = options;
    this.#settings = settings;
    this.#tickMs = POLL_MS;
    this.#warmMemoryMb = warmMemoryMb;
    this.#fill();
  }

  /** Live hosts' pids (for diagnostics and the tests that check nothing is left behind). */
  pids(): number[] {
    return [...this.#hosts.keys()].filter((host) => host.alive).map((host) => host.pid);
  }

  /** Starts an agent on the host its run belongs to; `settle` is called exactly once with its outcome. */
  start(request: StartRequest, settle: (outcome: HostedOutcome) => void): SandboxHost | undefined {
    if (this.#closed) {
      settle({
        outcome: { ok: false, error: { code: 'E_CRASHED', message: 'the kernel is closing' } },
        usage: { cpu_ms: 0, wall_ms: 0, heap_peak_mb: 0 },
      });
      return undefined;
    }
    const { session } = request;
    this.#warmMemoryMb = session.limits.memory_mb;
    const parent = session.parent === null ? undefined : this.#placements.get(session.parent);
    const root = parent?.root ?? session.id;
    const host = parent?.host ?? this.#choose();
    this.#place(host, request, root, settle);
    this.#refill();
    return host;
  }

  /** A live host that is up, for measurements that need one (`SandboxHost.ping`). */
  async anyReadyHost(): Promise<SandboxHost | undefined> {
    this.#fill();
    for (const host of this.#hosts.keys()) if (host.alive && (await host.ready)) return host;
    return undefined;
  }

  /**
   * Ends an agent with the kernel's reason wherever it is: a start still deferred behind a cooling host is
   * withdrawn and settled at once (it never ran, so the host stays clean); an agent on a host is ended there
   * (`SandboxHost.terminate`). A no-op for an agent not placed.
   */
  terminate(agent: string, code: ErrorCode, message: string): void {
    const placement = this.#placements.get(agent);
    if (placement === undefined) return;
    const { host, root } = placement;
    const state = this.#hosts.get(host);
    const index = state?.deferred.findIndex((waiting) => waiting.request.session.id === agent) ?? -1;
    if (state === undefined || index < 0) {
      host.terminate(agent, code, message);
      return;
    }
    const [waiting] = state.deferred.splice(index, 1);
    this.#placements.delete(agent);
    const left = (state.runs.get(root) ?? 1) - 1;
    if (left > 0) state.runs.set(root, left);
    else state.runs.delete(root);
    if (state.runs.size === 0) host.setRef(false);
    waiting?.request.session.end();
    waiting?.settle({
      outcome: { ok: false, error: { code, message } },
      usage: { cpu_ms: 0, wall_ms: 0, heap_peak_mb: 0 },
    });
  }

  /** The host an agent runs on. */
  hostOf(agent: string): SandboxHost | undefined {
    return this.#placements.get(agent)?.host;
  }

  /** SIGKILLs every host. Agents still placed end with E_CRASHED (the kernel kills them first on close). */
  close(): void {
    this.#closed = true;
    if (this.#refillTimer !== undefined) clearTimeout(this.#refillTimer);
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
    for (const host of [...this.#hosts.keys()]) host.kill('the kernel closed');
  }

  #place(host: SandboxHost, request: StartRequest, root: string, settle: (outcome: HostedOutcome) => void): void {
    const state = this.#hosts.get(host);
    if (state === undefined) {
      // The parent's host has already gone: the child cannot run there.
      host.start(request, settle);
      return;
    }
    state.runs.set(root, (state.runs.get(root) ?? 0) + 1);
    state.idleSince = undefined;
    this.#placements.set(request.session.id, { host, root });
    host.setRef(true);
    if (state.coolingUntil !== undefined) {
      state.deferred.push({ request, root, settle });
      return;
    }
    host.start(request, settle);
    if (host.started >= this.#options.recycleAfter) state.retiring = true;
    this.#startPolling();
  }

  // A host for a new top-level run: a ready one with room, else one cooling (ready in a few ms), else one still
  // starting, else a new one. Never a tainted host: an agent was ended there by force, so its isolate thread may
  // still be running (or the host is about to be SIGKILLed); it only serves the runs it already has.
  #choose(): SandboxHost {
    let best: SandboxHost | undefined;
    let bestScore = Number.POSITIVE_INFINITY;
    for (const [host, state] of this.#hosts) {
      if (!host.alive || host.tainted || state.retiring || state.runs.size >= this.#options.agentsPerHost) continue;
      const score = (state.ready ? 0 : 2) + (state.coolingUntil === undefined ? 0 : 1) + state.runs.size / 1000;
      if (score < bestScore) {
        best = host;
        bestScore = score;
      }
    }
    return best ?? this.#spawn();
  }

  #spawn(): SandboxHost {
    const host = new SandboxHost({ ...this.#settings, warmMemoryMb: this.#warmMemoryMb });
    const state: HostState = {
      ready: false,
      runs: new Map(),
      coolingUntil: undefined,
      coolingTicks: undefined,
      deferred: [],
      retiring: false,
      idleSince: undefined,
      residue: 0,
    };
    this.#hosts.set(host, state);
    host.setRef(false);
    host.ready.then((up) => {
      state.ready = up;
    });
    host.onAgentEnd((ended, session) => this.#agentEnded(ended, session));
    host.onExit((dead) => this.#exited(dead));
    return host;
  }

  // Keeps `warm` hosts idle (or about to be) with room for a new run. Checked a little after a placement, so
  // that a host coming back from a short run counts and back-to-back runs do not start a process each.
  #refill(): void {
    if (this.#closed || this.#refillTimer !== undefined) return;
    this.#refillTimer = setTimeout(() => {
      this.#refillTimer = undefined;
      this.#fill();
    }, REFILL_DELAY_MS);
    this.#refillTimer.unref();
  }

  #fill(): void {
    if (this.#closed) return;
    let spare = 0;
    for (const [host, state] of this.#hosts) {
      if (host.alive && !state.retiring && state.runs.size === 0) spare++;
    }
    for (; spare < this.#options.warm; spare++) this.#spawn();
  }

  #agentEnded(host: SandboxHost, session: AgentSession): void {
    const placement = this.#placements.get(session.id);
    this.#placements.delete(session.id);
    const state = this.#hosts.get(host);
    if (placement === undefined || state === undefined) return;
    const left = (state.runs.get(placement.root) ?? 1) - 1;
    if (left > 0) {
      state.runs.set(placement.root, left);
      return;
    }
    state.runs.delete(placement.root);
    if (state.runs.size > 0) return;
    host.setRef(false);
    if (host.tainted || state.retiring || this.#closed) {
      host.kill(host.tainted ? 'an agent was ended by force' : 'recycled');
      return;
    }
    // A run ended by itself: watch the host's CPU before it takes another, in case an isolate thread is still
    // busy in a built-in that ignores termination.
    const ticks = host.cpuTicks();
    if (ticks === undefined) {
      this.#becameIdle(host, state);
      return;
    }
    state.coolingUntil = performance.now() + COOL_MS;
    state.coolingTicks = ticks;
    setTimeout(() => this.#cooled(host, state), COOL_MS).unref();
  }

  #cooled(host: SandboxHost, state: HostState): void {
    const before = state.coolingTicks ?? 0;
    state.coolingUntil = undefined;
    state.coolingTicks = undefined;
    if (!host.alive) return;
    const after = host.cpuTicks();
    const rss = host.rss();
    const busy = after === undefined || (after - before) * TICK_MS > COOL_CPU_MS;
    const residue = rss === undefined || host.baseRss === 0 ? Number.POSITIVE_INFINITY : rss - host.baseRss;
    if (busy || residue > MAX_RESIDUE_BYTES) {
      const waiting = state.deferred.splice(0);
      host.kill(busy ? 'its threads stayed busy after its run ended' : 'it kept memory its run had freed');
      for (const { request, settle } of waiting) {
        this.#placements.delete(request.session.id);
        this.start(request, settle);
      }
      return;
    }
    state.residue = Math.max(0, residue);
    const waiting = state.deferred.splice(0);
    for (const { request, settle } of waiting) {
      host.start(request, settle);
      if (host.started >= this.#options.recycleAfter) state.retiring = true;
    }
    if (waiting.length > 0) this.#startPolling();
    else this.#becameIdle(host, state);
  }

  #becameIdle(host: SandboxHost, state: HostState): void {
    const spare: Array<[SandboxHost, HostState]> = [];
    for (const [other, otherState] of this.#hosts) {
      if (other.alive && !otherState.retiring && otherState.runs.size === 0 && otherState.coolingUntil === undefined) {
        spare.push([other, otherState]);
      }
    }
    state.idleSince = { at: performance.now(), ticks: host.cpuTicks() ?? 0 };
    this.#startPolling();
    if (spare.length <= this.#options.warm) return;
    // One too many (a refill started while this host was busy): drop one still starting, which has served no
    // one yet, else the one that has run the most agents.
    let victim = spare[0] as [SandboxHost, HostState];
    for (const entry of spare) {
      const [candidate, candidateState] = entry;
      const [current, currentState] = victim;
      if (currentState.ready && !candidateState.ready) victim = entry;
      else if (currentState.ready === candidateState.ready && candidate.started > current.started) victim = entry;
    }
    victim[0].kill('not needed');
  }

  #exited(host: SandboxHost): void {
    const state = this.#hosts.get(host);
    this.#hosts.delete(host);
    for (const [agent, placement] of this.#placements) if (placement.host === host) this.#placements.delete(agent);
    // Starts deferred to a host that died while cooling go elsewhere: they never ran.
    for (const { request, settle } of state?.deferred.splice(0) ?? []) this.start(request, settle);
    this.#refill();
  }

  #startPolling(): void {
    if (this.#poll !== undefined || this.#closed) return;
    this.#poll = setInterval(() => this.#check(), this.#tickMs);
    this.#poll.unref();
  }

  // The OS-level backstops: a host past its memory bound, or an idle host whose threads keep running.
  #check(): void {
    let busy = false;
    const now = performance.now();
    for (const [host, state] of this.#hosts) {
      if (!host.alive) continue;
      if (host.load > 0) {
        busy = true;
        const rss = host.rss();
        if (rss !== undefined && rss > this.#boundBytes(host)) host.kill('the sandbox host exceeded its memory bound');
        continue;
      }
      if (state.idleSince !== undefined && now - state.idleSince.at >= IDLE_CHECK_MS) {
        const ticks = host.cpuTicks() ?? state.idleSince.ticks;
        if ((ticks - state.idleSince.ticks) * TICK_MS > (now - state.idleSince.at) / 2) {
          host.kill('an idle sandbox host kept a thread running');
          continue;
        }
        state.idleSince = { at: now, ticks };
        busy = true;
      }
    }
    if (!busy && this.#poll !== undefined) {
      clearInterval(this.#poll);
      this.#poll = undefined;
    }
  }

  #boundBytes(host: SandboxHost): number {
    if (this.#options.rssLimitMb !== undefined) return this.#options.rssLimitMb * MB;
    let allowance = 0;
    for (const session of host.sessions())
      allowance += isolateHeapLimitMb(session.limits.memory_mb) + session.limits.memory_mb;
    // Before the host reports ready its own size is not known yet: assume a generous one.
    const residue = this.#hosts.get(host)?.residue ?? 0;
    return (host.baseRss > 0 ? host.baseRss : UNKNOWN_BASE_RSS) + residue + allowance * MB;
  }
}

const MB = 1024 * 1024;
const UNKNOWN_BASE_RSS = 192 * MB;
/** Linux reports process CPU in clock ticks of 10 ms (USER_HZ 100). */
const TICK_MS = 10;

import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Attempt, type AuditSubject } from '../runtime/audit/attempt.js';
import type { AuditLog } from '../runtime/audit/audit-log.js';
import { type ErrorCode, type KernelErrorInfo, observedBy } from '../runtime/core/errors.js';
import { joinLabels } from '../runtime/labels/label.js';
import { MEMORY_EXCEEDED } from '../runtime/process/held-memory.js';
import type { AgentSession } from '../runtime/process/session.js';
import { dispatch, dispatchEnded, EndedAgent } from '../syscalls/dispatch.js';
import { decodePayload } from '../syscalls/wire.js';
import { encodeFrame, FROM_HOST, FrameReader, HELD_REPORT_STEP_BYTES, OVERSIZED, TO_HOST } from './host-protocol.js';
import { type HostEntry, spawnHost, takePrestartedHost } from './host-spawn.js';
import { endedClean } from './main-outcome.js';
import { MemoryNeighbours } from './memory-neighbours.js';
import type { SandboxUsage } from './sandbox.js';

/** What the kernel learns when an agent of a host ends. */
export interface HostedOutcome {
  readonly outcome: { ok: true; value: unknown } | { ok: false; error: KernelErrorInfo };
  readonly usage: SandboxUsage;
}

/** One agent the kernel placed on a host: its session and how its end is reported. */
interface Placed {
  readonly session: AgentSession;
  readonly settle: (outcome: HostedOutcome) => void;
  readonly startedAt: number;
  cpuMs: number;
  /** The kernel's own reason, once it decided to end the agent: it wins over whatever the host reports. */
  terminating: KernelErrorInfo | undefined;
  /** When the host must have confirmed the kill it was sent (performance.now() ms); undefined if none is owed. */
  killDeadline: number | undefined;
}

export interface HostSettings {
  readonly entry: HostEntry;
  readonly preludeConfig: string;
  readonly tickMs: number;
  /** Memory size the host builds its first realm for. */
  readonly warmMemoryMb: number;
  /** Frames larger than this from the host are a protocol violation. */
  readonly maxFrameBytes: number;
  /** How long a kill may go unconfirmed before the host is SIGKILLed; the k-th of a burst has k graces. */
  readonly killGraceMs: number;
}

/** Codes a host may report for an agent's end; anything else is a protocol violation. */
const HOST_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'E_QUOTA',
  'E_KILLED',
  'E_AGENT_FAILED',
  'E_BAD_CODE',
  'E_INTERNAL',
]);
const DECIMAL = /^(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,6})?$/;
const CALL_ID = /^[1-9][0-9]{0,15}$/;
const PAGE_BYTES = 4096;
/** Attempts past an agent's `syscalls` budget that are still recorded once the agent has ended. */
const LATE_SYSCALL_MARGIN = 1000;
/** How long a closed channel waits for the process's exit report before the host is declared dead. */
const EXIT_WAIT_MS = 200;
/**
 * How long one turn of the event loop may spend on one host's frames. A host relays its agents' syscalls without
 * waiting for replies, so hundreds can arrive in one read, and one syscall may cost the kernel tens of ms of
 * synchronous work (a spawn's delegation planning): handled in one go, 600 unawaited spawns held the kernel's
 * loop 2.7 s (red-team pass 63). What is left waits for a later turn (see #readFrames).
 */
const FRAME_SLICE_MS = 10;
/**
 * How many bytes of a host's unread frames the kernel holds before it pauses the channel, so that a host that sends
 * faster than the kernel reads waits in the socket (backpressure) instead of growing the kernel's buffers. Not
 * less: a host's exit and a kill's verdict wait only for the frames the kernel has received (#afterReceived), so
 * under this it keeps taking in what the host sends, as it did when it read every frame on arrival. About one
 * frame at the default payload cap.
 */
const BACKLOG_BYTES = 1024 * 1024;
/**
 * How long past a kill's deadline its verdict may wait for the frames received before it to be read. An honest
 * host's confirmation waits behind its agents' own backlog, which takes longer than this to read only when they
 * sent a second of costly syscalls at once.
 */
const KILL_VERDICT_WAIT_MS = 1000;

/**
 * The kernel's side of one sandbox host process (docs/architecture.md §11). The host is as hostile as the
 * agents it runs: every frame it sends is checked against what the kernel gave it (a syscall only for an
 * agent placed on this host, numbers that are numbers, outcomes in the reply form with a code a host may
 * report), and anything else is refused, audited and answered by SIGKILL, because a host that breaks the
 * protocol is compromised. Syscalls go through the same `dispatch` as inline ones, with the session the
 * kernel bound to the agent id, never anything the host claims.
 *
 * A host that dies, for whatever reason, ends exactly the agents placed on it: with the kernel's own reason
 * for the ones it was killing, and E_CRASHED for the rest.
 */
export class SandboxHost {
  readonly pid: number;
  /** Resolves true when the host is up (its first realm built), false if it died first. */
  readonly ready: Promise<boolean>;
  /** Agents started on this host (for recycling). */
  started = 0;
  /** Set once an agent ended in a way that may leave an isolate thread running (a kill, a quota, a crash). */
  tainted = false;
  /** RSS when the host reported ready, in bytes (the base of its memory bound). */
  baseRss = 0;
  readonly #settings: HostSettings;
  readonly #child: ChildProcess;
  readonly #channel: Socket;
  readonly #reader: FrameReader;
  /** Bytes the channel delivered; those read as frames so far are these less what the reader still holds. */
  #received = 0;
  /** A turn is scheduled to read frames (some were left waiting, or bytes arrived). */
  #readScheduled = false;
  /** The timer of a turn put off to pay back kernel time (see #scheduleRead). */
  #turnTimer: NodeJS.Timeout | undefined;
  /** The kernel time this host's agents were charged, as of the end of its last turn (see #readFrames). */
  #chargedBefore = 0;
  /** The kernel time charged to agents that were placed here and have ended. */
  #chargedToEnded = 0;
  /** Not before this (performance.now()) is the host's next turn of reading frames: see #readFrames. */
  #nextTurnAt = 0;
  /** What waits until the frames received before it are read: a host's end, a kill's verdict (#afterReceived). */
  #waiting: Array<{ mark: number; then: () => void }> = [];
  readonly #dir: string;
  readonly #placed = new Map<string, Placed>();
  /** Agents that ended here, as much of each as refusing (E_KILLED) and auditing a late syscall takes. */
  readonly #past = new Map<string, EndedAgent>();
  /** The agents whose isolates share this host's memory: a memory end takes their labels. */
  readonly #neighbours = new MemoryNeighbours();
  /** Ended agents whose late syscalls passed the margin: dropped unrecorded (see `#syscall`). */
  readonly #muted = new Set<string>();
  readonly #onExit: Array<(host: SandboxHost) => void> = [];
  readonly #onAgentEnd: Array<(host: SandboxHost, session: AgentSession) => void> = [];
  readonly #pings = new Map<string, (payload: string | undefined) => void>();
  #nextPing = 1;
  #audit: AuditLog | undefined;
  #alive = true;
  #announced = false;
  #deathReason = 'the sandbox host process ended';
  #markReady!: (up: boolean) => void;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(settings: HostSettings) {
    this.#settings = settings;
    this.ready = new Promise((resolve) => {
      this.#markReady = resolve;
    });
    // The CLI may have started this process's first host before the kernel loaded (host-spawn.ts).
    const { child, dir } = takePrestartedHost(settings.entry) ?? spawnHost(settings.entry);
    this.#child = child;
    this.#dir = dir;
    this.pid = this.#child.pid ?? -1;
    this.#channel = this.#child.stdio[3] as Socket;
    this.#reader = new FrameReader(
      settings.maxFrameBytes,
      (fields) => this.#onFrame(fields),
      (problem) => this.#violation(`${problem} frame`),
    );
    this.#channel.on('data', (chunk: Buffer) => {
      this.#received += chunk.length;
      this.#reader.append(chunk);
      this.#scheduleRead();
    });
    // The channel closes when the process dies; its exit (with the signal) normally follows at once and
    // names the cause better, so a closed channel alone ends the host only if no exit is reported soon. Either
    // way the frames the host sent before are read first (some may still wait their turn): the result of an
    // agent that ended just before the host did is that agent's outcome, not E_CRASHED.
    const ended = (reason: string) => this.#afterReceived(() => this.#died(reason));
    const lost = (reason: string) => setTimeout(() => ended(reason), EXIT_WAIT_MS).unref();
    this.#channel.on('error', () => lost('the channel to the sandbox host failed'));
    this.#channel.on('close', () => lost('the channel to the sandbox host closed'));
    this.#child.on('error', () => this.#died('the sandbox host could not be started'));
    this.#child.on('exit', (code, signal) =>
      ended(signal === null ? `the sandbox host exited (${code})` : `the sandbox host was ended by ${signal}`),
    );
    this.#send([TO_HOST.init, settings.preludeConfig, String(settings.tickMs), String(settings.warmMemoryMb)]);
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Agents placed here and not yet ended. */
  get load(): number {
    return this.#placed.size;
  }

  /** Live sessions placed on this host. */
  sessions(): AgentSession[] {
    return [...this.#placed.values()].map((placed) => placed.session);
  }

  onExit(listener: (host: SandboxHost) => void): void {
    this.#onExit.push(listener);
  }

  onAgentEnd(listener: (host: SandboxHost, session: AgentSession) => void): void {
    this.#onAgentEnd.push(listener);
  }

  /** Starts an agent here; `settle` is called exactly once with its outcome. */
  start(
    request: { session: AgentSession; code: string; filename: string; inputJson: string },
    settle: (outcome: HostedOutcome) => void,
  ): void {
    const { session } = request;
    this.#audit ??= session.services.audit;
    const placed: Placed = {
      session,
      settle,
      startedAt: performance.now(),
      cpuMs: 0,
      terminating: undefined,
      killDeadline: undefined,
    };
    this.#placed.set(session.id, placed);
    this.#neighbours.enter(session);
    this.started++;
    if (!this.#alive) {
      this.#finish(placed, undefined, crashed(this.#deathReason));
      return;
    }
    this.#send([
      TO_HOST.start,
      session.id,
      request.code,
      request.filename,
      request.inputJson,
      JSON.stringify(session.limits),
      String(session.services.maxPayloadBytes),
    ]);
    // The host's watchdog counts what the kernel holds for the agent with its heap, against one memory_mb.
    let reported = 0;
    session.held?.observe((bytes) => {
      if (this.#placed.get(session.id) !== placed || !this.#alive) return;
      if (Math.abs(bytes - reported) < HELD_REPORT_STEP_BYTES && (bytes > 0 || reported === 0)) return;
      reported = bytes;
      this.#send([TO_HOST.held, session.id, String(bytes)]);
    });
  }

  /**
   * Ends an agent placed here with the kernel's reason: marks it ended at once (later syscalls are refused),
   * asks the host to dispose its isolate, and SIGKILLs the host if that is not confirmed by the kill's deadline.
   * A no-op for an agent not live here or already being ended.
   */
  terminate(agent: string, code: ErrorCode, message: string): void {
    const placed = this.#placed.get(agent);
    if (placed === undefined || placed.terminating !== undefined) return;
    placed.terminating = { code, message };
    placed.session.end();
    this.tainted = true;
    if (!this.#alive) return;
    this.#send([TO_HOST.kill, agent, code, message]);
    // After the latest deadline still owed, not the latest ever given: kills confirmed long ago must not lengthen
    // this one (after 200 confirmed kills, a withheld one survived 190 graces).
    const owed = this.#latestKillDeadline();
    placed.killDeadline = Math.max(performance.now(), owed ?? 0) + this.#settings.killGraceMs;
    this.#armKillTimer();
    this.#hurryTurn();
  }

  // A host confirms a burst of kills one at a time (a few ms each under load), so each kill's deadline is one grace
  // after the later of its sending and the latest deadline still owed: the k-th kill of a burst has k
  // graces, and no confirmation moves any deadline, so a host that withholds one kill is SIGKILLed at that
  // kill's deadline whatever else it confirms. Timers run before I/O in an event-loop turn, so after the kernel
  // itself was busy past a deadline the confirmation may be waiting unread: the verdict waits for that turn's
  // I/O (setImmediate), and for the frames received by then to be read (they may wait their turn, #readFrames).
  #armKillTimer(): void {
    if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
    this.#killTimer = undefined;
    const earliest = this.#earliestKillDeadline();
    if (earliest === undefined) return;
    this.#killTimer = setTimeout(
      () => {
        let judged = false;
        setImmediate(() =>
          this.#afterReceived(() => {
            judged = true;
            this.#judgeKills();
          }),
        );
        // The wait for received frames is bounded: a host that queues costly syscalls ahead of a confirmation it
        // withholds put its kill off by 3.4 s (red-team pass 64), and cheaper-per-byte frames would stretch that.
        setTimeout(() => {
          if (!judged) this.#judgeKills();
        }, KILL_VERDICT_WAIT_MS).unref();
      },
      Math.max(0, earliest - performance.now()),
    );
  }

  #judgeKills(): void {
    const due = this.#earliestKillDeadline();
    if (due === undefined || !this.#alive) return;
    if (due <= performance.now()) this.kill('a kill was not confirmed in time');
    else this.#armKillTimer();
  }

  // Both scan the agents placed here (a host's children share it): a burst of n kills costs O(n²) steps, a few
  // microseconds for a hundred.
  #earliestKillDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const placed of this.#placed.values()) {
      const deadline = placed.killDeadline;
      if (deadline !== undefined && (earliest === undefined || deadline < earliest)) earliest = deadline;
    }
    return earliest;
  }

  #latestKillDeadline(): number | undefined {
    let latest: number | undefined;
    for (const placed of this.#placed.values()) {
      const deadline = placed.killDeadline;
      if (deadline !== undefined && (latest === undefined || deadline > latest)) latest = deadline;
    }
    return latest;
  }

  /**
   * One bare round trip of `payload` over the channel (the host echoes it at once): what a syscall's crossing
   * costs without the isolate and the kernel, for the benchmarks. Resolves undefined if the host dies first.
   */
  ping(payload: string): Promise<string | undefined> {
    if (!this.#alive) return Promise.resolve(undefined);
    const token = String(this.#nextPing++);
    return new Promise((resolve) => {
      this.#pings.set(token, resolve);
      this.#send([TO_HOST.ping, token, payload]);
    });
  }

  /** SIGKILLs the host; its agents end (see the class comment). Idempotent. */
  kill(reason: string): void {
    if (!this.#alive) return;
    this.#deathReason = reason;
    try {
      this.#child.kill('SIGKILL');
    } catch {
      // Already gone; the exit handler reports it.
    }
    this.#died(reason);
  }

  /** Keeps (or stops keeping) the kernel's process alive for this host: only while it runs agents. */
  setRef(on: boolean): void {
    if (on) {
      this.#child.ref();
      this.#channel.ref();
    } else {
      this.#child.unref();
      this.#channel.unref();
    }
  }

  /** The host's resident memory in bytes, from the OS (undefined when it cannot be read). */
  rss(): number | undefined {
    try {
      const resident = Number(readFileSync(`/proc/${this.pid}/statm`, 'utf8').split(' ')[1]);
      return Number.isFinite(resident) ? resident * PAGE_BYTES : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * CPU the host's threads other than its main thread used so far, in clock ticks (user + system), from the
   * OS. Isolates run on isolated-vm's threads; the main thread only relays frames and builds realms, so a
   * host with no agent whose other threads keep using CPU has an isolate thread still running.
   */
  cpuTicks(): number | undefined {
    try {
      let ticks = 0;
      for (const task of readdirSync(`/proc/${this.pid}/task`)) {
        if (task === String(this.pid)) continue;
        const stat = readFileSync(`/proc/${this.pid}/task/${task}/stat`, 'utf8');
        // Fields after the command name (which may contain spaces), counted from field 3.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const used = Number(fields[11]) + Number(fields[12]);
        if (Number.isFinite(used)) ticks += used;
      }
      return ticks;
    } catch {
      return undefined;
    }
  }

  #send(fields: string[]): void {
    if (!this.#alive) return;
    try {
      this.#channel.write(encodeFrame(fields));
    } catch {
      this.kill('the channel to the sandbox host failed');
    }
  }

  // The kernel time charged to the agents placed here, now and before (it only grows).
  #chargedKernelMs(): number {
    let total = this.#chargedToEnded;
    for (const { session } of this.#placed.values()) total += session.kernelMs;
    return total;
  }

  #scheduleRead(): void {
    if (this.#readScheduled || !this.#alive) return;
    this.#readScheduled = true;
    // While a kill waits for its confirmation the host's frames are read at once: a confirmation sent in time is
    // never judged late because the kernel put off reading it (review of pass 75's fix).
    const wait = this.#killTimer === undefined ? this.#nextTurnAt - performance.now() : 0;
    if (wait > 0) {
      this.#turnTimer = setTimeout(() => {
        this.#turnTimer = undefined;
        this.#readFrames();
      }, wait).unref();
    } else {
      setImmediate(() => this.#readFrames());
    }
  }

  // A kill was just armed: a turn put off to pay back kernel time is taken now (see #scheduleRead).
  #hurryTurn(): void {
    if (this.#turnTimer === undefined) return;
    clearTimeout(this.#turnTimer);
    this.#turnTimer = undefined;
    setImmediate(() => this.#readFrames());
  }

  // Frames are read in a turn of their own (setImmediate: after the I/O that brought them), in the order the host
  // sent them, for at most FRAME_SLICE_MS per turn (a frame begun is finished, so one costly syscall can take a
  // turn past it): a host's burst of costly syscalls takes many short turns, and other hosts, timers and replies
  // run between them. While more than BACKLOG_BYTES wait, the channel is paused, so a host that sends faster
  // than the kernel reads is blocked in the socket instead of growing the kernel's buffers. Only while whole
  // frames wait: a frame larger than that must still arrive.
  #readFrames(): void {
    this.#readScheduled = false;
    if (!this.#alive) return;
    const until = performance.now() + FRAME_SLICE_MS;
    const left = this.#reader.read(() => this.#alive && performance.now() < until);
    if (!this.#alive) return;
    // Kernel time past the slice is paid back: the host's next turn waits as long, and the other hosts' frames are
    // read meanwhile. Both what this turn took (a costly frame is finished once begun: red-team pass 75, frames of
    // 1 MB of empty arrays, ~170 ms each, slowed another tenant's calls 9-45 times in turns taken back to back) and
    // what the host's agents were charged since the last turn, which includes the work of their calls after an
    // await (pass 76: `sys.mem.get` of 1 MB of empty arrays parses it after the store's read, out of the turn).
    const charged = this.#chargedKernelMs();
    const overran = Math.max(performance.now() - until, charged - this.#chargedBefore - FRAME_SLICE_MS);
    this.#chargedBefore = charged;
    if (overran > 0) this.#nextTurnAt = performance.now() + overran;
    if (left) this.#scheduleRead();
    if (left && this.#reader.buffered > BACKLOG_BYTES) this.#channel.pause();
    else this.#channel.resume();
    this.#settleWaiting();
  }

  // Runs `then` once the frames received from the host so far are read: at once if none waits. The host's end
  // and a kill's verdict wait so, as they would have when every frame was read on arrival: nothing the host sent
  // before it ended is lost, and a confirmation that arrived in time counts. Only what was received by now is
  // waited for (what the socket delivers later is not), so a host that keeps sending cannot put either off. Once
  // the host is dead, both are moot.
  #afterReceived(then: () => void): void {
    if (!this.#alive) return;
    const mark = this.#received + this.#channel.readableLength;
    if (this.#hasRead(mark)) then();
    else this.#waiting.push({ mark, then });
  }

  // Whether the frames in the first `mark` bytes the channel delivered are read, or nothing whole is left to read
  // (the reader holds at most part of a frame, and the paused socket nothing it would still deliver).
  #hasRead(mark: number): boolean {
    if (this.#received - this.#reader.buffered >= mark) return true;
    return !this.#readScheduled && (this.#channel.readableLength === 0 || this.#channel.destroyed);
  }

  // Marks only grow (bytes move from the socket's buffer to the reader), so the first waiter is due first.
  #settleWaiting(): void {
    for (let first = this.#waiting[0]; first !== undefined && this.#hasRead(first.mark); first = this.#waiting[0]) {
      this.#waiting.shift();
      first.then();
    }
  }

  #onFrame(fields: string[]): void {
    if (!this.#alive) return;
    const [type, agent = ''] = fields;
    // `ready` is the host's first frame and only that: its RSS then is the base of the host's memory bound,
    // so a second one would let a host that has grown move its own bound up.
    if (type === FROM_HOST.ready && fields.length === 2 && !this.#announced) {
      this.#announced = true;
      this.baseRss = this.rss() ?? 0;
      this.#markReady(true);
      return;
    }
    if (type === FROM_HOST.pong && fields.length === 3) {
      const resolve = this.#pings.get(agent);
      if (resolve === undefined) {
        this.#violation('an unasked pong');
        return;
      }
      this.#pings.delete(agent);
      resolve(fields[2] ?? '');
      return;
    }
    if (type === FROM_HOST.sys && fields.length === 5) {
      this.#syscall(agent, fields[2], fields[3], fields[4]);
      return;
    }
    if (
      type === FROM_HOST.sys &&
      fields.length === 7 &&
      fields[4] === '' &&
      fields[5] === OVERSIZED &&
      /^[0-9]{1,15}$/.test(fields[6] ?? '')
    ) {
      // Dispatch refuses and records it by its length: the host's word for it, a number and nothing else (a
      // hostile host can only misstate the size of its own agent's refused call).
      this.#syscall(agent, fields[2], fields[3], Number(fields[6]));
      return;
    }
    const placed = this.#placed.get(agent);
    if (placed === undefined) {
      // Reports about an agent that already ended here are stale, not forged: the host sends them in order.
      if (this.#past.has(agent) && (type === FROM_HOST.cpu || type === FROM_HOST.catastrophe)) return;
      this.#violation(`a ${String(type).slice(0, 32)} frame for an agent it does not host`);
      return;
    }
    if (type === FROM_HOST.cpu && fields.length === 3) {
      const total = Number(fields[2]);
      if (!DECIMAL.test(fields[2] ?? '') || total < placed.cpuMs) {
        this.#violation('a malformed CPU report');
        return;
      }
      placed.cpuMs = total;
      placed.session.reportCpu(total);
      return;
    }
    if (type === FROM_HOST.ended && fields.length === 2) {
      placed.session.end();
      return;
    }
    if (type === FROM_HOST.busy && fields.length === 2) {
      this.tainted = true;
      return;
    }
    if (type === FROM_HOST.catastrophe && fields.length === 2) {
      this.tainted = true;
      placed.session.services.emit({ type: 'catastrophe', agent, label: placed.session.label });
      return;
    }
    if (type === FROM_HOST.result && fields.length === 6) {
      const usage = parseUsage(fields[3], fields[4], fields[5]);
      const started = performance.now();
      const outcome = usage === undefined ? undefined : parseOutcome(fields[2] ?? '', placed.session);
      const decodeMs = performance.now() - started;
      if (usage === undefined || outcome === undefined) {
        this.#violation('a malformed result');
        return;
      }
      if (!endedClean(outcome)) this.tainted = true;
      this.#finish(placed, usage, outcome);
      // The result's shape decides its decoding time: the agent's (and its ancestors') kernel time (sandbox.ts).
      placed.session.chargeKernelTime(decodeMs);
      return;
    }
    this.#violation(`an unknown ${String(type).slice(0, 32)} frame`);
  }

  #syscall(
    agent: string,
    call: string | undefined,
    name: string | undefined,
    payload: string | number | undefined,
  ): void {
    const session = this.#placed.get(agent)?.session;
    const ended = session === undefined ? this.#past.get(agent) : undefined;
    const caller = session ?? ended;
    if (caller === undefined) {
      this.#violation('a syscall for an agent it does not host');
      return;
    }
    if (call === undefined || !CALL_ID.test(call)) {
      this.#violation('a syscall with a malformed call id');
      return;
    }
    // A syscall after the agent's end is refused and audited. Some arrive honestly (sent before the host learned
    // of the end: under load, a host whose agent loops on syscalls may have thousands in flight), so they are
    // not a violation; but past the agent's whole budget plus a margin they are not dispatched, audited or
    // answered any more (one record says so): a host cannot write the audit log without end for an agent that
    // can no longer act.
    if (caller.state === 'ended' && caller.syscalls >= caller.limits.syscalls + LATE_SYSCALL_MARGIN) {
      if (!this.#muted.has(agent)) {
        this.#muted.add(agent);
        const attempt = new Attempt(caller.services.audit, caller.subject, 'sandbox', { host: this.pid });
        const what = 'syscalls of an ended agent past its budget: no longer recorded';
        attempt.describe('sandbox.late', what, { host: this.pid }, caller.label, false);
        attempt.end('E_KILLED', undefined, true);
      }
      return;
    }
    if (session === undefined) {
      // An agent that has ended here is answered nothing: its isolate is disposed.
      if (ended !== undefined) dispatchEnded(ended, name, payload);
      return;
    }
    // The same entry as inline: counted, decoded, validated and audited for the session the kernel bound. The
    // host writes the payload's text, and a key it names twice parses into an object sized for both (wire.ts).
    const reply = dispatch(session, name, payload, true);
    if (typeof reply === 'string') this.#reply(session, agent, call, reply);
    else reply.then((late) => this.#reply(session, agent, call, late));
  }

  // A reply stays in the kernel's process until the host reads it: the socket buffers what the host has not
  // taken yet. That is memory the kernel holds for the agent, so it is held against the agent's memory_mb
  // (and the kernel's pool) until the write is flushed to the OS: a host that asks for large replies and never
  // reads them ends its agent with E_QUOTA instead of growing the kernel without bound. A reply for an agent
  // that has ended reaches no one (the host disposed its isolate) and is not written.
  #reply(session: AgentSession, agent: string, call: string, reply: string): void {
    const ended = (): boolean => session.state === 'ended';
    if (!this.#alive || ended()) return;
    const frame = encodeFrame([TO_HOST.reply, agent, call, reply]);
    let release = (): void => {};
    const held = session.held;
    if (held !== undefined) {
      try {
        // The reply's size is the agent's data: a refusal it causes carries the agent's label.
        held.hold(frame.length, session.label);
        release = () => held.release(frame.length);
      } catch (error) {
        // Ended (by this hold or before): nothing to deliver. A full kernel pool alone leaves it unheld, and the
        // agent takes what that refusal depended on (see AgentSession.holdPending).
        if (ended()) return;
        session.label = joinLabels(session.label, observedBy(error));
      }
    }
    try {
      this.#channel.write(frame, release);
    } catch {
      release();
      this.kill('the channel to the sandbox host failed');
    }
  }

  // Refused, audited, and the host is killed: a host that breaks the protocol is compromised.
  #violation(what: string): void {
    if (!this.#alive) return;
    if (this.#audit !== undefined) {
      const subject: AuditSubject = { id: `sandbox-host:${this.pid}`, namespace: 'host', parent: null };
      const attempt = new Attempt(this.#audit, subject, 'sandbox', { what });
      attempt.describe('sandbox.violation', what, { what }, undefined, false);
      attempt.end('E_BAD_ARG');
    }
    this.kill(`the sandbox host broke the protocol: ${what}`);
  }

  #finish(placed: Placed, usage: SandboxUsage | undefined, reported: HostedOutcome['outcome']): void {
    const { session } = placed;
    if (this.#placed.get(session.id) !== placed) return;
    this.#placed.delete(session.id);
    this.#chargedToEnded += session.kernelMs;
    if (placed.killDeadline !== undefined) {
      placed.killDeadline = undefined;
      if (this.#alive) this.#armKillTimer();
    }
    session.end();
    const cpuMs = Math.max(usage?.cpu_ms ?? 0, placed.cpuMs);
    session.reportCpu(cpuMs);
    const outcome: HostedOutcome['outcome'] =
      placed.terminating !== undefined ? { ok: false, error: placed.terminating } : reported;
    // Ends that any agent on the host may have caused take the labels of all of them (memory-neighbours.ts): a memory
    // end the host's watchdog decided (a kernel's own end is `terminating`), by a figure that may count its other
    // agents' growth (the host does not say whether it did, so the end is taken as if it did), and the host's death
    // (E_CRASHED), which any of its agents can bring about: an abort (H5) or growth past the host's RSS bound.
    const shared =
      placed.terminating === undefined &&
      !outcome.ok &&
      (outcome.error.message === MEMORY_EXCEEDED || outcome.error.code === 'E_CRASHED');
    this.#neighbours.leave(session, shared);
    // With the label it ended with: results that settle later reach nobody, so no late call depends on them.
    this.#past.set(session.id, new EndedAgent(session));
    if (!outcome.ok && outcome.error.code === 'E_CRASHED') {
      // An end the agent did not cause and no syscall records: the audit log says why it ended.
      const attempt = new Attempt(session.services.audit, session.subject, 'exit', { host: this.pid });
      attempt.describe('agent.crashed', outcome.error.message, { host: this.pid }, session.label, false);
      attempt.end('E_CRASHED');
    }
    placed.settle({
      outcome,
      usage: {
        cpu_ms: cpuMs,
        wall_ms: usage?.wall_ms ?? Math.round((performance.now() - placed.startedAt) * 100) / 100,
        heap_peak_mb: usage?.heap_peak_mb ?? 0,
      },
    });
    for (const listener of this.#onAgentEnd) listener(this, session);
  }

  #died(reason: string): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.#deathReason = reason;
    // Frames still unread are dropped, as they were when the kernel read every frame on arrival and stopped at
    // the host's death; what waited for them is either this death or a verdict it makes moot.
    this.#waiting = [];
    this.#markReady(false);
    if (this.#killTimer !== undefined) clearTimeout(this.#killTimer);
    this.#killTimer = undefined;
    try {
      this.#child.kill('SIGKILL');
    } catch {}
    this.#channel.destroy();
    rmSync(this.#dir, { recursive: true, force: true });
    for (const resolve of this.#pings.values()) resolve(undefined);
    this.#pings.clear();
    for (const placed of [...this.#placed.values()]) this.#finish(placed, undefined, crashed(reason));
    for (const listener of this.#onExit) listener(this);
  }
}

function crashed(reason: string): HostedOutcome['outcome'] {
  return { ok: false, error: { code: 'E_CRASHED', message: reason.slice(0, 200) } };
}

function parseUsage(cpu?: string, wall?: string, heap?: string): SandboxUsage | undefined {
  if (![cpu, wall, heap].every((field) => field !== undefined && DECIMAL.test(field))) return undefined;
  return { cpu_ms: Number(cpu), wall_ms: Number(wall), heap_peak_mb: Number(heap) };
}

// The host's report of an agent's end, checked like any payload from the guest: a value within the payload
// cap, or a code a host may report with a bounded message.
function parseOutcome(reply: string, session: AgentSession): HostedOutcome['outcome'] | undefined {
  const max = session.services.maxPayloadBytes;
  if (reply === 'v') return { ok: true, value: undefined };
  // A result waits for `join` held at its estimated size: a key named twice must not size it past that (wire.ts).
  const decoded = decodePayload(reply.slice(1), max, true);
  if (reply[0] === 'v') {
    if (decoded.ok) return { ok: true, value: decoded.value };
    return { ok: false, error: { code: 'E_AGENT_FAILED', message: `result rejected: ${decoded.message}` } };
  }
  if (reply[0] !== 'e' || !decoded.ok || !Array.isArray(decoded.value) || decoded.value.length !== 2) return undefined;
  const [code, message] = decoded.value as unknown[];
  if (typeof code !== 'string' || !HOST_CODES.has(code) || typeof message !== 'string' || message.length > 1000) {
    return undefined;
  }
  return { ok: false, error: { code: code as ErrorCode, message } };
}

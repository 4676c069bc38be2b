/**
 * The sandbox host process (docs/architecture.md §11): the program the `process` isolation tier runs in each
 * child process. It holds isolated-vm, a realm pool, the prelude, the sandbox lifecycle and a local watchdog,
 * and nothing else: no tools, keys, stores or policy, and none of the kernel's modules (the prelude's
 * configuration arrives as a string in the first frame). Everything an agent asks for goes to the kernel as a
 * syscall name and a payload string; the reply string comes back.
 *
 * It talks to the kernel over the socket pair on fd 3 (host-protocol.ts) and kills itself with SIGKILL the
 * moment that socket closes: a host whose kernel is gone must not outlive it, even with a wedged isolate
 * thread that would block a normal exit.
 */
import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import type { ErrorCode } from '../runtime/core/errors.js';
import type { Limits } from '../runtime/process/limits.js';
import { encodeError, encodeValue } from '../syscalls/wire.js';
import { loadCodeChecker } from './code-check.js';
import { closeInheritedFiles } from './host-inherited-files.js';
import { encodeFrame, FROM_HOST, FrameReader, OVERSIZED, TO_HOST } from './host-protocol.js';
import { getPreludeSource } from './prelude.js';
import { RealmPool } from './realm-pool.js';
import { Sandbox, type SandboxOutcome } from './sandbox.js';
import { Watchdog } from './watchdog.js';

/** Frames from the kernel are trusted, but still bounded: agent code, input and replies are capped there. */
const MAX_FRAME_BYTES = 512 * 1024 * 1024;
/** The internal syscall that seeds the guest's CSPRNG (syscalls/random.ts), and the seed's size. */
const RANDOM_SYSCALL = 'random';
const SEED_BYTES = 32;
/** CPU reports are sent when the isolate's time moved by at least this much (and always at the end). */
const CPU_REPORT_STEP_MS = 1;

/**
 * How long a clean end waits for its isolate's thread to go quiet (sandbox.ts, `confirmIdleMs`). Replies delivered
 * before the end and the agent's last promise reactions run first; an agent still running past this is reported
 * busy and its host retired, which costs a new host, never a result.
 */
const CONFIRM_IDLE_MS = 50;

interface HostedAgent {
  readonly sandbox: Sandbox;
  readonly pending: Map<number, (reply: string) => void>;
  lastCpu: number;
  /** What the kernel last said it holds for the agent (TO_HOST.held). */
  held: number;
  /** Bytes of the agent's syscall frames written to the channel but not yet flushed to the socket. */
  queued: number;
}

// Before anything else: no descriptor of the kernel's files may survive into a process that runs agents.
closeInheritedFiles();
const channel = new Socket({ fd: 3, readable: true, writable: true });
const agents = new Map<string, HostedAgent>();
let watchdog: Watchdog | undefined;
let realms: RealmPool | undefined;
let nextCall = 1;

function die(): never {
  // SIGKILL, not process.exit(): exiting waits for isolate threads, and a wedged one never finishes.
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

channel.on('close', die);
channel.on('error', die);

function send(fields: string[]): void {
  channel.write(encodeFrame(fields));
}

// A syscall's frame waits in this process until the kernel reads it, which it does in slices: memory the agent
// holds here, charged to it (red-team pass 72: 3000 unawaited 100 KB calls queued 300 MB, charged to no one).
function sendSyscall(hosted: HostedAgent, fields: string[]): void {
  const frame = encodeFrame(fields);
  hosted.queued += frame.length;
  channel.write(frame, () => {
    hosted.queued -= frame.length;
  });
}

const reader = new FrameReader(MAX_FRAME_BYTES, onFrame, die);
channel.on('data', (chunk: Buffer) => reader.push(chunk));

// The prelude's script is read (or, run from source, built: two acorn passes, ≈ 0.1 s) and the code checker's
// parser loaded while this host waits for its kernel's `init`, not after it: hosts are started ahead of demand
// (the CLI's before its kernel has even loaded), and the first run would otherwise wait for both.
setImmediate(() => {
  getPreludeSource();
  loadCodeChecker();
});

function onFrame(fields: string[]): void {
  const [type, agent = '', a = '', b = '', c = '', d = '', e = ''] = fields;
  switch (type) {
    case TO_HOST.init:
      init(agent, Number(a), Number(b));
      return;
    case TO_HOST.start:
      start(agent, a, b, c, d, Number(e));
      return;
    case TO_HOST.reply: {
      const hosted = agents.get(agent);
      const resolve = hosted?.pending.get(Number(a));
      if (hosted === undefined || resolve === undefined) return;
      hosted.pending.delete(Number(a));
      resolve(b);
      return;
    }
    case TO_HOST.kill: {
      // Each kill in a turn of its own: its confirmation (the outcome, sent from a promise reaction) leaves before
      // the next disposal starts. Handled in one go, a chunk of 40 kills was confirmed only after all 40
      // disposals, and the kernel, waiting past its grace, SIGKILLed the host and every agent on it.
      const hosted = agents.get(agent);
      if (hosted !== undefined) setImmediate(() => hosted.sandbox.kill(a as ErrorCode, b));
      return;
    }
    case TO_HOST.held: {
      const hosted = agents.get(agent);
      const bytes = Number(a);
      if (hosted !== undefined && Number.isSafeInteger(bytes) && bytes >= 0) hosted.held = bytes;
      return;
    }
    case TO_HOST.ping:
      send([FROM_HOST.pong, agent, a]);
      return;
    default:
      die();
  }
}

function init(preludeConfig: string, tickMs: number, warmMemoryMb: number): void {
  if (realms !== undefined) return;
  watchdog = new Watchdog(Number.isFinite(tickMs) && tickMs > 0 ? tickMs : undefined);
  realms = new RealmPool(preludeConfig, 1);
  if (Number.isInteger(warmMemoryMb) && warmMemoryMb > 0) realms.prepare(warmMemoryMb);
  send([FROM_HOST.ready, String(process.pid)]);
}

function start(agent: string, code: string, filename: string, inputJson: string, limitsJson: string, max: number) {
  if (watchdog === undefined || realms === undefined || agents.has(agent)) return die();
  const limits = JSON.parse(limitsJson) as Limits;
  const pending = new Map<number, (reply: string) => void>();
  const hosted: HostedAgent = {
    pending,
    lastCpu: 0,
    held: 0,
    queued: 0,
    sandbox: new Sandbox({
      code,
      filename,
      inputJson,
      limits,
      maxPayloadBytes: max,
      watchdog,
      realms,
      // This process goes to other tenants after a clean end: an isolate still busy then must keep it from them.
      confirmIdleMs: CONFIRM_IDLE_MS,
      hooks: {
        enter: (syscall, payload) => {
          // A number is the prelude's stand-in for a payload past the cap (its length).
          if (typeof syscall !== 'string' || (typeof payload !== 'string' && typeof payload !== 'number')) {
            return encodeError('E_BAD_ARG', 'malformed syscall');
          }
          const call = nextCall++;
          // A payload past the cap is not carried (the kernel refuses frames that large as a violation): the
          // kernel refuses and audits the call as it would the payload itself.
          const length = typeof payload === 'number' ? payload : payload.length;
          const frame =
            typeof payload === 'number' || (payload.length > max / 3 && Buffer.byteLength(payload, 'utf8') > max)
              ? [FROM_HOST.sys, agent, String(call), syscall, '', OVERSIZED, String(length)]
              : [FROM_HOST.sys, agent, String(call), syscall, payload];
          if (syscall === RANDOM_SYSCALL) {
            // The guest asks for its CSPRNG seed synchronously (crypto.getRandomValues is synchronous), and a
            // frame's reply can only come later: the seed comes from this process's CSPRNG, and the call still
            // goes to the kernel, which counts and audits it (its reply is not awaited).
            sendSyscall(hosted, frame);
            return encodeValue(randomBytes(SEED_BYTES).toString('base64'));
          }
          return new Promise<string>((resolve) => {
            pending.set(call, resolve);
            sendSyscall(hosted, frame);
          });
        },
        catastrophe: () => send([FROM_HOST.catastrophe, agent]),
        ended: () => send([FROM_HOST.ended, agent]),
        cpu: (totalMs) => {
          if (totalMs - hosted.lastCpu < CPU_REPORT_STEP_MS) return;
          hosted.lastCpu = totalMs;
          send([FROM_HOST.cpu, agent, String(totalMs)]);
        },
        heldBytes: () => hosted.held + hosted.queued,
        // Decoded here, off the kernel's loop; the kernel times its own decoding of what this host sends it.
        decoded: () => {},
      },
    }),
  };
  agents.set(agent, hosted);
  hosted.sandbox.outcome.then(({ outcome, usage, stillRunning }) => {
    agents.delete(agent);
    pending.clear();
    if (stillRunning) send([FROM_HOST.busy, agent]);
    send([
      FROM_HOST.result,
      agent,
      replyOf(outcome),
      String(usage.cpu_ms),
      String(usage.wall_ms),
      String(usage.heap_peak_mb),
    ]);
  });
}

// The outcome in the syscall wire's reply form: the kernel decodes and checks it like any payload.
function replyOf(outcome: SandboxOutcome): string {
  if (!outcome.ok) return encodeError(outcome.error.code, outcome.error.message);
  const text = JSON.stringify(outcome.value);
  return text === undefined ? 'v' : `v${text}`;
}

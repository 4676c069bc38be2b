/**
 * Running one configured program for the proc tool: the child's environment, its process group, the output
 * it may keep and how it ends (exit, timeout, the caller's end). See tools/proc.ts for the guarantees.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { KernelError } from '../runtime/core/errors.js';
import type { Command } from './proc-sandbox.js';

/** The variables every child gets, whatever the host's environment holds. */
export const DEFAULT_CHILD_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/bin:/bin',
  LANG: 'C.UTF-8',
});
/** How long to keep reading after the program exits and its group is killed, in case a process left the group. */
const EXIT_GRACE_MS = 1000;

/** What a call returns. A non-zero exit or a timeout is a result, not an error. */
export interface ProcResult {
  /** The exit status, or null when a signal ended the program. */
  readonly exit_code: number | null;
  readonly signal: string | null;
  /** The first `max_output_bytes` of stdout, as UTF-8 text (or base64 with `encoding: 'base64'`). */
  readonly stdout: string;
  readonly stderr: string;
  readonly duration_ms: number;
  /** True when the program was killed because it ran past its timeout. */
  readonly timed_out: boolean;
  /** True when stdout or stderr reached `max_output_bytes`: the rest was cut and the program killed then. */
  readonly truncated: boolean;
}

/**
 * A fresh environment: a null prototype so that host prototype pollution cannot add variables (Node's spawn
 * copies inherited enumerable keys), NODE_V8_COVERAGE pinned to undefined because Node otherwise copies the
 * host's value into every child's environment, and host values only for the configured names.
 */
export function childEnv(names: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.create(null);
  env['NODE_V8_COVERAGE'] = undefined;
  for (const [key, value] of Object.entries(DEFAULT_CHILD_ENV)) env[key] = value;
  for (const name of names) {
    // process.env falls back to Object.prototype for unset names, so an own-property check is needed.
    const value = Object.hasOwn(process.env, name) ? process.env[name] : undefined;
    if (typeof value === 'string') env[name] = value;
  }
  return env;
}

export interface ExecOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: string | undefined;
  readonly timeoutMs: number;
  readonly maxOutput: number;
  readonly encoding: 'utf8' | 'base64';
  readonly signal: AbortSignal;
  /** Told the program's process group (its pid: it leads its own) once it was spawned. */
  readonly onSpawn?: (group: number) => void;
  /** Runs the spawn and charges its time to the caller (ToolContext.metered). */
  readonly metered: <T>(call: () => T) => T;
}

/** Keeps the first `cap` bytes of a stream; the first byte past them calls `onOverflow` once. */
class Capture {
  readonly #cap: number;
  readonly #onOverflow: () => void;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  truncated = false;

  constructor(cap: number, onOverflow: () => void) {
    this.#cap = cap;
    this.#onOverflow = onOverflow;
  }

  push(chunk: Buffer): void {
    const room = this.#cap - this.#size;
    if (chunk.length > room && !this.truncated) {
      this.truncated = true;
      this.#onOverflow();
    }
    if (room <= 0) return;
    // Copy rather than slice so a kept prefix does not pin the whole (possibly large) chunk.
    const kept = chunk.length > room ? Buffer.from(chunk.subarray(0, room)) : chunk;
    this.#chunks.push(kept);
    this.#size += kept.length;
  }

  text(encoding: 'utf8' | 'base64'): string {
    return Buffer.concat(this.#chunks).toString(encoding);
  }
}

/** Runs `command` (the program, or the sandbox helper running it) for the program called `name`. */
export function execute(name: string, command: Command, cwd: string, options: ExecOptions): Promise<ProcResult> {
  const startFailed = () => new KernelError('E_TOOL_FAILED', `proc.exec: could not start "${name}"`);
  if (options.signal.aborted) return Promise.reject(cancelled());
  return new Promise<ProcResult>((resolve, reject) => {
    const started = performance.now();
    let child: ChildProcess;
    try {
      // Node forks on the event loop: the copy of a large kernel's page tables took 30-75 ms a program,
      // charged to nobody (red-team pass 121), so the caller pays for it.
      child = options.metered(() =>
        spawn(command.file, command.args, {
          argv0: command.argv0,
          cwd,
          env: options.env,
          // Its own process group, so one kill reaches every descendant that stays in it.
          detached: true,
          shell: false,
          // Descriptor 3, when asked for, is the sandbox helper's start report (Command.statusFd).
          stdio: [
            options.stdin === undefined ? 'ignore' : 'pipe',
            'pipe',
            'pipe',
            ...(command.statusFd === 3 ? ['pipe' as const] : []),
          ],
          windowsHide: true,
        }),
      );
    } catch {
      reject(startFailed());
      return;
    }
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const onAbort = (): void => {
      aborted = true;
      killGroup();
    };
    // The cap stops the program, not just what is kept: `yes` would otherwise spin a core until the timeout.
    const stdout = new Capture(options.maxOutput, killGroup);
    const stderr = new Capture(options.maxOutput, killGroup);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });
    // The start's charge may have ended the agent, aborting the signal before the listener was there (review 123
    // left a program running past the kernel's close that way).
    if (options.signal.aborted) onAbort();
    const settle = (): void => {
      settled = true;
      clearTimeout(timer);
      if (grace !== undefined) clearTimeout(grace);
      options.signal.removeEventListener('abort', onAbort);
    };

    // Whatever still arrives after the kill (already in the pipe) is read and discarded.
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    let notStarted = false;
    child.stdio[3]?.on('data', () => {
      notStarted = true;
    });
    if (child.stdin !== null) {
      // The program may exit without reading; EPIPE is its business, not a failure of the call.
      child.stdin.on('error', () => {});
      child.stdin.end(Buffer.from(options.stdin ?? '', 'utf8'));
    }
    child.on('error', () => {
      if (settled) return;
      settle();
      killGroup();
      reject(startFailed());
    });
    child.on('exit', () => {
      // Background children would otherwise outlive the call and keep the pipes (and this promise) open.
      killGroup();
      grace = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, EXIT_GRACE_MS);
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settle();
      if (aborted) {
        reject(cancelled());
        return;
      }
      if (notStarted) {
        reject(startFailed());
        return;
      }
      resolve({
        exit_code: code,
        signal,
        stdout: stdout.text(options.encoding),
        stderr: stderr.text(options.encoding),
        duration_ms: Math.round(performance.now() - started),
        timed_out: timedOut,
        truncated: stdout.truncated || stderr.truncated,
      });
    });
  });
}

function cancelled(): KernelError {
  return new KernelError('E_KILLED', 'proc.exec: the call was cancelled');
}

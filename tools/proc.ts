/**
 * The built-in proc tool (`proc.exec`): runs a program the host configured, on behalf of an agent.
 *
 * What it guarantees:
 * - No shell, ever: the configured absolute path is executed directly and arguments reach it verbatim.
 * - Only configured programs run. The capability resource is the program's name (`git`); a name the config
 *   does not list is refused in `run` with E_CAP_DENIED, after the capability check, so an agent without
 *   a grant cannot probe which programs exist. Paths (`/bin/sh`, `../x`) are refused by the input schema.
 * - Arguments pass the program's rules (tools/proc-args.ts) or the call is refused with E_CAP_DENIED.
 * - The child's environment is built from nothing: PATH and LANG with fixed values, plus the host variables
 *   the config names. Nothing else of the host's `process.env` reaches it.
 * - cwd is a directory inside one of the host's fs roots, reached without any symbolic link (relative
 *   paths and the default resolve against the first root); the child starts in the directory that was
 *   checked, held open, so a later swap cannot move it elsewhere.
 * - Every process of the call's process group is SIGKILLed on timeout, on `ctx.signal` abort, and when the
 *   program exits (so background children do not outlive the call). A process that leaves the group
 *   (`setsid`) escapes this; only an OS sandbox (cgroups, namespaces) could follow it.
 * - stdout and stderr keep their first `max_output_bytes` each; the rest is read and discarded, so a chatty
 *   child never blocks on a full pipe and memory stays bounded; the timeout bounds how long it may talk.
 * - Its output carries every tag the kernel keeps for files, and since it may write any file unseen, every
 *   later fs read, listing and stat carries this call's label and those tags too (UNTRACKED_WRITES_KEY).
 *
 * What it does not do: confine what the program touches. A program reads and writes whatever its arguments
 * and the host user allow; registering `sh`, `env`, `xargs`, `find` or an interpreter hands the agent a
 * shell. Constrain arguments with positional patterns, and never configure a program inside an fs root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { type FileHandle, lstat, open, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { KernelError } from '../runtime/core/errors.js';
import { normalizePath } from '../runtime/core/resource-match.js';
import { definePolicySection, type PolicySection } from '../runtime/policy/policy.js';
import { defineTool, type LabelStore, type Tool, UNTRACKED_WRITES_KEY } from '../runtime/tool-use/tool-contract.js';
import {
  type ArgRules,
  argPatternSchema,
  checkArguments,
  compileArgRules,
  forbidListSchema,
  MAX_ARG_LENGTH,
  MAX_ARGS,
} from './proc-args.js';

export { GIT_FORBIDDEN_FLAGS } from './proc-args.js';

/** The variables every child gets, whatever the host's environment holds. */
export const DEFAULT_CHILD_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/bin:/bin',
  LANG: 'C.UTF-8',
});
/** A call's timeout when the config sets none (it is also the most a call may ask for). */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** The largest `timeout_ms` a config may set. */
export const MAX_TIMEOUT_MS = 3_600_000;
/** Bytes kept per output stream when the config sets no `max_output_bytes`. */
export const DEFAULT_MAX_OUTPUT_BYTES = 1 << 20;
/** The largest `max_output_bytes` a config may set (two streams of it are held in memory per call). */
export const MAX_OUTPUT_BYTES = 64 << 20;
/** Largest stdin, in UTF-8 bytes, when the config sets no `max_stdin_bytes`. */
export const DEFAULT_MAX_STDIN_BYTES = 1 << 20;
/** The largest `max_stdin_bytes` a config may set. */
export const MAX_STDIN_BYTES = 64 << 20;
/** How long to keep reading after the program exits and its group is killed, in case a process left the group. */
const EXIT_GRACE_MS = 1000;
const MAX_PATH_LENGTH = 4096;

// Lowercase and never containing `/`, so a name can never be read as a path or a URL.
const PROGRAM_NAME = /^[a-z][a-z0-9_+.-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const noNul = (s: string): boolean => !s.includes('\0');

const programSchema = z.strictObject({
  path: z
    .string()
    .max(MAX_PATH_LENGTH)
    .refine((p) => normalizePath(p) === p, 'must be an absolute, normalized path'),
  args: z.array(argPatternSchema).max(MAX_ARGS).optional(),
  rest: argPatternSchema.optional(),
  forbid: forbidListSchema.optional(),
  max_args: z.int().min(0).max(MAX_ARGS).optional(),
});

/**
 * The proc tool's configuration as written in a policy file (`tools: proc:`). Only shape and bounds are
 * checked here; `createProcTool` also checks that programs exist and are executable.
 *
 * - `programs`: name (lowercase, `[a-z][a-z0-9_+.-]*`) → `{ path, args?, rest?, forbid?, max_args? }`:
 *   `path` absolute; `args` a pattern (or list of alternative patterns) per position; `rest` the patterns
 *   for every argument after those (without `rest`, a program with `args` takes no more); `forbid` flags
 *   refused anywhere (GIT_FORBIDDEN_FLAGS are always added for git); `max_args` at most 128.
 * - `env`: names of host variables copied into the child when set (PATH and LANG have fixed defaults).
 * - `timeout_ms`: the default and the maximum a call may ask for (default 30 s).
 * - `max_output_bytes` (per stream, default 1 MiB), `max_stdin_bytes` (default 1 MiB).
 */
export const procConfigSchema = z.strictObject({
  programs: z.record(
    z.string().regex(PROGRAM_NAME, 'program names are lowercase identifiers such as "git"'),
    programSchema,
  ),
  env: z.array(z.string().regex(ENV_NAME, 'must be an environment variable name')).max(128).optional(),
  timeout_ms: z.int().min(1).max(MAX_TIMEOUT_MS).optional(),
  max_output_bytes: z.int().min(1).max(MAX_OUTPUT_BYTES).optional(),
  max_stdin_bytes: z.int().min(0).max(MAX_STDIN_BYTES).optional(),
});

/** The policy-file form of the proc configuration. */
export type ProcConfig = z.input<typeof procConfigSchema>;

/** The policy's `tools.proc` section, validated by `procConfigSchema`. */
export const procPolicySection: PolicySection<ProcConfig> = definePolicySection<ProcConfig>('proc', procConfigSchema);

/** What `createProcTool` takes: the policy's proc configuration plus the host's fs roots (CLI `--root`). */
export interface ProcOptions extends ProcConfig {
  /** Absolute directories a call's cwd must be inside; the first is the default cwd. */
  readonly roots: readonly string[];
}

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
  /** True when stdout or stderr was longer than `max_output_bytes` and was cut. */
  readonly truncated: boolean;
}

interface Root {
  /** As the host wrote it (normalized), so agents can name paths the way the host showed them. */
  readonly given: string;
  readonly real: string;
}

interface Program {
  readonly name: string;
  /** The configured path, passed as argv[0] (multi-call binaries dispatch on it). */
  readonly path: string;
  /** What is executed: the real path checked at startup, so a later symlink swap cannot redirect it. */
  readonly real: string;
  readonly rules: ArgRules;
}

interface ExecLimits {
  readonly env: readonly string[];
  readonly timeoutMs: number;
  readonly maxOutput: number;
}

/**
 * Builds the `proc.exec` tool (action `proc.exec`, resource: the program name, target argument `program`).
 * Throws TypeError naming the option when the configuration is malformed, a root is not an existing
 * directory, a program path is not an existing executable file or lies inside a root (where an agent with
 * fs.write could replace it), or `/proc/self/fd` is missing (Linux only); RangeError when a number is out
 * of bounds. The input schema refuses (kernel: E_BAD_ARG) program names that are not lowercase names, NUL,
 * more than 128 arguments or longer than 4096 characters, stdin over the cap and timeouts over the config.
 * The tool's `run` throws KernelError: E_CAP_DENIED (program not configured, argument refused, cwd outside
 * the roots or through a symlink), E_BAD_ARG (cwd unusable or not a directory), E_NOT_FOUND (cwd missing),
 * E_KILLED (`ctx.signal` aborted), E_TOOL_FAILED (the program could not be started). A non-zero exit, a
 * signal or a timeout is a normal ProcResult.
 */
export function createProcTool(options: ProcOptions): Tool {
  if (typeof options !== 'object' || options === null) throw new TypeError('createProcTool: options must be an object');
  const { roots: rawRoots, ...config } = options;
  const parsed = procConfigSchema.safeParse(config);
  if (!parsed.success) throw optionError(parsed.error);
  if (!existsSync('/proc/self/fd')) {
    throw new TypeError('createProcTool: the proc tool needs /proc/self/fd (Linux) to pin the working directory');
  }
  const roots = resolveRoots(rawRoots);
  const programs = new Map<string, Program>();
  for (const [name, entry] of Object.entries(parsed.data.programs)) {
    programs.set(name, resolveProgram(name, entry, roots));
  }
  const timeoutMs = parsed.data.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  const maxStdin = parsed.data.max_stdin_bytes ?? DEFAULT_MAX_STDIN_BYTES;
  const limits: ExecLimits = Object.freeze({
    env: Object.freeze([...(parsed.data.env ?? [])]),
    timeoutMs,
    maxOutput: parsed.data.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES,
  });

  const input = z.strictObject({
    program: z.string().regex(PROGRAM_NAME, 'must be the name of a configured program, not a path'),
    args: z.array(z.string().max(MAX_ARG_LENGTH).refine(noNul, 'must not contain NUL')).max(MAX_ARGS).optional(),
    cwd: z.string().min(1).max(MAX_PATH_LENGTH).refine(noNul, 'must not contain NUL').optional(),
    stdin: z
      .string()
      .max(maxStdin)
      .refine((s) => Buffer.byteLength(s, 'utf8') <= maxStdin, `must be at most ${maxStdin} bytes`)
      .optional(),
    timeout_ms: z.int().min(1).max(timeoutMs).optional(),
    encoding: z.enum(['utf8', 'base64']).optional(),
  });

  return defineTool({
    name: 'proc.exec',
    description:
      'Runs a configured program by name with arguments (no shell), in a directory inside the fs roots, with a ' +
      'scrubbed environment. Returns exit_code, signal, stdout, stderr, duration_ms, timed_out, truncated.',
    input,
    target: 'program',
    resource: (args) => args.program,
    // The program can read any path under the roots (`cat inbox/*`), so a policy source on any path, for any
    // fs observation, tags its output, and what it may copy elsewhere (see markUntracked).
    labels: { observes: { actions: ['fs.read', 'fs.list', 'fs.stat'], scope: 'anywhere' } },
    run: async (args, ctx): Promise<ProcResult> => {
      const program = programs.get(args.program);
      if (program === undefined) {
        const shown = PROGRAM_NAME.test(args.program) ? `"${args.program}"` : 'the program';
        throw new KernelError('E_CAP_DENIED', `proc.exec: ${shown} is not a configured program`);
      }
      const argv = args.args ?? [];
      checkArguments(program.name, program.rules, argv);
      const cwd = await openCwd(args.cwd, roots);
      // The program can read any file under the roots, including ones written with labelled data: its output
      // carries every tag the kernel keeps for files, so running `cat` cannot launder what fs.read would not.
      ctx.taint(await ctx.labels.all());
      // It can also write any file (`cp`, `tee`) where the kernel cannot see: whatever the fs tools read from
      // now on may hold what it read or was given, so they carry this call's label and every kept tag.
      const copied = [...new Set([...ctx.label, ...ctx.sources])];
      await markUntracked(ctx.labels, copied);
      try {
        return await execute(program, argv, `/proc/self/fd/${cwd.fd}`, {
          env: childEnv(limits.env),
          stdin: args.stdin,
          timeoutMs: args.timeout_ms ?? limits.timeoutMs,
          maxOutput: limits.maxOutput,
          encoding: args.encoding ?? 'utf8',
          signal: ctx.signal,
        });
      } finally {
        await cwd.close();
        // Again after it ran: another call may have labelled a file the program then copied.
        await markUntracked(ctx.labels, copied);
      }
    },
  });
}

/** Joins `label` and every tag kept for any file into the label of untracked writes. */
async function markUntracked(labels: LabelStore, label: readonly string[]): Promise<void> {
  const tags = new Set([...(await labels.all()), ...label]);
  if (tags.size === 0) return;
  const current = await labels.get(UNTRACKED_WRITES_KEY);
  if ([...tags].every((tag) => current.includes(tag))) return;
  await labels.set(UNTRACKED_WRITES_KEY, [...new Set([...current, ...tags])]);
}

// ------------------------------------------------------------------------------------------ configuration

function optionError(error: z.ZodError): Error {
  const issue = error.issues[0];
  const path = issue === undefined ? '' : issue.path.map(String).join('.');
  const message = `createProcTool: options${path === '' ? '' : `.${path}`}: ${issue?.message ?? 'invalid'}`;
  const numeric = (issue?.code === 'too_big' || issue?.code === 'too_small') && issue.origin === 'number';
  return numeric ? new RangeError(message) : new TypeError(message);
}

function resolveRoots(roots: unknown): readonly Root[] {
  if (!Array.isArray(roots) || roots.length === 0) {
    throw new TypeError('createProcTool: options.roots must be a non-empty array of absolute directory paths');
  }
  return Object.freeze(
    roots.map((root: unknown, i): Root => {
      const given = normalizePath(root);
      const fail = () => new TypeError(`createProcTool: options.roots[${i}] must be an existing absolute directory`);
      if (given === undefined) throw fail();
      try {
        const real = realpathSync(given);
        if (!statSync(real).isDirectory()) throw fail();
        return Object.freeze({ given, real });
      } catch {
        throw fail();
      }
    }),
  );
}

function resolveProgram(name: string, entry: z.output<typeof programSchema>, roots: readonly Root[]): Program {
  const where = `createProcTool: options.programs.${name}.path`;
  let real: string;
  try {
    real = realpathSync(entry.path);
    if (!statSync(real).isFile()) throw new Error('not a file');
    accessSync(real, constants.X_OK);
  } catch {
    throw new TypeError(`${where} must be an existing executable file`);
  }
  if (roots.some((root) => isWithin(root.real, real))) {
    throw new TypeError(`${where} must not be inside an fs root (an agent could replace the program)`);
  }
  const isGit = name === 'git' || basename(entry.path) === 'git' || basename(real) === 'git';
  const rules = compileArgRules({
    args: entry.args ?? (entry.rest === undefined ? undefined : []),
    rest: entry.rest,
    forbid: entry.forbid,
    maxArgs: entry.max_args,
    isGit,
  });
  return Object.freeze({ name, path: entry.path, real, rules });
}

function isWithin(base: string, path: string): boolean {
  return base === '/' || path === base || path.startsWith(`${base}/`);
}

// --------------------------------------------------------------------------------------------------- cwd

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens the directory to run in. A relative cwd resolves against the first root, as the fs tool does. The
 * lstat walk from the root only chooses the error; the guarantee is the open with O_NOFOLLOW followed by
 * reading `/proc/self/fd/<fd>` back as the expected real path. The child is then started in that open
 * directory (`/proc/self/fd/<fd>`), so a symlink or rename swapped in after the check cannot redirect it.
 */
async function openCwd(cwd: string | undefined, roots: readonly Root[]): Promise<FileHandle> {
  const first = roots[0];
  if (first === undefined) throw new KernelError('E_INTERNAL', 'proc.exec: no roots');
  const normal = cwd === undefined ? first.real : normalizePath(cwd.startsWith('/') ? cwd : `${first.real}/${cwd}`);
  if (normal === undefined) throw new KernelError('E_BAD_ARG', 'proc.exec: cwd is not a usable path');
  let found: { root: Root; rest: string } | undefined;
  for (const root of roots) {
    for (const base of [root.real, root.given]) {
      if (found === undefined && isWithin(base, normal)) found = { root, rest: normal.slice(base.length) };
    }
  }
  if (found === undefined) throw new KernelError('E_CAP_DENIED', 'proc.exec: cwd is outside the allowed roots');
  let current = found.root.real;
  for (const segment of found.rest.split('/')) {
    if (segment === '') continue;
    current = current === '/' ? `/${segment}` : `${current}/${segment}`;
    let stats: Awaited<ReturnType<typeof lstat>>;
    try {
      stats = await lstat(current);
    } catch {
      throw new KernelError('E_NOT_FOUND', 'proc.exec: cwd does not exist');
    }
    if (stats.isSymbolicLink()) throw symlinkDenied();
    if (!stats.isDirectory()) throw new KernelError('E_BAD_ARG', 'proc.exec: cwd is not a directory');
  }
  let handle: FileHandle;
  try {
    handle = await open(current, DIR_FLAGS);
  } catch {
    throw symlinkDenied();
  }
  let actual = '';
  try {
    actual = await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    // Left empty: refused below.
  }
  if (actual !== current) {
    await handle.close();
    throw symlinkDenied();
  }
  return handle;
}

function symlinkDenied(): KernelError {
  return new KernelError('E_CAP_DENIED', 'proc.exec: cwd must not go through a symbolic link');
}

// ----------------------------------------------------------------------------------------------- process

/**
 * A fresh environment: a null prototype so that host prototype pollution cannot add variables (Node's spawn
 * copies inherited enumerable keys), NODE_V8_COVERAGE pinned to undefined because Node otherwise copies the
 * host's value into every child's environment, and host values only for the configured names.
 */
function childEnv(names: readonly string[]): NodeJS.ProcessEnv {
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

interface ExecOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly stdin: string | undefined;
  readonly timeoutMs: number;
  readonly maxOutput: number;
  readonly encoding: 'utf8' | 'base64';
  readonly signal: AbortSignal;
}

/** Keeps the first `cap` bytes of a stream and remembers whether more arrived. */
class Capture {
  readonly #cap: number;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  truncated = false;

  constructor(cap: number) {
    this.#cap = cap;
  }

  push(chunk: Buffer): void {
    const room = this.#cap - this.#size;
    if (chunk.length > room) this.truncated = true;
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

function execute(program: Program, args: readonly string[], cwd: string, options: ExecOptions): Promise<ProcResult> {
  const startFailed = () => new KernelError('E_TOOL_FAILED', `proc.exec: could not start "${program.name}"`);
  if (options.signal.aborted) return Promise.reject(cancelled());
  return new Promise<ProcResult>((resolve, reject) => {
    const started = performance.now();
    let child: ChildProcess;
    try {
      child = spawn(program.real, args, {
        argv0: program.path,
        cwd,
        env: options.env,
        // Its own process group, so one kill reaches every descendant that stays in it.
        detached: true,
        shell: false,
        stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch {
      reject(startFailed());
      return;
    }
    const stdout = new Capture(options.maxOutput);
    const stderr = new Capture(options.maxOutput);
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
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });
    const settle = (): void => {
      settled = true;
      clearTimeout(timer);
      if (grace !== undefined) clearTimeout(grace);
      options.signal.removeEventListener('abort', onAbort);
    };

    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
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

/**
 * The built-in proc tool (`proc.exec`): runs a program the host configured, on behalf of an agent.
 *
 * What it guarantees:
 * - No shell, ever: the configured absolute path is executed directly and arguments reach it verbatim.
 * - Only configured programs run. The capability resource is the program's name (`git`). Names come from
 *   `tools.proc.programs`, and, when the tool is built with the policy, from its `proc.exec` rules: a name
 *   the policy grants literally and the config lacks is looked up on the host's PATH once, at creation
 *   (tools/proc-programs.ts); one found nowhere is `E_NO_TOOL` naming it. Any other unlisted name is refused
 *   in `run` with E_CAP_DENIED, after the capability check, so an agent without a grant cannot probe which
 *   programs exist. Paths (`/bin/sh`, `../x`) are refused by the input schema. Every call notes the real
 *   path it runs in the audit log (`proc.program`).
 * - Arguments pass the program's rules (tools/proc-args.ts) or the call is refused with E_CAP_DENIED.
 * - git (by name or binary) runs with its dangerous configuration pinned, no system or global configuration,
 *   no bare repository it was not pointed at, no local or `ext::` transport, and no subcommand that writes
 *   configuration or runs commands (tools/proc-git.ts); the fs tools never write `.git` paths.
 * - The child's environment is built from nothing: PATH and LANG with fixed values, plus the host variables
 *   the config names. Nothing else of the host's `process.env` reaches it.
 * - cwd is a directory inside one of the host's fs roots, reached without any symbolic link (relative
 *   paths and the default resolve against the first root); the child starts in the directory that was
 *   checked, held open, so a later swap cannot move it elsewhere.
 * - Every process of the call's process group is SIGKILLed on timeout, on `ctx.signal` abort, and when the
 *   program exits (so background children do not outlive the call). A process that leaves the group
 *   (`setsid`) escapes this; only an OS sandbox (cgroups, namespaces) could follow it.
 * - stdout and stderr keep their first `max_output_bytes` each (default 64 KiB, so that a result fits the
 *   default payload cap whatever the bytes are). The first byte past the cap kills the process group, so an
 *   endless writer (`yes`) stops at once with `truncated: true` and what was kept; what is still in the pipe
 *   is read and discarded, so memory stays bounded.
 * - Its output carries every tag the kernel keeps for files, and since it may write any file unseen, every
 *   later fs read, listing and stat carries this call's label and those tags too (UNTRACKED_WRITES_KEY).
 *
 * What it does not do: confine what the program touches. A program reads and writes whatever its arguments
 * and the host user allow; registering `sh`, `env`, `xargs`, `find` or an interpreter hands the agent a
 * shell. Constrain arguments with positional patterns, and never configure a program inside an fs root.
 */
import { constants, existsSync, realpathSync, statSync } from 'node:fs';
import { type FileHandle, lstat, mkdtemp, open, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { KernelError } from '../runtime/core/errors.js';
import { parseOptions } from '../runtime/core/options.js';
import { normalizePath } from '../runtime/core/resource-match.js';
import { joinLabels } from '../runtime/labels/label.js';
import { definePolicySection, type Policy, type PolicySection } from '../runtime/policy/policy.js';
import { defineTool, type Tool } from '../runtime/tool-use/tool-contract.js';
import { argPatternSchema, checkArguments, forbidListSchema, MAX_ARG_LENGTH, MAX_ARGS } from './proc-args.js';
import { childEnv, execute, type ProcResult } from './proc-exec.js';
import { checkGitCommand, checkGitRepository, createGitGate, gitEnvironment } from './proc-git.js';
import {
  isWithin,
  PROGRAM_NAME,
  type Program,
  programWarning,
  type Root,
  resolveProgram,
  resolvePrograms,
} from './proc-programs.js';
import {
  type Command,
  type Confinement,
  confine,
  helperExposed,
  hiddenPaths,
  type SandboxMode,
  sandboxSupport,
} from './proc-sandbox.js';
import { type UntrackedWork, untrackedWork } from './untracked-writes.js';

export { GIT_FORBIDDEN_FLAGS } from './proc-args.js';
export { DEFAULT_CHILD_ENV, type ProcResult } from './proc-exec.js';

/** A call's timeout when the config sets none (it is also the most a call may ask for). */
export const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * Programs one agent tree may have running at once (Tool.maxInFlight): each is an OS process with its pipes and a
 * directory descriptor, and each start is a synchronous spawn on the kernel's event loop.
 */
export const PROC_MAX_IN_FLIGHT = 8;
/** The largest `timeout_ms` a config may set. */
export const MAX_TIMEOUT_MS = 3_600_000;
/**
 * Bytes kept per output stream when the config sets no `max_output_bytes`. Chosen so that a result always fits
 * the kernel's default 1 MiB syscall payload cap: JSON spells a control byte in six characters (`\u0000`), so two
 * full streams of them take 2 x 6 x 64 KiB = 768 KiB, base64 takes 2 x 4/3 x 64 KiB. A host raising
 * `max_output_bytes` should raise `maxPayloadBytes` to 12 times it, or large outputs end as E_TOOL_FAILED.
 */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 << 10;
/** The largest `max_output_bytes` a config may set (two streams of it are held in memory per call). */
export const MAX_OUTPUT_BYTES = 64 << 20;
/** Largest stdin, in UTF-8 bytes, when the config sets no `max_stdin_bytes`. */
export const DEFAULT_MAX_STDIN_BYTES = 1 << 20;
/** The largest `max_stdin_bytes` a config may set. */
export const MAX_STDIN_BYTES = 64 << 20;
const MAX_PATH_LENGTH = 4096;

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

const absolutePath = z
  .string()
  .max(MAX_PATH_LENGTH)
  .refine((p) => normalizePath(p) === p, 'must be an absolute, normalized path');

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
 * - `max_output_bytes` (per stream, default 64 KiB; reaching it kills the program), `max_stdin_bytes` (default
 *   1 MiB).
 * - `sandbox`: `auto` (default: confine every program with Landlock when the host can, tools/proc-sandbox.ts),
 *   `required` (the tool is not built where the host cannot), `off`. `read_paths`: absolute paths programs may
 *   read besides the roots and the system directories. `network: true` lets confined programs open sockets.
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
  sandbox: z.enum(['auto', 'required', 'off']).optional(),
  read_paths: z.array(absolutePath).max(32).optional(),
  network: z.boolean().optional(),
});

/** The policy-file form of the proc configuration. */
export type ProcConfig = z.input<typeof procConfigSchema>;

/** The policy's `tools.proc` section, validated by `procConfigSchema`. */
export const procPolicySection: PolicySection<ProcConfig> = definePolicySection<ProcConfig>('proc', procConfigSchema);

/** What `createProcTool` takes: the policy's proc configuration plus the host's fs roots (CLI `--root`). */
export interface ProcOptions extends ProcConfig {
  /** Absolute directories a call's cwd must be inside; the first is the default cwd. */
  readonly roots: readonly string[];
  /**
   * Absolute paths programs must never reach although a root holds them (the kernel's store and audit log, as
   * the fs tools' `exclude`). Only a confined program is kept out (`sandbox`); an unconfined one reaches them.
   */
  readonly exclude?: readonly string[];
  /**
   * The loaded policy, when its `proc.exec` rules should name programs too (agent_os_kernel's `resource:
   * git`): each name it grants literally that `programs` lacks is looked up on `searchPath` now.
   */
  readonly policy?: Pick<Policy, 'capabilities'>;
  /** Where those names are looked up: colon-separated absolute directories. Default: the host's PATH now. */
  readonly searchPath?: string;
  /** Receives one message per granted name that resolves nowhere (it is E_NO_TOOL at call time). */
  readonly onWarning?: (message: string) => void;
}

interface ExecLimits {
  readonly env: readonly string[];
  readonly timeoutMs: number;
  readonly maxOutput: number;
}

/** How a call's command line is built: confined by the sandbox helper, or as it is. */
type Launcher = (command: Command, root: string, program: Program, statusFd: boolean, scratch: string) => Command;

/**
 * Builds the `proc.exec` tool (action `proc.exec`, resource: the program name, target argument `program`).
 * Throws TypeError naming the option when the configuration is malformed, a root is not an existing
 * directory, a program path is not an existing executable file or lies inside a root (where an agent with
 * fs.write could replace it), or `/proc/self/fd` is missing (Linux only); RangeError when a number is out
 * of bounds. The input schema refuses (kernel: E_BAD_ARG) program names that are not lowercase names, NUL,
 * more than 128 arguments or longer than 4096 characters, stdin over the cap and timeouts over the config.
 * With `policy`, programs its `proc.exec` rules name are resolved on `searchPath` (see ProcOptions); a name
 * that resolves nowhere goes to `onWarning`, never throws. TypeError for a `policy`, `searchPath` or
 * `onWarning` of the wrong type. The tool's `run` throws KernelError: E_NO_TOOL (a program the policy
 * grants that was not found), E_CAP_DENIED (program not configured, argument refused, cwd outside
 * the roots or through a symlink), E_BAD_ARG (cwd unusable or not a directory), E_NOT_FOUND (cwd missing),
 * E_KILLED (`ctx.signal` aborted), E_TOOL_FAILED (the program could not be started). A non-zero exit, a
 * signal or a timeout is a normal ProcResult.
 */
export function createProcTool(options: ProcOptions): Tool {
  const {
    roots: rawRoots,
    exclude,
    policy,
    searchPath,
    onWarning,
    ...config
  } = parseOptions(procOptionsSchema, options, 'createProcTool: options');
  if (!existsSync('/proc/self/fd')) {
    throw new TypeError('createProcTool: the proc tool needs /proc/self/fd (Linux) to pin the working directory');
  }
  const roots = resolveRoots(rawRoots);
  const launcher = createLauncher(config, roots, exclude ?? [], onWarning);
  const programs = new Map<string, Program>();
  for (const [name, entry] of Object.entries(config.programs)) {
    programs.set(name, resolveProgram(name, entry, roots));
  }
  // Names the policy grants but nothing provides: refused with E_NO_TOOL naming them, not a bare denial.
  const missing = new Set<string>();
  if (policy !== undefined) {
    for (const found of resolvePrograms(policy, config.programs, searchPath ?? process.env.PATH ?? '', roots)) {
      if (found.origin === 'path' && found.path !== undefined) {
        programs.set(found.name, resolveProgram(found.name, { path: found.path }, roots));
      } else if (found.origin === 'missing') {
        missing.add(found.name);
        onWarning?.(programWarning(found));
      }
    }
  }
  const timeoutMs = config.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  const maxStdin = config.max_stdin_bytes ?? DEFAULT_MAX_STDIN_BYTES;
  const limits: ExecLimits = Object.freeze({
    env: Object.freeze([...(config.env ?? [])]),
    timeoutMs,
    maxOutput: config.max_output_bytes ?? DEFAULT_MAX_OUTPUT_BYTES,
  });

  // Git runs one at a time per root: its configuration is checked right before it starts, and no other git run
  // may write that configuration between the check and the end of the run (proc-git.ts, layer 5).
  const gitGate = createGitGate();

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
    maxInFlight: PROC_MAX_IN_FLIGHT,
    run: async (args, ctx): Promise<ProcResult> => {
      const program = programs.get(args.program);
      if (program === undefined) {
        if (missing.has(args.program)) {
          throw new KernelError(
            'E_NO_TOOL',
            `proc.exec: "${args.program}" was not found on the host when the policy was loaded`,
          );
        }
        const shown = PROGRAM_NAME.test(args.program) ? `"${args.program}"` : 'the program';
        throw new KernelError('E_CAP_DENIED', `proc.exec: ${shown} is not a configured program`);
      }
      const argv = args.args ?? [];
      checkArguments(program.name, program.rules, argv);
      if (program.git) checkGitCommand(program.name, argv);
      // The program can read any file under the roots, including ones written with labelled data: its output
      // carries every tag the kernel keeps for files, so running `cat` cannot launder what fs.read would not.
      // Taken before the working directory is opened: whether it exists and is a directory is file state
      // (red-team pass 87 read a byte, clean, from which `cwd` a labelled writer had made).
      ctx.taint(await ctx.labels.all());
      const cwd = await openCwd(args.cwd, roots);
      ctx.note('proc.program', program.real);
      ctx.note('proc.sandbox', launcher === undefined ? 'none' : 'landlock');
      // The call's private directory, removed after it: a confined program's TMPDIR, for nothing else it may
      // write outside its root (review 94: gcc and sort failed without one), and git's gpg home (gitEnvironment).
      let scratch: string | undefined;
      if (launcher !== undefined || program.git) {
        try {
          scratch = await mkdtemp(join(tmpdir(), 'isokernel-proc-'));
        } catch {
          await cwd.handle.close();
          throw new KernelError('E_TOOL_FAILED', 'proc.exec: could not make a temporary directory');
        }
      }
      // It can also write any file (`cp`, `tee`) where the kernel cannot see: whatever the fs tools read from
      // now on may hold what it read or was given, so they carry this call's label and every kept tag.
      let work: UntrackedWork;
      try {
        work = await untrackedWork(ctx.labels, joinLabels(ctx.label, ctx.sources));
      } catch (error) {
        await cwd.handle.close();
        await removeScratch(scratch);
        throw error;
      }
      try {
        const dir = `/proc/self/fd/${cwd.handle.fd}`;
        const env = program.git ? gitEnvironment(childEnv(limits.env), cwd.root, scratch) : childEnv(limits.env);
        if (scratch !== undefined) env['TMPDIR'] = scratch;
        const launch = (command: Command, statusFd = false): Command =>
          launcher === undefined || scratch === undefined
            ? command
            : launcher(command, cwd.root, program, statusFd, scratch);
        const start = async () => {
          // Stored before the program starts, so a process that dies while it runs leaves the work open.
          await work.spawning();
          return execute(program.name, launch({ file: program.real, argv0: program.path, args: argv }, true), dir, {
            env,
            stdin: args.stdin,
            timeoutMs: args.timeout_ms ?? limits.timeoutMs,
            maxOutput: limits.maxOutput,
            encoding: args.encoding ?? 'utf8',
            signal: ctx.signal,
            onSpawn: (group) => {
              // The program runs: whatever ends the call now, its effects may have happened (review 152).
              ctx.tookEffect();
              void work.started(group);
            },
            metered: ctx.metered,
          });
        };
        if (!program.git) return await start();
        return await gitGate(cwd.root, async () => {
          // A call whose agent ended while it waited for its turn does not run.
          if (ctx.signal.aborted) throw new KernelError('E_KILLED', 'proc.exec: the call ended before git ran');
          await checkGitRepository(program.real, dir, env, {
            launch: (command) => launch(command),
            metered: ctx.metered,
            signal: ctx.signal,
          });
          return start();
        });
      } finally {
        await cwd.handle.close();
        // Again after it ran: another call may have labelled a file the program then read (its output) or
        // copied (the untracked writes). In `finally`, so a failure's text carries them too.
        ctx.taint(await ctx.labels.all());
        try {
          await work.ended();
        } finally {
          // Last, and never throwing: the program chose what is in it (a directory it made unreadable fails the
          // removal for an unprivileged kernel), and a throw here would skip the taint and the untracked window's
          // end. Whatever the end mark did (a store that refused it threw, pass 100 left the directory behind).
          await removeScratch(scratch);
        }
      }
    },
  });
}

// ------------------------------------------------------------------------------------------ configuration

// The policy's section plus the host's roots (checked against the file system by resolveRoots).
const procOptionsSchema = procConfigSchema.extend({
  exclude: z.array(absolutePath, 'must be an array of absolute paths').optional(),
  roots: z
    .array(z.unknown(), 'must be a non-empty array of absolute directory paths')
    .min(1, 'must be a non-empty array of absolute directory paths'),
  policy: z
    .custom<Pick<Policy, 'capabilities'>>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        Array.isArray((value as { capabilities?: unknown }).capabilities),
      'must be a loaded policy',
    )
    .optional(),
  searchPath: z.string('must be a string of colon-separated directories').optional(),
  onWarning: z
    .custom<(message: string) => void>((value) => typeof value === 'function', 'must be a function')
    .optional(),
});

/**
 * The sandbox for this tool's programs (tools/proc-sandbox.ts), or undefined when they run unconfined: `off`, or
 * `auto` where the host cannot confine (one warning says why). `required` there throws TypeError.
 */
function createLauncher(
  config: {
    readonly sandbox?: SandboxMode | undefined;
    readonly read_paths?: readonly string[] | undefined;
    readonly network?: boolean | undefined;
  },
  roots: readonly Root[],
  excluded: readonly string[],
  onWarning: ((message: string) => void) | undefined,
): Launcher | undefined {
  const mode = config.sandbox ?? 'auto';
  if (mode === 'off') return undefined;
  const support = sandboxSupport();
  if (!support.available) {
    if (mode === 'required') {
      throw new TypeError(
        `createProcTool: options.sandbox is "required" but programs cannot be confined here: ${support.reason}`,
      );
    }
    onWarning?.(`proc: programs run unconfined: ${support.reason}`);
    return undefined;
  }
  const realRoots = [...new Set(roots.map((root) => root.real))];
  // Every excluded path, inside a root or not: a system directory or a read path may hold the store too (pass 93
  // read the root key of a store under /usr).
  const hidden = hiddenPaths(excluded);
  // A helper an agent could rewrite (inside a root, not excluded) would run whatever it wrote, unconfined, on the
  // next call (red-team pass 93, with isokernel installed in the project the CLI roots at).
  if (helperExposed(support.helper, realRoots, hidden)) {
    const reason = 'the sandbox helper lies inside an fs root (exclude the isokernel package from the roots)';
    if (mode === 'required') throw new TypeError(`createProcTool: options.sandbox is "required" but ${reason}`);
    onWarning?.(`proc: programs run unconfined: ${reason}`);
    return undefined;
  }
  const readPaths = config.read_paths ?? [];
  const network = config.network ?? false;
  return (command, root, program, statusFd, scratch) => {
    const confinement: Confinement = {
      writes: [root, scratch],
      readRoots: realRoots.filter((other) => other !== root),
      hidden,
      readPaths: [...readPaths, program.real],
      network,
    };
    return confine(support.helper, command, confinement, statusFd);
  };
}

/** Removes a call's temporary directory; what cannot be removed stays (in the host's temp dir), never an error. */
async function removeScratch(scratch: string | undefined): Promise<void> {
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
}

function resolveRoots(roots: readonly unknown[]): readonly Root[] {
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

// --------------------------------------------------------------------------------------------------- cwd

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens the directory to run in. A relative cwd resolves against the first root, as the fs tool does. The
 * lstat walk from the root only chooses the error; the guarantee is the open with O_NOFOLLOW followed by
 * reading `/proc/self/fd/<fd>` back as the expected real path. The child is then started in that open
 * directory (`/proc/self/fd/<fd>`), so a symlink or rename swapped in after the check cannot redirect it.
 * Returns the open directory and the real path of the root it is in.
 */
async function openCwd(
  cwd: string | undefined,
  roots: readonly Root[],
): Promise<{ readonly handle: FileHandle; readonly root: string }> {
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
    // Inside git metadata, git works on it as plain files (`git apply` with cwd `.git` rewrote `config` and a
    // rebase's todo, review 89), and any program writes there relative to cwd: no agent runs anything there.
    if (/^\.git[. ]*$/i.test(segment)) {
      throw new KernelError('E_CAP_DENIED', 'proc.exec: cwd must not be inside git metadata (.git)');
    }
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
  return { handle, root: found.root.real };
}

function symlinkDenied(): KernelError {
  return new KernelError('E_CAP_DENIED', 'proc.exec: cwd must not go through a symbolic link');
}

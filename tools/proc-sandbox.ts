/**
 * The OS sandbox of the proc tool: each program runs through native/build/proc-sandbox (native/proc-sandbox.c),
 * which confines it with Landlock before executing it. Confined, a program (and everything it starts):
 * - writes only beneath the fs root its working directory is in;
 * - reads only beneath the fs roots, the system directories (SYSTEM_READ_PATHS), the host's `read_paths` and its
 *   own executable;
 * - never reaches the host's `exclude` paths inside a root (the kernel's store when the root holds it), whose
 *   enclosing directories it can list but not add to (native/proc-sandbox.c, allow_tree);
 * - opens no socket and no io_uring, and connects nowhere over TCP, unless the config sets `network: true`;
 * - signals and ptraces nothing outside its sandbox (Landlock ABI 6 for signals).
 *
 * Without the helper (no compiler at install, not Linux) or without Landlock (kernels before 5.13, or disabled),
 * `sandbox: 'auto'` runs programs unconfined and `'required'` refuses to build the tool.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../runtime/core/package-root.js';
import { normalizePath } from '../runtime/core/resource-match.js';
import { realExcluded } from './fs-path.js';
import { isWithin } from './proc-programs.js';

/** What a program may read besides the roots: where executables, their libraries and their data live. */
export const SYSTEM_READ_PATHS: readonly string[] = Object.freeze([
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/etc',
]);
/** Device files a program may open for reading and writing. */
const DEVICES: readonly string[] = Object.freeze([
  '/dev/null',
  '/dev/zero',
  '/dev/full',
  '/dev/random',
  '/dev/urandom',
]);

export type SandboxMode = 'auto' | 'required' | 'off';

/** Whether programs can be confined on this host, found once per process. */
export type SandboxSupport =
  | { readonly available: true; readonly helper: string; readonly abi: number }
  | { readonly available: false; readonly reason: string };

let support: SandboxSupport | undefined;

/** Runs the helper's probe once per process: is it built, and does the kernel have Landlock? */
export function sandboxSupport(): SandboxSupport {
  support ??= probe();
  return support;
}

function probe(): SandboxSupport {
  if (process.platform !== 'linux') return { available: false, reason: 'the proc sandbox needs Linux (Landlock)' };
  let helper: string;
  try {
    helper = join(packageRoot(), 'native', 'build', 'proc-sandbox');
  } catch {
    return { available: false, reason: 'the isokernel package root was not found' };
  }
  if (!existsSync(helper)) {
    return { available: false, reason: 'the sandbox helper was not built (no C compiler at install)' };
  }
  const answer = spawnSync(helper, ['--probe'], { encoding: 'utf8', timeout: 10_000, env: {} });
  const abi = Number.parseInt(answer.stdout ?? '', 10);
  if (answer.status !== 0 || !Number.isInteger(abi) || abi < 1) {
    return { available: false, reason: 'this kernel has no usable Landlock (Linux 5.13 or later, enabled)' };
  }
  return { available: true, helper, abi };
}

/**
 * The paths to hide for a host's `exclude` list: each as real-pathed and as given. Both, because a path reached
 * through a symbolic link inside a root could otherwise have that link replaced by a directory of the program's
 * own, which the kernel would take for its store at its next start (review 94).
 */
export function hiddenPaths(exclude: readonly string[]): string[] {
  const given = exclude.map((path) => normalizePath(path)).filter((path): path is string => path !== undefined);
  return [...new Set([...realExcluded(exclude), ...given])];
}

/**
 * True when a program granted writes in `writes` could rewrite the helper (none of `hidden` covers it): it would
 * run whatever it wrote, unconfined, at the next call (red-team pass 93).
 */
export function helperExposed(helper: string, writes: readonly string[], hidden: readonly string[]): boolean {
  return writes.some((path) => isWithin(path, helper)) && !hidden.some((path) => isWithin(path, helper));
}

/** Where one program may go (for proc: built per call from the tool's roots and the call's working directory). */
export interface Confinement {
  /** Real paths of the directories the program may write in (for proc: the root its working directory is in). */
  readonly writes: readonly string[];
  /** The other roots' real paths: read only. */
  readonly readRoots: readonly string[];
  /** Real paths inside the roots the program must not reach. */
  readonly hidden: readonly string[];
  /** Extra read-only paths from the config, and the program's own executable. */
  readonly readPaths: readonly string[];
  readonly network: boolean;
}

/** A command line: what to execute, its argv[0] and arguments. */
export interface Command {
  readonly file: string;
  readonly argv0: string;
  readonly args: readonly string[];
  /**
   * A descriptor (3) the caller opens as a pipe: a byte on it before it closes means the program never started
   * (the sandbox could not be set up, or the program could not be executed).
   */
  readonly statusFd?: 3;
}

/**
 * The command that runs `command` inside the helper, confined as `confinement` says. With `statusFd` the caller
 * must open descriptor 3 as a pipe (see Command.statusFd).
 */
export function confine(helper: string, command: Command, confinement: Confinement, statusFd = false): Command {
  const flags: string[] = statusFd ? ['--status-fd', '3'] : [];
  for (const path of confinement.writes) flags.push('--write', path);
  for (const root of confinement.readRoots) flags.push('--read-root', root);
  for (const path of confinement.hidden) flags.push('--hide', path);
  for (const path of [...SYSTEM_READ_PATHS, ...confinement.readPaths]) flags.push('--read', path);
  // Its own /proc entry only: the rule follows /proc/self when the helper sets up, and the program keeps its pid.
  flags.push('--read', '/proc/self');
  for (const device of DEVICES) flags.push('--device', device);
  if (confinement.network) flags.push('--net');
  const args = [...flags, '--', command.file, command.argv0, ...command.args];
  const confined = { file: helper, argv0: 'isokernel-sandbox', args };
  return statusFd ? { ...confined, statusFd: 3 } : confined;
}

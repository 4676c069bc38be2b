/**
 * The programs the proc tool may run: each name checked once, when the tool is created, and pinned to the
 * real path it had then.
 *
 * Names come from two places. `tools.proc.programs` maps a name to an absolute path (with argument rules).
 * A policy in agent_os_kernel's format grants `proc.exec` on a bare name (`resource: git`) and configures
 * nothing else: the policy author named that program, so a name its capabilities grant literally and the
 * config does not list is looked up on the host's PATH, once, when the tool is built from the policy (never
 * per call, so a PATH or directory that changes later cannot redirect it). The config always wins. A name
 * found nowhere is a warning then, and `E_NO_TOOL` naming the program at call time.
 */
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { actionAllows, isActionPattern, normalizePath, resourceKind } from '../runtime/core/resource-match.js';
import type { Policy } from '../runtime/policy/policy.js';
import { type ArgRules, compileArgRules } from './proc-args.js';

/** Program names: lowercase and never containing `/`, so a name can never be read as a path or a URL. */
export const PROGRAM_NAME = /^[a-z][a-z0-9_+.-]{0,63}$/;

/** A program entry as the config gives it (already schema-checked). */
export interface ProgramEntry {
  readonly path: string;
  readonly args?: readonly (string | readonly string[])[] | undefined;
  readonly rest?: string | readonly string[] | undefined;
  readonly forbid?: readonly string[] | undefined;
  readonly max_args?: number | undefined;
}

/** A program the tool may run. */
export interface Program {
  readonly name: string;
  /** The configured path, passed as argv[0] (multi-call binaries dispatch on it). */
  readonly path: string;
  /** What is executed: the real path checked at startup, so a later symlink swap cannot redirect it. */
  readonly real: string;
  readonly rules: ArgRules;
  /** True for git (by name or binary): its command line, environment and configuration are pinned (proc-git.ts). */
  readonly git: boolean;
}

/** A root directory of the tools, as the host wrote it and as it really is. */
export interface Root {
  /** As the host wrote it (normalized), so agents can name paths the way the host showed them. */
  readonly given: string;
  readonly real: string;
}

/**
 * Checks a configured program and pins its real path. Throws TypeError naming `options.programs.<name>.path`
 * when it is not an existing executable file or lies inside an fs root (where an agent could replace it).
 */
export function resolveProgram(name: string, entry: ProgramEntry, roots: readonly Root[]): Program {
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
  return Object.freeze({ name, path: entry.path, real, rules, git: isGit });
}

/** True when `path` is `base` or below it. */
export function isWithin(base: string, path: string): boolean {
  return base === '/' || path === base || path.startsWith(`${base}/`);
}

/** How one program name resolves: from the config, from the host's PATH, or not at all. */
export interface ProgramResolution {
  readonly name: string;
  readonly origin: 'config' | 'path' | 'missing';
  /** The configured path, or where it was found on PATH; undefined when missing. */
  readonly path: string | undefined;
  /** The real path that runs (symlinks resolved); undefined when missing or not executable. */
  readonly real: string | undefined;
  /** Why a granted name has no program (a load-time warning); undefined otherwise. */
  readonly problem: string | undefined;
}

/**
 * The program names a policy's capability rules grant `proc.exec` on literally (the rule's action allows
 * `proc.exec`, its resource is a name without glob characters), in rule order, without duplicates. Names
 * that cannot be programs (upper case, `/`) are included: `resolvePrograms` reports them. Never throws for a
 * loaded policy.
 */
export function grantedProgramNames(policy: Pick<Policy, 'capabilities'>): string[] {
  const names: string[] = [];
  for (const rule of policy.capabilities) {
    if (!isActionPattern(rule.action) || !actionAllows(rule.action, 'proc.exec')) continue;
    if (resourceKind(rule.resource) !== 'name' || /[*?[]/.test(rule.resource)) continue;
    if (!names.includes(rule.resource)) names.push(rule.resource);
  }
  return names;
}

/**
 * The first `<dir>/<name>` on `searchPath` (colon-separated) that is an executable regular file, or
 * undefined. Only absolute, normalized directories are searched: an empty or relative entry (`.`) would
 * make the answer depend on the working directory. Never throws.
 */
export function findOnPath(name: string, searchPath: string): string | undefined {
  if (!PROGRAM_NAME.test(name) || typeof searchPath !== 'string') return undefined;
  for (const dir of searchPath.split(':')) {
    if (normalizePath(dir) !== dir) continue;
    const candidate = dir === '/' ? `/${name}` : `${dir}/${name}`;
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here: keep looking.
    }
  }
  return undefined;
}

/**
 * How every program the proc tool would offer resolves: each `configured` name (its path, as given), then
 * each name the policy grants that `configured` lacks, looked up on `searchPath`. With `roots`, a program
 * found inside an fs root is refused (an agent with fs.write could replace it). Reads the file system;
 * never throws for a loaded policy.
 */
export function resolvePrograms(
  policy: Pick<Policy, 'capabilities'> | undefined,
  configured: Readonly<Record<string, { readonly path: string }>>,
  searchPath: string,
  roots: readonly Root[] = [],
): ProgramResolution[] {
  const out: ProgramResolution[] = [];
  for (const [name, entry] of Object.entries(configured)) {
    out.push({ name, origin: 'config', path: entry.path, real: realExecutable(entry.path), problem: undefined });
  }
  if (policy === undefined) return out;
  for (const name of grantedProgramNames(policy)) {
    if (Object.hasOwn(configured, name)) continue;
    const missing = (problem: string): ProgramResolution => ({
      name,
      origin: 'missing',
      path: undefined,
      real: undefined,
      problem,
    });
    if (!PROGRAM_NAME.test(name)) {
      out.push(missing('is not a program name (lowercase, no "/"), so no call can use it'));
      continue;
    }
    const path = findOnPath(name, searchPath);
    const real = path === undefined ? undefined : realExecutable(path);
    if (path === undefined || real === undefined) {
      out.push(missing('is not in tools.proc.programs and was not found on the PATH'));
    } else if (roots.some((root) => isWithin(root.real, real))) {
      out.push(missing(`was found on the PATH inside an fs root (${path}), where an agent could replace it`));
    } else {
      out.push({ name, origin: 'path', path, real, problem: undefined });
    }
  }
  return out;
}

/** The warning a host shows for a granted program that resolves nowhere. */
export function programWarning(resolution: ProgramResolution): string {
  return `proc.exec "${resolution.name}" is granted by the policy but ${resolution.problem ?? 'cannot run'}: calls will fail with E_NO_TOOL (configure it in tools.proc.programs)`;
}

function realExecutable(path: string): string | undefined {
  try {
    const real = realpathSync(path);
    if (!statSync(real).isFile()) return undefined;
    accessSync(real, constants.X_OK);
    return real;
  } catch {
    return undefined;
  }
}

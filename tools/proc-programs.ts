/**
 * The programs the proc tool may run: each configured name checked once, when the tool is created, and
 * pinned to the real path it had then.
 */
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { type ArgRules, compileArgRules } from './proc-args.js';

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
  return Object.freeze({ name, path: entry.path, real, rules });
}

/** True when `path` is `base` or below it. */
export function isWithin(base: string, path: string): boolean {
  return base === '/' || path === base || path.startsWith(`${base}/`);
}

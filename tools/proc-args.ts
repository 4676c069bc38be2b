/**
 * Argument rules for the proc tool: which arguments a configured program may receive.
 *
 * Two layers, both checked on every call:
 * - Positional patterns (the allowlist, preferred): `args[i]` lists the patterns argument i may match, `rest`
 *   the patterns every later argument may match. With `args` configured and no `rest`, extra arguments are
 *   refused. A pattern is an exact string in which `*` matches any run of characters (including none and `/`);
 *   nothing else is special and there is no escape. An argument that starts with `-` only matches a pattern
 *   that itself starts with `-`, so `*` or `*.txt` can never admit an option such as `--output=x`.
 * - Forbidden flags (the safety net): refused at every position, including after `--` (programs disagree
 *   about it, and over-refusing is the safe side). Spellings caught for each entry:
 *   - `-x` (one character): any argument starting with a single `-` that contains `x` anywhere, which covers
 *     `-x`, `-xVALUE` and bundles such as `-qx`. This over-refuses (`-mfix` is refused when `-x` is
 *     forbidden) because which letters take a value differs per program.
 *   - `--name` or `-name`: `--name`, `-name`, `--name=…`, `-name=…`, and every abbreviation `--n…[=…]` whose
 *     name is a non-empty prefix of `name`, as git's parse-options and GNU getopt_long accept unique prefixes
 *     (`git fetch --upload-pa=cmd` runs cmd). Not caught: single-dash abbreviations (getopt_long_only), `+`
 *     options, and `--no-name` forms, which are different flags and must be listed themselves.
 * Refusals are E_CAP_DENIED with a message naming the position and the configured flag, never the argument
 * text (it may carry data the audit log must not keep).
 */
import { z } from 'zod';
import { KernelError } from '../runtime/core/errors.js';

/** Most arguments one call may pass (a program's `max_args` can only lower it). */
export const MAX_ARGS = 128;
/** Longest single argument, in UTF-16 code units; with MAX_ARGS it stays well inside the kernel's ARG_MAX. */
export const MAX_ARG_LENGTH = 4096;
const MAX_PATTERN_LENGTH = 1024;
const MAX_PATTERN_STARS = 16;
const MAX_ALTERNATIVES = 64;
const MAX_FORBIDDEN = 256;

/**
 * Git options that run commands, read or write configuration, or leave the working directory: `-c`,
 * `--config-env`, `--exec-path`, `--upload-pack`/`-u`, `--receive-pack`, `--exec`, `--extcmd`/`-x` (difftool,
 * rebase), `--template` (hooks), `-C`, `--git-dir`, `--work-tree`, `--output` (writes any file), `-O` /
 * `--open-files-in-pager` (grep runs a pager command), `--separate-git-dir` (init and clone adopt any directory,
 * an agent-written one included, as the repository). Always added to the forbidden flags of a program named
 * `git` or whose path is a `git` binary. It is a floor, not a policy: git subcommands such as `config`,
 * `submodule foreach`, `bisect run` or `difftool` need a positional allowlist (`args: [[status, log, diff]]`).
 * Over-refuses some harmless uses (`git add -u`, `git clean -x`).
 */
export const GIT_FORBIDDEN_FLAGS: readonly string[] = Object.freeze([
  '-c',
  '--config',
  '--config-env',
  '--exec-path',
  '--upload-pack',
  '-u',
  '--receive-pack',
  '--exec',
  '--extcmd',
  '-x',
  '--template',
  '-C',
  '--git-dir',
  '--work-tree',
  '--output',
  '-O',
  '--open-files-in-pager',
  '--separate-git-dir',
]);

// A flag is `-` plus one character, or one or two dashes plus a word; `=` would make the spelling ambiguous.
const FLAG = /^(?:-[A-Za-z0-9?]|--?[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$/;

const patternSchema = z
  .string()
  .min(1)
  .max(MAX_PATTERN_LENGTH)
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => p.split('*').length - 1 <= MAX_PATTERN_STARS, `must have at most ${MAX_PATTERN_STARS} "*"`);

/** One position's patterns: a single pattern or a list of alternatives. */
export const argPatternSchema = z.union([patternSchema, z.array(patternSchema).min(1).max(MAX_ALTERNATIVES)]);

/** A forbidden flag as written in a policy file (`-c`, `--upload-pack`, `-exec`). */
const forbiddenFlagSchema = z.string().regex(FLAG, 'must be a flag such as "-c", "--config" or "-exec"');

/** A program's forbidden flags as written in a policy file (`[-c, --upload-pack, -exec]`). */
export const forbidListSchema = z.array(forbiddenFlagSchema).max(MAX_FORBIDDEN);

/** The argument rules of one program, as compiled by `compileArgRules`. */
export interface ArgRules {
  /** Patterns per position (alternatives), or undefined when any argument may go anywhere. */
  readonly positional: readonly (readonly string[])[] | undefined;
  /** Patterns for arguments past `positional`; undefined refuses them (when `positional` is set). */
  readonly rest: readonly string[] | undefined;
  readonly forbid: readonly string[];
  readonly maxArgs: number;
}

/**
 * Builds the rules for one program from already schema-checked config. `isGit` adds GIT_FORBIDDEN_FLAGS.
 * Throws RangeError when `maxArgs` is not an integer in 0..MAX_ARGS.
 */
export function compileArgRules(config: {
  args?: readonly (string | readonly string[])[] | undefined;
  rest?: string | readonly string[] | undefined;
  forbid?: readonly string[] | undefined;
  maxArgs?: number | undefined;
  isGit: boolean;
}): ArgRules {
  const maxArgs = config.maxArgs ?? MAX_ARGS;
  if (!Number.isInteger(maxArgs) || maxArgs < 0 || maxArgs > MAX_ARGS) {
    throw new RangeError(`max_args must be an integer from 0 to ${MAX_ARGS}`);
  }
  const list = (p: string | readonly string[]): readonly string[] =>
    Object.freeze(typeof p === 'string' ? [p] : [...p]);
  const forbid = new Set(config.forbid ?? []);
  if (config.isGit) for (const flag of GIT_FORBIDDEN_FLAGS) forbid.add(flag);
  return Object.freeze({
    positional: config.args === undefined ? undefined : Object.freeze(config.args.map(list)),
    rest: config.rest === undefined ? undefined : list(config.rest),
    forbid: Object.freeze([...forbid]),
    maxArgs,
  });
}

/**
 * Refuses arguments the rules do not allow. Throws KernelError E_CAP_DENIED naming the program, the position
 * and (for a forbidden flag) the configured flag; the argument's own text is never echoed.
 */
export function checkArguments(program: string, rules: ArgRules, args: readonly string[]): void {
  if (args.length > rules.maxArgs) {
    throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" takes at most ${rules.maxArgs} arguments`);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const flag = forbiddenFlag(arg, rules.forbid);
    if (flag !== undefined) {
      throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" args[${i}] is the forbidden flag "${flag}"`);
    }
    if (rules.positional === undefined) continue;
    const allowed = i < rules.positional.length ? rules.positional[i] : rules.rest;
    if (allowed === undefined) {
      throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" takes no argument at args[${i}]`);
    }
    if (!allowed.some((pattern) => matchArgPattern(pattern, arg))) {
      throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" args[${i}] is not allowed by its argument rules`);
    }
  }
}

/**
 * The configured flag `arg` is a spelling of (see the module comment), or undefined. Never throws.
 */
export function forbiddenFlag(arg: string, forbid: readonly string[]): string | undefined {
  if (!arg.startsWith('-') || arg === '-' || arg === '--') return undefined;
  const long = arg.startsWith('--');
  const body = arg.slice(long ? 2 : 1);
  const eq = body.indexOf('=');
  const name = eq === -1 ? body : body.slice(0, eq);
  let abbreviated: string | undefined;
  for (const flag of forbid) {
    if (flag.length === 2) {
      // A short flag hides anywhere in a bundle, and its value may be joined to it.
      if (!long && body.includes(flag.charAt(1))) return flag;
      continue;
    }
    const word = flag.startsWith('--') ? flag.slice(2) : flag.slice(1);
    if (name === word) return flag;
    // An exact match elsewhere in the list names the flag better (`--exec` is also a prefix of `--exec-path`).
    if (long && name !== '' && word.startsWith(name)) abbreviated ??= flag;
  }
  return abbreviated;
}

/**
 * True when `arg` matches `pattern`: literal text where `*` matches any run of characters, and an argument
 * starting with `-` needs a pattern starting with `-`. Linear in the argument per pattern segment. Never throws.
 */
export function matchArgPattern(pattern: string, arg: string): boolean {
  if (arg.startsWith('-') && !pattern.startsWith('-')) return false;
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === arg;
  const first = parts[0] ?? '';
  const last = parts[parts.length - 1] ?? '';
  if (arg.length < first.length + last.length || !arg.startsWith(first) || !arg.endsWith(last)) return false;
  // Leftmost placement of each middle literal is optimal for `*`-only globs, so no backtracking is needed.
  let at = first.length;
  const end = arg.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i] ?? '';
    const found = arg.indexOf(part, at);
    if (found === -1 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

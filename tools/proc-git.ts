/**
 * How the proc tool runs git: agent-written repository files must never make git run a command.
 *
 * Git executes commands named in configuration (core.fsmonitor, hooks, aliases, filter and diff drivers,
 * pagers, editors, ssh and credential helpers, core.alternateRefsCommand), and it reads configuration from
 * places an agent can write: a repository it discovers below the working directory (an agent can lay out a
 * bare repository under out/ with nothing named `.git`), `.git/` itself, `$HOME/.gitconfig` when HOME is in
 * an fs root, and the repository git itself writes on `git config`. Four layers close that:
 *
 * 1. Pinned configuration, passed as command-line configuration (GIT_CONFIG_COUNT / KEY / VALUE), which
 *    outranks every file: bare repositories are used only when named explicitly (`safe.bareRepository`),
 *    local and `ext::` transports are off (`protocol.file.allow`, `protocol.ext.allow`: a local transport
 *    runs upload-pack or receive-pack in the other repository with command-line configuration dropped, so
 *    an agent-written repository's config would run there), and fsmonitor, hooks, pager, editors, ssh
 *    command, askpass, credential helpers, alternate-refs command and signing programs are fixed.
 * 2. The environment: no system or global configuration or attributes (GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL
 *    =/dev/null, GIT_ATTR_NOSYSTEM), pager and editors fixed, no terminal prompt, and no GIT_* variable from
 *    the host except author and committer identity.
 * 3. A floor on the command line, on top of GIT_FORBIDDEN_FLAGS: before the subcommand only harmless global
 *    options (`--bare` and `--namespace` would name a repository or read one's config), and no subcommand that
 *    writes configuration or exists to run commands (`config`, `submodule`, `filter-branch`, `difftool`,
 *    `bisect run`, …); `--separate-git-dir` (it adopts any directory as a repository) joins the flags.
 * 4. The fs tools refuse to write or delete any path with a `.git` component (tools/fs.ts).
 *
 * Not covered, by design: keys whose names an agent would choose (`alias.*`, `filter.<driver>.*`,
 * `diff.<driver>.command`, …) and `diff.external` cannot be pinned; they are safe because no layer above lets
 * an agent write configuration git reads. A host that also configures a program able to write files anywhere
 * (`sh`, `cp`, an interpreter) gives that up, as it gives up everything else.
 */
import { KernelError } from '../runtime/core/errors.js';

/** Configuration every kernel-run git gets, in command-line scope (it outranks system, global and repo). */
export const GIT_PINNED_CONFIG: readonly (readonly [string, string])[] = Object.freeze([
  ['safe.bareRepository', 'explicit'],
  ['protocol.file.allow', 'never'],
  ['protocol.ext.allow', 'never'],
  ['core.fsmonitor', 'false'],
  ['core.hooksPath', '/dev/null'],
  ['core.pager', 'cat'],
  ['core.editor', 'true'],
  ['sequence.editor', 'true'],
  ['core.sshCommand', 'ssh'],
  ['core.askPass', ''],
  // An empty helper resets the list: helpers from any file before it are dropped.
  ['credential.helper', ''],
  ['core.alternateRefsCommand', 'true'],
  // A mistyped subcommand must never be run as its correction (`git confi` as `config`).
  ['help.autocorrect', '0'],
  ['gpg.program', 'gpg'],
  ['gpg.ssh.program', 'ssh-keygen'],
  ['gpg.x509.program', 'gpgsm'],
] as const);

/** Environment variables every kernel-run git gets (after the policy's `env` allowlist, so these win). */
export const GIT_PINNED_ENV: Readonly<Record<string, string>> = Object.freeze({
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_ATTR_NOSYSTEM: '1',
  GIT_PAGER: 'cat',
  PAGER: 'cat',
  GIT_EDITOR: 'true',
  GIT_SEQUENCE_EDITOR: 'true',
  EDITOR: 'true',
  VISUAL: 'true',
  GIT_TERMINAL_PROMPT: '0',
});

/** The host's GIT_* variables a policy may pass to git through `env`: identity only. */
const GIT_ENV_ALLOWED: ReadonlySet<string> = new Set([
  'GIT_AUTHOR_NAME',
  'GIT_AUTHOR_EMAIL',
  'GIT_AUTHOR_DATE',
  'GIT_COMMITTER_NAME',
  'GIT_COMMITTER_EMAIL',
  'GIT_COMMITTER_DATE',
]);

/** Other variables git or its helpers read to pick a command to run. */
const COMMAND_ENV: ReadonlySet<string> = new Set(['SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE', 'DISPLAY']);

/**
 * Global options git may be given before its subcommand: none of them names a repository, reads a
 * configuration or changes the working directory. (`-c`, `-C`, `--git-dir`, `--work-tree`, `--exec-path`,
 * `--config-env` are also GIT_FORBIDDEN_FLAGS everywhere.)
 */
const SAFE_GLOBAL_OPTIONS: ReadonlySet<string> = new Set([
  '-p',
  '--paginate',
  '-P',
  '--no-pager',
  '--no-replace-objects',
  '--no-lazy-fetch',
  '--no-optional-locks',
  '--literal-pathspecs',
  '--glob-pathspecs',
  '--noglob-pathspecs',
  '--icase-pathspecs',
  '-v',
  '--version',
  '-h',
  '--help',
  '--html-path',
  '--man-path',
  '--info-path',
]);

/**
 * Subcommands refused for agents: they write configuration git later obeys, or exist to run commands or
 * other programs (`config`, `filter-branch`, `difftool`, `mergetool`, `submodule` (`foreach`), `maintenance`
 * (installs a scheduler entry), credential helpers, daemons, mail and foreign-VCS bridges, `hook`,
 * `for-each-repo`).
 */
export const GIT_FORBIDDEN_SUBCOMMANDS: readonly string[] = Object.freeze([
  'config',
  'filter-branch',
  'difftool',
  'mergetool',
  'submodule',
  'maintenance',
  'credential',
  'credential-store',
  'credential-cache',
  'credential-cache--daemon',
  'daemon',
  'instaweb',
  'web--browse',
  'send-email',
  'imap-send',
  'request-pull',
  'shell',
  'hook',
  'for-each-repo',
  'upload-pack',
  'receive-pack',
  'upload-archive',
  'remote-ext',
  'remote-fd',
  'archimport',
  'cvsimport',
  'cvsserver',
  'cvsexportcommit',
  'svn',
  'p4',
  'quiltimport',
]);

/** Subcommands refused only with a given action word after them: `bisect run <cmd>` runs the command. */
const FORBIDDEN_ACTIONS: Readonly<Record<string, string>> = Object.freeze({ bisect: 'run' });

const FORBIDDEN: ReadonlySet<string> = new Set(GIT_FORBIDDEN_SUBCOMMANDS);

/**
 * Refuses a git command line the floor does not allow: a global option before the subcommand other than the
 * harmless ones, a forbidden subcommand, or `bisect run` (`--separate-git-dir` is a GIT_FORBIDDEN_FLAGS entry,
 * so its abbreviations are caught too). Throws KernelError
 * E_CAP_DENIED naming the program and the rule, never the argument's text beyond git's own vocabulary.
 */
export function checkGitCommand(program: string, args: readonly string[]): void {
  let at = 0;
  while (at < args.length && (args[at] ?? '').startsWith('-')) {
    const option = args[at] ?? '';
    if (!SAFE_GLOBAL_OPTIONS.has(option)) {
      throw new KernelError(
        'E_CAP_DENIED',
        `proc.exec: "${program}" args[${at}] is a global option agents may not give git before its subcommand`,
      );
    }
    at++;
  }
  const subcommand = args[at];
  if (subcommand !== undefined && FORBIDDEN.has(subcommand)) {
    throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" subcommand "${subcommand}" is refused for agents`);
  }
  const action =
    subcommand !== undefined && Object.hasOwn(FORBIDDEN_ACTIONS, subcommand)
      ? FORBIDDEN_ACTIONS[subcommand]
      : undefined;
  if (action !== undefined && args.slice(at + 1).includes(action)) {
    throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" "${subcommand} ${action}" is refused for agents`);
  }
}

/**
 * The environment for a git child: `base` (the scrubbed environment with the policy's allowlist) without
 * any GIT_* variable other than identity and without askpass helpers, plus GIT_PINNED_ENV and
 * GIT_PINNED_CONFIG as GIT_CONFIG_COUNT / KEY_n / VALUE_n. Returns a new null-prototype object.
 */
export function gitEnvironment(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.create(null);
  for (const [name, value] of Object.entries(base)) {
    if (name.startsWith('GIT_') && !GIT_ENV_ALLOWED.has(name)) continue;
    if (COMMAND_ENV.has(name)) continue;
    env[name] = value;
  }
  for (const [name, value] of Object.entries(GIT_PINNED_ENV)) env[name] = value;
  env['GIT_CONFIG_COUNT'] = String(GIT_PINNED_CONFIG.length);
  GIT_PINNED_CONFIG.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

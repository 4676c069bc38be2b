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
 *    =/dev/null, GIT_ATTR_NOSYSTEM), pager and editors fixed, no terminal prompt, no GIT_* variable from
 *    the host except author and committer identity, and HOME, XDG_CONFIG_HOME and GNUPGHOME a private empty
 *    directory. The programs git starts read their own configuration from the user's home (pass 121:
 *    `~/.gnupg/gpg.conf` named a dirmngr program gpg started on `log --show-signature`, `~/.ssh/config` a
 *    ProxyCommand; review 123: man's `~/.manpath` its formatter): the home is replaced, and ssh, which takes it
 *    from the user database whatever HOME says, is told to read no configuration file.
 * 3. A floor on the command line, on top of GIT_FORBIDDEN_FLAGS: before the subcommand only harmless global
 *    options (`--bare` and `--namespace` would name a repository or read one's config), and no subcommand that
 *    writes configuration or exists to run commands (`config`, `submodule`, `filter-branch`, `difftool`,
 *    `bisect run`, …); `--separate-git-dir` (it adopts any directory as a repository) joins the flags.
 * 4. The fs tools refuse to write or delete any path with a `.git` component (tools/fs.ts), and no git
 *    argument may have one either (checkGitCommand): git has path writers of its own (`checkout-index
 *    --prefix`, `archive -o`, `merge-file`, red-team pass 87), and it must not be pointed at its metadata.
 * 5. The repository's configuration itself (checkGitRepository, before every run, under a lock that keeps
 *    runs from overlapping): keys whose names an agent would choose (`alias.*`, `filter.<driver>.*`,
 *    `diff.<driver>.command`, `include.path`, …) cannot be pinned, and pass 87 showed that the premise of
 *    layer 4 alone, "nothing lets an agent write configuration git reads", was false: git writes any path
 *    it is told to. So git itself lists the configuration it is about to read, from the same directory
 *    under the same environment, and any key outside a small allowlist of inert keys refuses the run. This
 *    does not depend on knowing every way git can write a file.
 *
 * Also refused: running a program by path. git runs `git-<word>` found relative to cwd when the word has a
 * `/` (`git /pay`, a merge strategy `/../pay`), and `merge-index` runs the program it is given; git's own
 * checkout makes agent bytes executable (mode 100755).
 *
 * A host that also configures a program able to write files anywhere (`sh`, `cp`, an interpreter) gives all
 * of this up, as it gives up everything else.
 */
import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { KernelError } from '../runtime/core/errors.js';
import { forbiddenFlag } from './proc-args.js';
import type { Command } from './proc-sandbox.js';

/** Configuration every kernel-run git gets, in command-line scope (it outranks system, global and repo). */
export const GIT_PINNED_CONFIG: readonly (readonly [string, string])[] = Object.freeze([
  ['safe.bareRepository', 'explicit'],
  // Transports by name only: any other `<name>::<address>` runs `git-remote-<name>` from PATH (review 126), the
  // `git-*` programs the subcommand allowlist keeps out.
  ['protocol.allow', 'never'],
  ['protocol.https.allow', 'always'],
  ['protocol.http.allow', 'always'],
  ['protocol.ssh.allow', 'always'],
  ['protocol.git.allow', 'always'],
  ['protocol.file.allow', 'never'],
  ['protocol.ext.allow', 'never'],
  ['core.fsmonitor', 'false'],
  ['core.hooksPath', '/dev/null'],
  ['core.pager', 'cat'],
  ['core.editor', 'true'],
  ['sequence.editor', 'true'],
  // OpenSSH reads ~/.ssh/config from the user database's home, whatever HOME says: with that home in an fs root,
  // an agent's ProxyCommand ran on `git ls-remote ssh://…` (red-team pass 121). `-F` names the only file read.
  ['core.sshCommand', 'ssh -F /dev/null'],
  ['core.askPass', ''],
  // An empty helper resets the list: helpers from any file before it are dropped.
  ['credential.helper', ''],
  ['core.alternateRefsCommand', 'true'],
  // A mistyped subcommand must never be run as its correction (`git confi` as `config`).
  ['help.autocorrect', '0'],
  ['gpg.program', 'gpg'],
  ['gpg.ssh.program', 'ssh-keygen'],
  ['gpg.x509.program', 'gpgsm'],
  // git never makes a symbolic link in the worktree (it writes the target as a plain file): a git-made link
  // `x -> .git` would let a path without `.git` in it (`--prefix=x/`) land in the metadata (pass 87).
  ['core.symlinks', 'false'],
  // Refuse tree entries that other file systems would read as `.git` (`.GIT`, `git~1`, `.git ` ...).
  ['core.protectNTFS', 'true'],
  ['core.protectHFS', 'true'],
  // No automatic gc or maintenance: a detached gc leaves the process group (setsid), outliving the call
  // and the lock checkGitRepository relies on, and it runs more git processes in the repository.
  ['gc.auto', '0'],
  ['gc.autoDetach', 'false'],
  ['maintenance.auto', 'false'],
  // git never enters a nested repository (a submodule) on its own: `status` and `diff` would run git there,
  // reading that repository's configuration, which checkGitRepository (the run's cwd only) never saw.
  // A `.gitmodules` entry's `ignore = none` still overrides diff.ignoreSubmodules (see checkGitCommand).
  ['diff.ignoreSubmodules', 'all'],
  ['submodule.recurse', 'false'],
  ['fetch.recurseSubmodules', 'false'],
  ['push.recurseSubmodules', 'no'],
  ['status.submoduleSummary', 'false'],
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
const COMMAND_ENV: ReadonlySet<string> = new Set(['SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE', 'DISPLAY', 'GNUPGHOME']);

/**
 * Global options git may be given before its subcommand: none of them names a repository, reads a
 * configuration, changes the working directory or runs a program. Not `-h` and `--help`: `git -h log` is `git
 * help log`, which runs man(1), and man reads `$HOME/.manpath`, whose `DEFINE nroff` names the program it runs
 * (review 123 ran an agent's script through it, and man cached its output for the host's own `man git-log`). (`-c`, `-C`, `--git-dir`, `--work-tree`, `--exec-path`,
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
  // Runs the program named by its first argument for each unmerged path (`merge-index ./pay -a`).
  'merge-index',
  'merge-one-file',
  // Review 90: `subtree split` writes `$GIT_DIR/subtree-cache/<pid>/<x>` where <x> comes from a commit message
  // (`git-subtree-mainline: ../../y`), and `fast-import` writes marks and pack edges at paths its options or its
  // stdin name (`--relative-marks --export-marks=../../config` replaced `.git/config`). hash-object, mktree,
  // commit-tree and update-ref build objects without either.
  'subtree',
  'fast-import',
]);

/**
 * Subcommands refused only with given action words after them: `bisect run <cmd>` runs the command, and
 * `bisect view`/`visualize <words>` runs `git <words>` (or the first word itself when it starts with `git`),
 * past every check here (review 90: `bisect view git-/pay`, `bisect view filter-branch --tree-filter …`).
 */
const FORBIDDEN_ACTIONS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  bisect: ['run', 'view', 'visualize'],
});

const FORBIDDEN: ReadonlySet<string> = new Set(GIT_FORBIDDEN_SUBCOMMANDS);

/**
 * The only subcommands agents may run: git's own work on a repository. Every review of this floor found a
 * subcommand nobody had listed that runs a program or writes at a path it is handed (`bisect view`, `subtree`,
 * `fast-import`, `merge-index`), and a word git does not know runs `git-<word>` from PATH (any `git-*` program
 * installed on the host: `git lfs`, a vendor's helper). So the refusals above are kept for their messages, and
 * everything not named here is refused: a new subcommand is allowed once someone has read what it runs and
 * writes. Not here: `help` (`-w` starts a browser), `gc`/`repack`/`prune` (maintenance the kernel pins off),
 * signing and verification (`verify-commit`, `verify-tag`: they run gpg).
 */
export const GIT_AGENT_SUBCOMMANDS: readonly string[] = Object.freeze([
  // Porcelain.
  'add',
  'am',
  'apply',
  'archive',
  'bisect',
  'blame',
  'branch',
  'bundle',
  'checkout',
  'cherry',
  'cherry-pick',
  'clean',
  'clone',
  'commit',
  'describe',
  'diff',
  'fetch',
  'format-patch',
  'grep',
  'init',
  'log',
  'ls-remote',
  'merge',
  'merge-base',
  'mv',
  'notes',
  'pull',
  'push',
  'range-diff',
  'rebase',
  'reflog',
  'remote',
  'reset',
  'restore',
  'revert',
  'rm',
  'shortlog',
  'show',
  'show-branch',
  'sparse-checkout',
  'stash',
  'status',
  'switch',
  'tag',
  'version',
  'whatchanged',
  'worktree',
  // Plumbing that reads, or builds objects and the index.
  'cat-file',
  'check-attr',
  'check-ignore',
  'check-ref-format',
  'checkout-index',
  'commit-tree',
  'count-objects',
  'diff-files',
  'diff-index',
  'diff-tree',
  'for-each-ref',
  'fsck',
  'hash-object',
  'interpret-trailers',
  'ls-files',
  'ls-tree',
  'mailinfo',
  'mailsplit',
  'merge-tree',
  'mktag',
  'mktree',
  'name-rev',
  'patch-id',
  'read-tree',
  'rev-list',
  'rev-parse',
  'show-ref',
  'stripspace',
  'symbolic-ref',
  'update-index',
  'update-ref',
  'var',
  'write-tree',
]);

const ALLOWED: ReadonlySet<string> = new Set(GIT_AGENT_SUBCOMMANDS);

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
  if (subcommand === undefined) return;
  // git runs a word it does not know as `git-<word>`: searched on PATH for a plain word, but relative to cwd
  // when it has a `/` (`git /pay` runs ./git-/pay). `--` marks git's internal helpers (`submodule--helper
  // foreach` runs commands, `bisect--helper`, `difftool--helper`, daemons); agents use the public commands.
  if (!SUBCOMMAND.test(subcommand) || subcommand.includes('--')) {
    throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" args[${at}] is not a git command agents may run`);
  }
  if (FORBIDDEN.has(subcommand) || !ALLOWED.has(subcommand)) {
    throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" subcommand "${subcommand}" is refused for agents`);
  }
  const rest = args.slice(at + 1);
  // `git <subcommand> --help` is `git help <subcommand>`: man (see SAFE_GLOBAL_OPTIONS).
  if (rest[0] === '--help') {
    throw new KernelError(
      'E_CAP_DENIED',
      `proc.exec: "${program}" "${subcommand} --help" runs man; refused for agents`,
    );
  }
  const actions = Object.hasOwn(FORBIDDEN_ACTIONS, subcommand) ? FORBIDDEN_ACTIONS[subcommand] : undefined;
  const action = actions?.find((word) => rest.includes(word));
  if (action !== undefined) {
    throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" "${subcommand} ${action}" is refused for agents`);
  }
  for (let i = at; i < args.length; i++) {
    if (hasGitComponent(args[i] ?? '')) {
      throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" args[${i}] names git metadata (a .git path)`);
    }
    if (leavesDirectory(args[i] ?? '')) {
      throw new KernelError(
        'E_CAP_DENIED',
        `proc.exec: "${program}" args[${i}] names a path outside the run's directory (absolute, or with "..")`,
      );
    }
  }
  const writer = Object.hasOwn(PATH_WRITERS, subcommand) ? PATH_WRITERS[subcommand] : undefined;
  if (writer?.(rest) === true) {
    throw new KernelError(
      'E_CAP_DENIED',
      `proc.exec: "${program}" "${subcommand}" writing a path it builds or is given is refused for agents`,
    );
  }
  if (strategyByPath(subcommand, rest)) {
    throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" a merge strategy must not be a path`);
  }
  if (entersSubmodules(rest)) {
    throw new KernelError('E_CAP_DENIED', `proc.exec: "${program}" agents' git may not enter submodules`);
  }
}

/**
 * True for an option that makes git enter nested repositories (whose configuration nobody checked):
 * `--recurse-submodules`, `--submodule[=diff]` and `--ignore-submodules=` anything but `all`, in every
 * abbreviation; their `--no-` forms and `--ignore-submodules` alone (it means `all`) stay allowed.
 */
function entersSubmodules(rest: readonly string[]): boolean {
  for (const arg of rest) {
    if (arg === '--') return false;
    if (!arg.startsWith('--')) continue;
    if (forbiddenFlag(arg, ['--recurse-submodules', '--submodule']) !== undefined) return true;
    if (forbiddenFlag(arg, ['--ignore-submodules']) !== undefined && arg.includes('=') && !arg.endsWith('=all')) {
      return true;
    }
  }
  return false;
}

// git's own commands are lowercase words with dashes. (A word git does not know runs as an alias only if the
// repository configuration defines one, which checkGitRepository refuses.)
const SUBCOMMAND = /^[a-z0-9][a-z0-9-]*$/;

/**
 * True when some component of `arg`, read as a path or as the value of an option, a `<mode>,<sha>,<path>`
 * triple, a `<rev>:<path>` or a pathspec with magic, is `.git` in any case (with trailing dots or spaces,
 * which some file systems drop), as tools/fs.ts refuses for fs paths. A message such as `-m "fix .git
 * handling"` has no such component; `-m .git/x` is refused, an over-refusal nobody needs.
 */
export function hasGitComponent(arg: string): boolean {
  // A short option's value may be joined to it (`-o.git/hooks`, `-qo.git`): `.git` right after the letters.
  if (/^-[A-Za-z0-9]*\.git[. ]*(?:[/\\=,:()]|$)/i.test(arg)) return true;
  return arg.split(/[/\\=,:()]/).some((part) => /^\.git[. ]*$/i.test(part));
}

/**
 * True when `arg`, or an option's value in it, names a path that may leave the run's directory: absolute (`/x`,
 * `--output-directory=/x`, `-o/x`) or with a `..` component (`refs/heads/../../config`, `../wt`). Several
 * subcommands write where they are told and git resolves the path itself (`init`, `worktree add`, `format-patch
 * -o`, `bundle create`, `read-tree --index-output`, a `symbolic-ref` name: review 91 wrote outside every root and,
 * through a rebase's strategy file, ran a program); the kernel cannot follow each one, so agents name paths
 * relative to the run's directory, below it. A revision range (`main..topic`) has no `..` component; a message
 * with one (`-m "see ../x"`) is refused, an over-refusal `-F -` avoids.
 */
export function leavesDirectory(arg: string): boolean {
  const values = [arg];
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    if (eq !== -1) values.push(arg.slice(eq + 1));
  } else if (arg.startsWith('-')) {
    // A short option's value may be joined to it (`-o/x`, `-qo../x`).
    values.push(arg.replace(/^-[A-Za-z0-9]*/, ''));
  }
  return values.some((value) => /^[/\\]/.test(value) || value.split(/[/\\]/).includes('..'));
}

/** True when one of `flags` (proc-args spellings, abbreviations and bundles included) is among `rest`. */
const anyFlag = (rest: readonly string[], flags: readonly string[]): boolean =>
  rest.some((arg) => forbiddenFlag(arg, flags) !== undefined);

/**
 * Subcommands that write a file at a path the agent builds or names, refused in those forms (pass 87):
 * `checkout-index --prefix` concatenates the prefix and an index path (`--prefix=x/.` + `git/config`), so no
 * single argument shows `.git`; `archive -o` (`--output` is a GIT_FORBIDDEN_FLAGS entry) writes the path given.
 * Their read-only forms (stdout) stay allowed. (`merge-file` writes its first path unless told not to, and
 * telling which was the case took parsing its options as git does: `-Lp` is a label, a later `--no-stdout`
 * undoes `-p`, review 91. It is not among GIT_AGENT_SUBCOMMANDS.)
 */
const PATH_WRITERS: Readonly<Record<string, (rest: readonly string[]) => boolean>> = Object.freeze({
  'checkout-index': (rest) => anyFlag(rest, ['--prefix']),
  archive: (rest) => anyFlag(rest, ['-o', '--output']),
  // Writes the paths a patch names, anywhere, unchecked (review 89: `.git/rebase-merge/git-rebase-todo` and a
  // file outside every root, from a patch on stdin); without it git refuses paths outside the work tree or in `.git`.
  apply: (rest) => anyFlag(rest, ['--unsafe-paths']),
});

/** Subcommands whose `-s` is `--strategy` (elsewhere it is `--signoff`, which takes no value). */
const SHORT_STRATEGY: ReadonlySet<string> = new Set(['merge', 'pull', 'rebase']);

/**
 * True when a merge strategy in `rest` has a `/` or `\\`: git runs a strategy it does not know as
 * `git merge-<name>`, and with a `/` that is a file relative to cwd (`cherry-pick --strategy=/../pay` runs
 * ./git-merge-/../pay). Spellings: `--strategy=x`, `--strategy x` and their abbreviations, and for merge,
 * pull and rebase `-sx`, `-s x` and bundles (over-refusing `-s` bundles followed by a path, which is rare).
 */
function strategyByPath(subcommand: string, rest: readonly string[]): boolean {
  const isPath = (value: string | undefined): boolean => value !== undefined && /[/\\]/.test(value);
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    if (arg === '--') return false;
    if (arg.startsWith('--')) {
      if (forbiddenFlag(arg, ['--strategy']) === undefined) continue;
      const eq = arg.indexOf('=');
      if (isPath(eq === -1 ? rest[i + 1] : arg.slice(eq + 1))) return true;
    } else if (arg.startsWith('-') && SHORT_STRATEGY.has(subcommand) && arg.includes('s')) {
      if (isPath(arg) || (arg.endsWith('s') && isPath(rest[i + 1]))) return true;
    }
  }
  return false;
}

/**
 * The environment for a git child: `base` (the scrubbed environment with the policy's allowlist) without
 * any GIT_* variable other than identity and without askpass helpers, plus GIT_PINNED_ENV and
 * GIT_PINNED_CONFIG as GIT_CONFIG_COUNT / KEY_n / VALUE_n, with `root` (the fs root of the run) a ceiling
 * just above it, and `home` as HOME, XDG_CONFIG_HOME and gpg's home (GNUPGHOME): an empty directory of the
 * kernel's, outside every root (the call's scratch directory), so nothing git starts reads configuration an agent
 * wrote into a home in a root (libcurl's `.netrc`, git's XDG attributes, gpg's `gpg.conf`). Without one,
 * GNUPGHOME is only dropped. Returns a new null-prototype object.
 */
export function gitEnvironment(base: NodeJS.ProcessEnv, root?: string, home?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.create(null);
  for (const [name, value] of Object.entries(base)) {
    if (name.startsWith('GIT_') && !GIT_ENV_ALLOWED.has(name)) continue;
    if (COMMAND_ENV.has(name)) continue;
    env[name] = value;
  }
  for (const [name, value] of Object.entries(GIT_PINNED_ENV)) env[name] = value;
  if (home !== undefined) {
    env['HOME'] = home;
    env['XDG_CONFIG_HOME'] = home;
    env['GNUPGHOME'] = home;
  }
  // No repository above the fs root: a root inside the host's own checkout would otherwise hand agents' git
  // that checkout (its configuration, and a worktree outside the root to check files out into).
  if (root !== undefined && root !== '/') env['GIT_CEILING_DIRECTORIES'] = dirname(root);
  env['GIT_CONFIG_COUNT'] = String(GIT_PINNED_CONFIG.length);
  GIT_PINNED_CONFIG.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return env;
}

// ------------------------------------------------------------------------------ repository configuration

/**
 * Keys (as git lists them: section and name lowercased) a repository's own configuration may hold for an agent's
 * git to run there: what `init`, `clone`, `remote add`, `branch -u`, `sparse-checkout` and the like write,
 * none of which names a program, a file to include, a hooks path, a worktree elsewhere, a filter, a driver,
 * a helper or a transport. Whatever is not listed refuses the run: a new key must be argued inert first.
 */
const INERT_KEYS: ReadonlySet<string> = new Set([
  'core.repositoryformatversion',
  'core.filemode',
  'core.bare',
  'core.logallrefupdates',
  'core.ignorecase',
  'core.precomposeunicode',
  'core.symlinks',
  'core.autocrlf',
  'core.eol',
  'core.safecrlf',
  'core.sparsecheckout',
  'core.sparsecheckoutcone',
  'core.sharedrepository',
  'core.quotepath',
  'core.abbrev',
  'extensions.objectformat',
  'extensions.refstorage',
  'extensions.worktreeconfig',
  'extensions.partialclone',
  'extensions.preciousobjects',
  'index.sparse',
  'index.version',
  'init.defaultbranch',
  'user.name',
  'user.email',
  'receive.denynonfastforwards',
  'pull.rebase',
  'pull.ff',
]);

/**
 * Per-name keys (`<section>.<name>.<key>`): upstream tracking and remotes. A remote's `url` is inert here
 * because the transports that would run something (`ext::`, local repositories) are pinned off; its
 * `uploadpack`, `receivepack`, `vcs` and `proxy` are not listed.
 */
const INERT_NAMED_KEYS: Readonly<Record<string, ReadonlySet<string>>> = Object.freeze({
  branch: new Set(['remote', 'merge', 'rebase', 'description', 'pushremote']),
  remote: new Set([
    'url',
    'pushurl',
    'fetch',
    'push',
    'tagopt',
    'mirror',
    'prune',
    'promisor',
    'partialclonefilter',
    'skipdefaultupdate',
    'skipfetchall',
  ]),
});

/** True when `key` (git's listing: `section.name` or `section.<sub.section>.name`) is an inert key. */
export function isInertGitKey(key: string): boolean {
  const first = key.indexOf('.');
  const last = key.lastIndexOf('.');
  if (first <= 0 || last === key.length - 1) return false;
  if (first === last) return INERT_KEYS.has(key);
  const named = Object.hasOwn(INERT_NAMED_KEYS, key.slice(0, first))
    ? INERT_NAMED_KEYS[key.slice(0, first)]
    : undefined;
  return named?.has(key.slice(last + 1)) === true;
}

/** Longest configuration listing read; a bigger one (no real repository has it) refuses the run. */
const MAX_CONFIG_LISTING = 1 << 20;
/** How long git may take to list its configuration before the run is refused. */
const CONFIG_LISTING_TIMEOUT_MS = 10_000;

/**
 * Refuses to run git in `cwd` when the configuration git would read there holds a key that is not inert
 * (isInertGitKey). git lists it itself (`git config --list --show-scope -z --no-includes`), with `real`, in
 * `cwd`, under `env` (gitEnvironment's), so it reads the files the run would read: the repository git
 * discovers from there, through a `.git` gitfile or a linked worktree's `commondir`, its `config.worktree`
 * when enabled, with `include.path` listed as a key (and refused) rather than followed. Entries in the
 * command scope are the kernel's pins and are skipped. Outside any repository there is nothing to check.
 * Fails closed: a listing git cannot produce (unparseable file, timeout, over MAX_CONFIG_LISTING) refuses.
 * `launch` wraps the command as the run is wrapped (the sandbox, tools/proc-sandbox.ts), so both read alike;
 * `metered` runs the spawn and charges its time to the caller (ToolContext.metered); `signal` kills the listing
 * (the caller ended, possibly by that very charge).
 * Throws KernelError E_CAP_DENIED naming at most the offending key's section, never a path or a value.
 * Call it under the lock of createGitGate with the run itself, or another run may write in between.
 */
export async function checkGitRepository(
  real: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  run: {
    readonly launch?: (command: Command) => Command;
    readonly metered?: <T>(call: () => T) => T;
    readonly signal?: AbortSignal;
  } = {},
): Promise<void> {
  const { launch = (command: Command) => command, metered = (call) => call(), signal } = run;
  const command = launch({
    file: real,
    argv0: real,
    args: ['config', '--list', '--show-scope', '-z', '--no-includes'],
  });
  const listing = await new Promise<string | undefined>((resolve) => {
    metered(() =>
      execFile(
        command.file,
        command.args,
        {
          cwd,
          env,
          encoding: 'utf8',
          maxBuffer: MAX_CONFIG_LISTING,
          timeout: CONFIG_LISTING_TIMEOUT_MS,
          killSignal: 'SIGKILL',
          windowsHide: true,
          ...(signal === undefined ? {} : { signal }),
        },
        (error, stdout) => resolve(error === null ? stdout : undefined),
      ),
    );
  });
  if (listing === undefined) {
    throw new KernelError('E_CAP_DENIED', 'proc.exec: git could not list the repository configuration; not running');
  }
  // `<scope>\0<key>[\n<value>]\0` per entry; key names have no newline, values are never looked at.
  const fields = listing.split('\0');
  if (fields.pop() !== '' || fields.length % 2 !== 0) {
    throw new KernelError('E_CAP_DENIED', 'proc.exec: git listed the repository configuration in an unknown form');
  }
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'command') continue;
    const entry = fields[i + 1] ?? '';
    const newline = entry.indexOf('\n');
    const key = newline === -1 ? entry : entry.slice(0, newline);
    if (isInertGitKey(key)) continue;
    const section = key.slice(0, Math.max(0, key.indexOf('.')));
    const shown = /^[a-z0-9-]{1,32}$/.test(section) ? ` (section "${section}")` : '';
    throw new KernelError(
      'E_CAP_DENIED',
      `proc.exec: the repository configuration has a key${shown} agents' git may not run with`,
    );
  }
}

/**
 * Locks for one tool's git runs, one per fs root: `gate(root, run)` starts `run` once every earlier run under
 * that root has settled. Checking the configuration and then running git is only sound if no other git run
 * (which may write the configuration by some path nobody listed) is in progress between the check and the end
 * of the run; a git run reaches only repositories inside its root (no argument may name a `.git` path), so runs
 * under different roots need not wait for each other: one tenant's slow git does not hold up another's.
 */
export function createGitGate(): <T>(root: string, run: () => Promise<T>) => Promise<T> {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(root: string, run: () => Promise<T>): Promise<T> => {
    const result = (tails.get(root) ?? Promise.resolve()).then(run, run);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    tails.set(root, tail);
    // The last run under a root forgets it: the map holds only roots with runs in progress.
    void tail.then(() => {
      if (tails.get(root) === tail) tails.delete(root);
    });
    return result;
  };
}

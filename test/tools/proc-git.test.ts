import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkGitCommand,
  checkGitRepository,
  createGitGate,
  GIT_PINNED_CONFIG,
  GIT_PINNED_ENV,
  gitEnvironment,
  hasGitComponent,
  isInertGitKey,
} from '../../tools/proc-git.js';

function refusal(args: string[]): string | undefined {
  try {
    checkGitCommand('git', args);
    return undefined;
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe('checkGitCommand', () => {
  it.each([
    [[]],
    [['status']],
    [['--no-pager', 'log', '--oneline', '-n', '3']],
    [['-P', 'diff', '--stat']],
    [['init', '--bare', 'repo.git']],
    [['clone', '--bare', 'https://example.com/x.git']],
    [['log', '--', 'config']],
    [['bisect', 'start']],
    [['commit', '-m', 'config']],
    [['--version']],
    [['commit', '-m', 'fix .git handling']],
    [['add', '.gitignore', '.github/x', 'repo.git/y']],
    [['checkout-index', '-f', 'config']],
    [['archive', '--format=tar', 'HEAD']],
    [['merge', '-s', 'ours', 'origin/main']],
    [['rebase', '--strategy=ort', '-X', 'theirs', 'origin/main']],
    [['cherry-pick', '-s', 'feature/x']],
    [['status', '--ignore-submodules']],
    [['status', '--ignore-submodules=all']],
    [['clone', '--no-recurse-submodules', 'https://example.com/x.git']],
    [['format-patch', '-o', 'x/y', 'HEAD~1']],
  ])('allows %j', (args) => {
    expect(refusal(args)).toBeUndefined();
  });

  it.each([
    [['config', 'alias.x', '!id']],
    [['config', '--get', 'user.name']],
    [['--no-pager', 'config', 'core.pager', 'id']],
    [['--namespace', 'n', 'config', 'x', 'y']],
    [['--namespace=n', 'status']],
    [['--bare', 'status']],
    [['--git-dir=x', 'status']],
    [['--exec-path']],
    [['--super-prefix=x/', 'status']],
    [['--list-cmds=main']],
    [['-c', 'core.pager=id', 'log']],
    [['submodule', 'foreach', 'id']],
    [['bisect', 'run', 'sh', '-c', 'id']],
    [['filter-branch', '--tree-filter', 'id']],
    [['difftool', '-y']],
    [['mergetool']],
    [['maintenance', 'start']],
    [['credential', 'fill']],
    [['hook', 'run', 'pre-commit']],
    [['for-each-repo', '--config=x', 'gc']],
    [['send-email', 'x.patch']],
    [['daemon']],
    // Red-team pass 87: git writing its own metadata, and git running an agent-written file by path.
    [['checkout-index', '-f', '--prefix=.git/', 'config']],
    [['checkout-index', '-f', '--prefix=x/', 'config']],
    [['checkout-index', '--pre', 'x/', 'config']],
    [['archive', '--format=tar', '-o', '.git/config', 'HEAD']],
    [['archive', '--format=tar', '-o', 'out.tar', 'HEAD']],
    [['archive', '-9o', 'out.tar', 'HEAD']],
    [['merge-file', '.git/config', 'base', 'other']],
    [['merge-file', 'a', 'b', 'c']],
    [['update-index', '--add', '--cacheinfo', '100644,abc,.git/config']],
    [['add', '.GIT/hooks/x']],
    [['add', 'a/.git./x']],
    [['show', 'HEAD:.git/config']],
    [['format-patch', '-o', 'x/.git/hooks', 'HEAD~1']],
    [['/pay']],
    [['--no-pager', './pay']],
    [['Status']],
    [['submodule--helper', 'foreach', 'id']],
    [['bisect--helper', '--bisect-run', 'id']],
    [['difftool--helper']],
    [['merge-index', './pay', '-a']],
    [['cherry-pick', '--strategy=/../pay', 'HEAD']],
    [['cherry-pick', '--strategy', '/../pay', 'HEAD']],
    [['revert', '--strat=/../pay', 'HEAD']],
    [['rebase', '-s/../pay', 'HEAD']],
    [['pull', '-qs', '../pay', 'origin']],
    [['format-patch', '-o.git/hooks', 'HEAD~1']],
    [['mailsplit', '-bo.GIT', 'mbox']],
    [['fast-import', '--quiet']],
    [['fast-import', '--allow-unsafe-features']],
    [['lfs', 'status']],
    [['help', '-w', 'log']],
    [['merge-file', '-p', 'a', 'b', 'c']],
    [['merge-file', '-Lp', '-L', 'b', '-L', 'c', 'x', 'y', 'z']],
    [['symbolic-ref', 'refs/heads/../../rebase-merge/strategy', 'refs/heads/x']],
    [['init', '/elsewhere']],
    [['worktree', 'add', '../wt']],
    [['format-patch', '-1', '-o', '/tmp/x']],
    [['format-patch', '-1', '--output-directory=/tmp/x']],
    [['mailsplit', '-o/tmp']],
    // Glued to a short option, a value cannot be told from more option letters: `-ox/y` reads as `-ox` + `/y`.
    [['format-patch', '-ox/y', 'HEAD~1']],
    [['read-tree', '--index-output=/tmp/idx', 'HEAD']],
    [['bundle', 'create', '/tmp/b.bundle', 'HEAD']],
    [['verify-commit', 'HEAD']],
    [['subtree', 'split', '--prefix=x', 'HEAD']],
    [['bisect', 'view', 'git-/pay']],
    [['bisect', 'visualize', 'filter-branch', '-f']],
    [['status', '--recurse-submodules']],
    [['fetch', '--recurse=yes']],
    [['diff', '--submodule=diff']],
    [['status', '--ignore-submodules=none']],
  ])('refuses %j with E_CAP_DENIED', (args) => {
    expect(refusal(args)).toBe('E_CAP_DENIED');
  });

  it('names the rule, not the argument text', () => {
    expect(() => checkGitCommand('git', ['--namespace=SECRET', 'status'])).toThrow(
      'proc.exec: "git" args[0] is a global option agents may not give git before its subcommand',
    );
    expect(() => checkGitCommand('git', ['config', 'x'])).toThrow('proc.exec: "git" subcommand "config" is refused');
    expect(() => checkGitCommand('git', ['bisect', 'run', 'x'])).toThrow('"bisect run" is refused');
    expect(() => checkGitCommand('git', ['add', 'SECRET/.git/x'])).toThrow(
      'proc.exec: "git" args[1] names git metadata (a .git path)',
    );
    expect(() => checkGitCommand('git', ['/SECRET'])).toThrow('args[0] is not a git command agents may run');
  });
});

describe('hasGitComponent', () => {
  it.each([
    ['.git', true],
    ['a/.GiT/b', true],
    ['--prefix=.git/', true],
    ['100644,sha,.git/config', true],
    ['HEAD:.git', true],
    [':(top).git', true],
    ['a\\.git\\b', true],
    ['.git. ', true],
    ['.gitignore', false],
    ['repo.git', false],
    ['fix .git handling', false],
    ['..git', false],
    ['-o.git/x', true],
    ['-qo.git', true],
    ['-m.gitignore', false],
  ])('%j -> %s', (arg, expected) => {
    expect(hasGitComponent(arg)).toBe(expected);
  });
});

describe('isInertGitKey', () => {
  it.each([
    'core.repositoryformatversion',
    'core.bare',
    'extensions.objectformat',
    'user.email',
    'branch.main.merge',
    'branch.feature/x.y.remote',
    'remote.origin.url',
    'remote.Or.ig.fetch',
  ])('allows %s', (key) => {
    expect(isInertGitKey(key)).toBe(true);
  });

  it.each([
    'alias.x',
    'include.path',
    'includeif.gitdir:/x.path',
    'core.fsmonitor',
    'core.hookspath',
    'core.worktree',
    'core.pager',
    'core.editor',
    'core.sshcommand',
    'core.gitproxy',
    'diff.external',
    'diff.x.command',
    'diff.x.textconv',
    'filter.lfs.clean',
    'merge.x.driver',
    'credential.helper',
    'remote.origin.uploadpack',
    'remote.origin.receivepack',
    'remote.origin.vcs',
    'url.x.insteadof',
    'submodule.x.url',
    'branch.main.x',
    'user',
    '.x',
    'core.',
    'branch..remote.x',
  ])('refuses %s', (key) => {
    expect(isInertGitKey(key)).toBe(false);
  });
});

describe('checkGitRepository', () => {
  async function repository(config: string): Promise<{ dir: string; check: () => Promise<string | undefined> }> {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-gitcfg-')));
    spawnSync('/usr/bin/git', ['init', '-q', join(dir, 'w')], { env: gitEnvironment({ PATH: '/usr/bin:/bin' }) });
    await appendFile(join(dir, 'w', '.git', 'config'), config);
    const check = async () => {
      try {
        await checkGitRepository('/usr/bin/git', join(dir, 'w'), gitEnvironment({ PATH: '/usr/bin:/bin' }));
        return undefined;
      } catch (error) {
        return `${(error as { code: string }).code} ${(error as Error).message}`;
      }
    };
    return { dir, check };
  }

  it('passes a repository as git init and clone leave it, and a directory outside any repository', async () => {
    const { dir, check } = await repository(
      '[remote "origin"]\n\turl = https://example.com/x.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n' +
        '[branch "main"]\n\tremote = origin\n\tmerge = refs/heads/main\n',
    );
    try {
      expect(await check()).toBeUndefined();
      await expect(checkGitRepository('/usr/bin/git', dir, gitEnvironment({ PATH: '/usr/bin:/bin' }))).resolves.toBe(
        undefined,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['[alias]\n\tx = !id\n', 'section "alias"'],
    ['[include]\n\tpath = /SECRET/x\n', 'section "include"'],
    ['[core]\n\tfsmonitor = id\n', 'section "core"'],
    ['[diff]\n\texternal\n', 'section "diff"'],
    ['[filter "SECRET"]\n\tclean = id\n', 'section "filter"'],
  ])('refuses %j naming only the section', async (config, section) => {
    const { dir, check } = await repository(config);
    try {
      const refusal = await check();
      expect(refusal).toContain('E_CAP_DENIED');
      expect(refusal).toContain(section);
      expect(refusal).not.toMatch(/SECRET|id|\//);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unparseable configuration (fails closed)', async () => {
    const { dir, check } = await repository('[alias\n');
    try {
      expect(await check()).toMatch(/^E_CAP_DENIED .*could not list/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads config.worktree when the repository enables it', async () => {
    const { dir, check } = await repository('[extensions]\n\tworktreeConfig = true\n');
    try {
      expect(await check()).toBeUndefined();
      await appendFile(join(dir, 'w', '.git', 'config.worktree'), '[alias]\n\tx = !id\n');
      expect(await check()).toContain('section "alias"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('createGitGate', () => {
  it('runs one at a time, in order, and a failure does not block the next', async () => {
    const gate = createGitGate();
    const events: string[] = [];
    const step = (name: string, fail = false, root = '/r') =>
      gate(root, async () => {
        events.push(`start ${name}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        events.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([step('a'), step('b', true), step('c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    // Runs under another root do not wait.
    events.length = 0;
    await Promise.all([step('x', false, '/r1'), step('y', false, '/r2')]);
    expect(events).toEqual(['start x', 'start y', 'end x', 'end y']);
  });
});

describe('gitEnvironment', () => {
  it('drops the host GIT_* variables except identity, and askpass helpers; pins config and environment', () => {
    const base: NodeJS.ProcessEnv = Object.assign(Object.create(null), {
      PATH: '/usr/bin:/bin',
      HOME: '/home/x',
      GIT_DIR: '/elsewhere',
      GIT_CONFIG_PARAMETERS: "'core.pager'='id'",
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'core.fsmonitor',
      GIT_CONFIG_VALUE_0: 'id',
      GIT_EXTERNAL_DIFF: 'id',
      GIT_SSH_COMMAND: 'id',
      GIT_ASKPASS: 'id',
      SSH_ASKPASS: 'id',
      GIT_AUTHOR_NAME: 'Ada',
      GIT_COMMITTER_EMAIL: 'ada@example.com',
      EDITOR: 'id',
      NODE_V8_COVERAGE: undefined,
    });
    const env = gitEnvironment(base);
    expect(Object.getPrototypeOf(env)).toBeNull();
    for (const name of [
      'GIT_DIR',
      'GIT_CONFIG_PARAMETERS',
      'GIT_EXTERNAL_DIFF',
      'GIT_SSH_COMMAND',
      'GIT_ASKPASS',
      'SSH_ASKPASS',
    ]) {
      expect(env[name], name).toBeUndefined();
    }
    expect(env).toMatchObject({ PATH: '/usr/bin:/bin', HOME: '/home/x', GIT_AUTHOR_NAME: 'Ada' });
    expect(env['GIT_COMMITTER_EMAIL']).toBe('ada@example.com');
    expect(env).toMatchObject(GIT_PINNED_ENV);
    expect(Object.hasOwn(env, 'NODE_V8_COVERAGE')).toBe(true);
    expect(env['GIT_CONFIG_COUNT']).toBe(String(GIT_PINNED_CONFIG.length));
    const pinned = GIT_PINNED_CONFIG.map((_, i) => [env[`GIT_CONFIG_KEY_${i}`], env[`GIT_CONFIG_VALUE_${i}`]]);
    expect(pinned).toEqual(GIT_PINNED_CONFIG.map(([key, value]) => [key, value]));
    expect(Object.fromEntries(pinned)).toMatchObject({
      'safe.bareRepository': 'explicit',
      'protocol.file.allow': 'never',
      'core.fsmonitor': 'false',
      'core.hooksPath': '/dev/null',
      'credential.helper': '',
      'core.symlinks': 'false',
      'gc.auto': '0',
      'gc.autoDetach': 'false',
      'diff.ignoreSubmodules': 'all',
      'core.sshCommand': 'ssh -F /dev/null',
    });
  });

  it("makes the call's private directory the home of git and what it starts, over the host's (review 123)", () => {
    const base: NodeJS.ProcessEnv = Object.assign(Object.create(null), {
      HOME: '/root/in/a/root',
      XDG_CONFIG_HOME: '/root/in/a/root/.config',
      GNUPGHOME: '/root/in/a/root/.gnupg',
    });
    expect(gitEnvironment(base, undefined, '/tmp/isokernel-proc-x')).toMatchObject({
      HOME: '/tmp/isokernel-proc-x',
      XDG_CONFIG_HOME: '/tmp/isokernel-proc-x',
      GNUPGHOME: '/tmp/isokernel-proc-x',
    });
    expect(gitEnvironment(base)['GNUPGHOME']).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { checkGitCommand, GIT_PINNED_CONFIG, GIT_PINNED_ENV, gitEnvironment } from '../../tools/proc-git.js';

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
  ])('refuses %j with E_CAP_DENIED', (args) => {
    expect(refusal(args)).toBe('E_CAP_DENIED');
  });

  it('names the rule, not the argument text', () => {
    expect(() => checkGitCommand('git', ['--namespace=SECRET', 'status'])).toThrow(
      'proc.exec: "git" args[0] is a global option agents may not give git before its subcommand',
    );
    expect(() => checkGitCommand('git', ['config', 'x'])).toThrow('proc.exec: "git" subcommand "config" is refused');
    expect(() => checkGitCommand('git', ['bisect', 'run', 'x'])).toThrow('"bisect run" is refused');
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
    });
  });
});

/**
 * Attack: an agent that may run `git` (or any allowed program) smuggles a shell, a config override or an
 * option that runs a command through the arguments. Regressions for flaws verified in the reference projects:
 * `git -c alias.x='!cmd' x`, `--upload-pack=cmd` (and git's accepted abbreviations), and programs named by path.
 * Each payload would touch a marker file if it ran; the marker must never appear.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Tool } from '../../runtime/tool-use/tool-contract.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createProcTool, type ProcResult } from '../../tools/proc.js';
import { testToolContext } from '../helpers/tool-context.js';

async function call(tool: Tool, args: unknown): Promise<ProcResult> {
  const use = prepareToolUse(tool, args);
  return (await runToolUse(use, testToolContext())) as ProcResult;
}

let base: string;
let root: string;
let repo: string;
let marker: string;
let tool: Tool;
let allowlisted: Tool;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-arginj-')));
  root = join(base, 'root');
  repo = join(root, 'repo');
  await mkdir(repo, { recursive: true });
  marker = join(base, 'pwned');
  expect(spawnSync('/usr/bin/git', ['init', '-q'], { cwd: repo }).status).toBe(0);
  // No `forbid` configured for git: the GIT_FORBIDDEN_FLAGS floor must hold on its own.
  tool = createProcTool({
    programs: { git: { path: '/usr/bin/git' }, echo: { path: '/bin/echo' }, printf: { path: '/usr/bin/printf' } },
    roots: [root],
  });
  allowlisted = createProcTool({
    programs: {
      git: { path: '/usr/bin/git', args: [['status', 'log', 'diff']], rest: ['*', '--oneline', '--stat', '-n*'] },
      printf: { path: '/usr/bin/printf', args: ['%s'], rest: '*' },
    },
    roots: [root],
  });
});

beforeEach(async () => {
  await rm(marker, { force: true });
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('git option injection', () => {
  it('control: the payload is real when git runs it unchecked', () => {
    spawnSync('/usr/bin/git', ['-c', `alias.x=!touch ${marker}`, 'x'], { cwd: repo, env: { PATH: '/usr/bin:/bin' } });
    expect(existsSync(marker)).toBe(true);
  });

  const touch = () => `touch ${marker}`;
  it.each([
    ['-c alias', () => ['-c', `alias.x=!${touch()}`, 'x'], '-c'],
    ['-c joined', () => [`-calias.x=!${touch()}`, 'x'], '-c'],
    ['-c in a bundle', () => ['-pc', `alias.x=!${touch()}`, 'x'], '-c'],
    ['--config', () => ['clone', '--config', `core.sshCommand=${touch()}`, '.', 'dst'], '--config'],
    ['--config=', () => ['clone', `--config=alias.x=!${touch()}`, '.', 'dst'], '--config'],
    ['--config-env', () => ['--config-env=alias.x=HOME', 'x'], '--config-env'],
    ['--upload-pack=', () => ['fetch', `--upload-pack=${touch()}`, '.'], '--upload-pack'],
    ['--upload-pack value', () => ['fetch', '--upload-pack', touch(), '.'], '--upload-pack'],
    ['--upload-pa= abbreviation', () => ['fetch', `--upload-pa=${touch()}`, '.'], '--upload-pack'],
    ['--upl abbreviation', () => ['ls-remote', `--upl=${touch()}`, '.'], '--upload-pack'],
    ['clone -u', () => ['clone', '-u', touch(), '.', 'dst'], '-u'],
    ['clone -u joined', () => ['clone', '-u/bin/false', '.', 'dst'], '-u'],
    ['--receive-pack', () => ['push', `--receive-pack=${touch()}`, '.'], '--receive-pack'],
    ['--exec', () => ['ls-remote', `--exec=${touch()}`, '.'], '--exec'],
    ['--exec-path=', () => ['--exec-path=/tmp', 'status'], '--exec-path'],
    ['--exec-path', () => ['--exec-path'], '--exec-path'],
    ['difftool -x', () => ['difftool', '-x', touch(), 'HEAD'], '-x'],
    ['--extcmd', () => ['difftool', `--extcmd=${touch()}`], '--extcmd'],
    ['grep -O', () => ['grep', '-Osh', 'x'], '-O'],
    ['--open-files-in-pager', () => ['grep', `--open-files-in-pager=${touch()}`, 'x'], '--open-files-in-pager'],
    ['--template', () => ['init', `--template=${base}`], '--template'],
    ['-C leaves the cwd', () => ['-C', '/', 'status'], '-C'],
    ['--git-dir', () => ['--git-dir=/', 'status'], '--git-dir'],
    ['--work-tree', () => ['--work-tree=/', 'status'], '--work-tree'],
    ['--output writes anywhere', () => ['diff', `--output=${marker}`], '--output'],
    ['a flag after --', () => ['log', '--', '-c'], '-c'],
  ])('refuses %s with E_CAP_DENIED naming the position and flag', async (_name, args, flag) => {
    const argv = args();
    const error = await call(tool, { program: 'git', args: argv, cwd: repo }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_CAP_DENIED' });
    expect((error as Error).message).toMatch(new RegExp(`args\\[\\d+\\] is the forbidden flag "${flag}"`));
    expect((error as Error).message).not.toContain(base);
    expect(existsSync(marker)).toBe(false);
  });

  it('lets ordinary git use through', async () => {
    const result = await call(tool, { program: 'git', args: ['status', '--porcelain'], cwd: repo });
    expect(result.exit_code).toBe(0);
  });
});

describe('positional allowlist', () => {
  it('allows only listed subcommands and options, whatever the glob', async () => {
    expect((await call(allowlisted, { program: 'git', args: ['status'], cwd: repo })).exit_code).toBe(0);
    expect((await call(allowlisted, { program: 'git', args: ['log', '-n1', 'HEAD'], cwd: repo })).exit_code).not.toBe(
      undefined,
    );
    for (const args of [
      ['config', 'alias.x', `!touch ${marker}`],
      ['submodule', 'foreach', `touch ${marker}`],
      ['log', '--format=%H'],
      ['log', '--output=x'],
      ['diff', '--ext-diff'],
    ]) {
      await expect(call(allowlisted, { program: 'git', args, cwd: repo })).rejects.toMatchObject({
        code: 'E_CAP_DENIED',
      });
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('never lets `*` admit an option', async () => {
    await expect(call(allowlisted, { program: 'printf', args: ['%s', '--help'] })).rejects.toMatchObject({
      code: 'E_CAP_DENIED',
      message: 'proc.exec: "printf" args[1] is not allowed by its argument rules',
    });
    expect((await call(allowlisted, { program: 'printf', args: ['%s', 'a-b'] })).stdout).toBe('a-b');
  });
});

describe('shell metacharacters', () => {
  it.each(['$(touch MARK)', '`touch MARK`', '; touch MARK', '| touch MARK', '&& touch MARK', '> MARK', '\ntouch MARK'])(
    'passes %j to the program as text',
    async (payload) => {
      const arg = payload.replaceAll('MARK', marker);
      const result = await call(tool, { program: 'echo', args: [arg] });
      expect(result.stdout).toBe(`${arg}\n`);
      expect(existsSync(marker)).toBe(false);
      expect(await readdir(root)).toEqual(['repo']);
    },
  );
});

describe('program named by path or trickery', () => {
  it.each(['/bin/sh', '/usr/bin/git', '../git', './git', 'git/..', 'git;id', 'git status', 'GIT', 'sh\0', ''])(
    'refuses program %j with E_BAD_ARG',
    async (program) => {
      await expect(call(tool, { program })).rejects.toMatchObject({ code: 'E_BAD_ARG' });
    },
  );

  it.each(['sh', 'bash', 'constructor', 'tostring', 'valueof'])(
    'refuses unconfigured %j with E_CAP_DENIED',
    async (p) => {
      await expect(call(tool, { program: p })).rejects.toMatchObject({ code: 'E_CAP_DENIED' });
    },
  );

  it('refuses a path in run() even without the schema in front', async () => {
    for (const program of ['/bin/sh', '../git', '__proto__']) {
      await expect(Promise.resolve(tool.run({ program }, testToolContext()))).rejects.toMatchObject({
        code: 'E_CAP_DENIED',
      });
    }
  });
});

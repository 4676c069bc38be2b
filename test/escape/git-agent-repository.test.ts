/**
 * Attack: make a kernel-run git execute a command chosen by the agent, through repository files the agent
 * wrote. Reported (red team, issue 12 item 12): with only fs.write on out/** and `git status` allowed, an
 * agent writes a bare repository layout (HEAD, config with core.fsmonitor, objects/, refs/) under out/ and
 * runs `git status` there; git discovers it and runs the command as the host user. No `.git` path is
 * involved. Variants: a `.git` directory or gitfile written through fs; and, with git granted by name as
 * agent_os_kernel's policies do (any arguments), repository config written by git itself (`git config`), a
 * bare repository named explicitly (`--bare`), one entered as a remote by a local transport (`git push
 * ../evil`, whose config git reads in a child that drops command-line config), and a gitdir placed by
 * `--separate-git-dir`. A real git, a real temp dir; every payload would create a file named `pwned-*`, and
 * none may exist afterwards.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel, loadPolicy } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

let base: string;
let out: string;
let kernel: Kernel | undefined;

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-gitrepo-')));
  out = join(base, 'out');
  await mkdir(out);
});

afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  await rm(base, { recursive: true, force: true });
});

/** Every file under `dir` whose name starts with `pwned`. */
function markers(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((path) => /(^|\/)pwned/.test(path));
}

/** The bare layout of the report: what fs.write needs to create for git to discover a repository. */
const bareLayout = (dir: string, config: string) => `
  await sys.tool('fs.write', { path: '${dir}/HEAD', content: 'ref: refs/heads/main\\n', mkdirs: true });
  await sys.tool('fs.write', { path: '${dir}/config', content: ${JSON.stringify(config)} });
  await sys.tool('fs.write', { path: '${dir}/objects/info/keep', content: '', mkdirs: true });
  await sys.tool('fs.write', { path: '${dir}/refs/heads/keep', content: '', mkdirs: true });`;

const fsmonitorConfig = (marker: string) =>
  `[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = ..\n\tfsmonitor = "touch ${marker}; false"\n`;

describe('git status in an agent-written bare repository (the report)', () => {
  it('control: the payload is real when git runs without the kernel', async () => {
    const evil = join(out, 'evil');
    await mkdir(join(evil, 'objects'), { recursive: true });
    await mkdir(join(evil, 'refs'), { recursive: true });
    await writeFile(join(evil, 'HEAD'), 'ref: refs/heads/main\n');
    await writeFile(join(evil, 'config'), fsmonitorConfig(join(base, 'pwned-control')));
    spawnSync('/usr/bin/git', ['status'], { cwd: evil, env: { PATH: '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1' } });
    expect(markers(base)).toEqual(['pwned-control']);
  });

  it('fs.write on out/** and `git status` only: git never runs the agent config', async () => {
    kernel = testKernel({
      tools: [
        ...createFsTools({ roots: [base] }),
        createProcTool({ programs: { git: { path: '/usr/bin/git', args: ['status'] } }, roots: [base] }),
      ],
      policy: {
        capabilities: [
          { action: 'fs.write', resource: `${out}/**` },
          { action: 'proc.exec', resource: 'git' },
        ],
      },
    });
    const result = await kernel.run({
      code: `export default async (marker) => {
        ${bareLayout('out/evil', fsmonitorConfig('MARKER'))}
        const status = await sys.tool('proc.exec', { program: 'git', args: ['status'], cwd: 'out/evil' });
        return { exit: status.exit_code, stderr: status.stderr };
      }`.replace('MARKER', join(base, 'pwned-fsmonitor')),
    });
    expect(result).toMatchObject({ ok: true, value: { exit: 128 } });
    expect((result as { value: { stderr: string } }).value.stderr).toMatch(/safe\.bareRepository/);
    expect(markers(base)).toEqual([]);
  });
});

describe('git metadata written through fs', () => {
  function fsAndGit(): Kernel {
    kernel = testKernel({
      tools: [
        ...createFsTools({ roots: [base] }),
        createProcTool({ programs: { git: { path: '/usr/bin/git', args: ['status'] } }, roots: [base] }),
      ],
      policy: {
        capabilities: [
          { action: 'fs.write', resource: `${out}/**` },
          { action: 'fs.delete', resource: `${out}/**` },
          { action: 'proc.exec', resource: 'git' },
        ],
      },
    });
    return kernel;
  }

  it.each([
    ['a .git directory', 'out/repo/.git/config'],
    ['a .git directory made by mkdirs', 'out/repo/.git/hooks/pre-commit'],
    ['a gitfile', 'out/repo/.git'],
    ['a .GIT spelling (case-insensitive file systems)', 'out/repo/.GIT/config'],
    ['a nested .git', 'out/a/b/.git/info/attributes'],
  ])('refuses %s with E_CAP_DENIED and writes nothing', async (_name, path) => {
    const k = fsAndGit();
    const result = await k.run({
      code: `export default async (path) => {
        try { await sys.tool('fs.write', { path, content: 'gitdir: ../evil\\n', mkdirs: true }); return 'written'; }
        catch (e) { return [e.code, e.message]; }
      }`,
      input: path,
    });
    expect(result).toMatchObject({ ok: true, value: ['E_CAP_DENIED', expect.stringMatching(/git metadata/)] });
    expect(readdirSync(out)).toEqual([]);
  });

  it('refuses deleting git metadata too', async () => {
    spawnSync('/usr/bin/git', ['init', '-q', join(out, 'repo')]);
    const k = fsAndGit();
    const result = await k.run({
      code: `export default async () => {
        try { await sys.tool('fs.delete', { path: 'out/repo/.git/HEAD' }); return 'deleted'; }
        catch (e) { return e.code; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_CAP_DENIED' });
  });
});

describe("git granted by name, any arguments (agent_os_kernel's `proc.exec git`)", () => {
  function seeded(): Kernel {
    const policy = loadPolicy({
      capabilities: [
        { action: 'fs.write', resource: `${out}/**` },
        { action: 'proc.exec', resource: 'git' },
      ],
    });
    kernel = testKernel({
      tools: [
        ...createFsTools({ roots: [base] }),
        createProcTool({ programs: {}, roots: [base], policy, searchPath: '/usr/bin:/bin' }),
      ],
      policy,
    });
    return kernel;
  }

  /** Runs `calls` ([args, cwd] pairs) in order and returns each outcome: exit code or error code. */
  async function git(calls: [string[], string][], setup = ''): Promise<unknown[]> {
    const k = seeded();
    const result = await k.run({
      code: `export default async (calls) => {
        ${setup}
        const outcomes = [];
        for (const [args, cwd] of calls) {
          try { outcomes.push((await sys.tool('proc.exec', { program: 'git', args, cwd })).exit_code); }
          catch (e) { outcomes.push(e.code); }
        }
        return outcomes;
      }`,
      input: calls,
    });
    if (!result.ok) throw new Error(`agent failed: ${result.error.code} ${result.error.message}`);
    return result.value as unknown[];
  }

  it('`git config` cannot plant an alias, a filter or an fsmonitor (the subcommand is refused)', async () => {
    const marker = join(base, 'pwned-config');
    const outcomes = await git(
      [
        [['init', '-q', 'w'], 'out'],
        [['config', 'alias.x', `!touch ${marker}`], 'out/w'],
        [['config', 'core.fsmonitor', `touch ${marker}; false`], 'out/w'],
        [['--no-pager', 'config', 'filter.x.clean', `touch ${marker}`], 'out/w'],
        [['--namespace', 'n', 'config', 'alias.y', `!touch ${marker}`], 'out/w'],
        [['x'], 'out/w'],
        [['status'], 'out/w'],
      ],
      `await sys.tool('fs.write', { path: 'out/w/.gitattributes', content: '* filter=x\\n', mkdirs: true });`,
    );
    expect(outcomes.slice(0, 5)).toEqual([0, 'E_CAP_DENIED', 'E_CAP_DENIED', 'E_CAP_DENIED', 'E_CAP_DENIED']);
    expect(markers(base)).toEqual([]);
  });

  it('`git --bare` cannot name an agent-written bare repository explicitly', async () => {
    const marker = join(base, 'pwned-bare');
    const config = `[core]\n\tbare = true\n[alias]\n\tx = !touch ${marker}\n`;
    const outcomes = await git(
      [
        [['--bare', 'x'], 'out/evil'],
        [['x'], 'out/evil'],
      ],
      bareLayout('out/evil', config),
    );
    expect(outcomes[0]).toBe('E_CAP_DENIED');
    expect(markers(base)).toEqual([]);
  });

  it('a local transport cannot enter an agent-written bare repository (its config would run in the remote side)', async () => {
    const marker = join(base, 'pwned-alternates');
    // The host's own repositories: one with a commit to push, one the evil repository borrows objects from.
    const identity = {
      GIT_AUTHOR_NAME: 'a',
      GIT_AUTHOR_EMAIL: 'a@b',
      GIT_COMMITTER_NAME: 'a',
      GIT_COMMITTER_EMAIL: 'a@b',
    };
    spawnSync('/usr/bin/git', ['init', '-q', '--bare', join(out, 'other')]);
    spawnSync('/usr/bin/git', ['init', '-q', join(out, 'w')]);
    spawnSync('/usr/bin/git', ['commit', '-q', '--allow-empty', '-m', 'x'], {
      cwd: join(out, 'w'),
      env: { ...identity, PATH: '/usr/bin:/bin' },
    });
    const config = `[core]\n\tbare = true\n\talternateRefsCommand = "touch ${marker}; true"\n`;
    const alternates = `${join(out, 'other', 'objects')}\n`;
    const outcomes = await git(
      [
        [['push', '../evil', 'HEAD:refs/heads/main'], 'out/w'],
        [['push', `file://${join(out, 'evil')}`, 'HEAD:refs/heads/x'], 'out/w'],
        [['ls-remote', '../evil'], 'out/w'],
        [['fetch', '../evil'], 'out/w'],
        [['clone', '-q', 'evil', 'copy'], 'out'],
      ],
      `${bareLayout('out/evil', config)}
       await sys.tool('fs.write', { path: 'out/evil/objects/info/alternates', content: ${JSON.stringify(alternates)} });`,
    );
    // A path with `..` is refused before git starts (review 91); the rest git refuses itself.
    expect(outcomes).toEqual(['E_CAP_DENIED', 128, 'E_CAP_DENIED', 'E_CAP_DENIED', 128]);
    expect(markers(base)).toEqual([]);
  });

  it('`--separate-git-dir` cannot adopt an agent-written directory as a gitdir', async () => {
    const marker = join(base, 'pwned-separate');
    const config = `[core]\n\tbare = false\n[alias]\n\tx = !touch ${marker}\n`;
    const outcomes = await git(
      [
        [['init', '-q', '--separate-git-dir=evil', 'w'], 'out'],
        [['init', '-q', '--separate-git-dir', 'evil', 'w'], 'out'],
        [['x'], 'out/w'],
      ],
      bareLayout('out/evil', config),
    );
    expect(outcomes.slice(0, 2)).toEqual(['E_CAP_DENIED', 'E_CAP_DENIED']);
    expect(markers(base)).toEqual([]);
  });
});

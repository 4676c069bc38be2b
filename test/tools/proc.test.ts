import { readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, realpath, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../../index.js';
import type { Tool } from '../../runtime/tool-use/tool-contract.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createProcTool, type ProcOptions, type ProcResult, procConfigSchema } from '../../tools/proc.js';
import {
  checkArguments,
  compileArgRules,
  forbiddenFlag,
  GIT_FORBIDDEN_FLAGS,
  matchArgPattern,
} from '../../tools/proc-args.js';
import { type TestToolContext, testToolContext } from '../helpers/tool-context.js';

/** Calls the tool the way the kernel does: schema, resource, then run. */
async function call(tool: Tool, args: unknown, ctx: TestToolContext = testToolContext()): Promise<ProcResult> {
  const use = prepareToolUse(tool, args);
  return (await runToolUse(use, ctx)) as ProcResult;
}

/** Alive and not a zombie: PID 1 here may not reap orphans promptly, and a zombie runs nothing. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitDead(pid: number, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isAlive(pid);
}

let base: string;
let root: string;
let root2: string;
let outside: string;
let programs: ProcOptions['programs'];
let tool: Tool;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-proc-')));
  root = join(base, 'root');
  root2 = join(base, 'root2');
  outside = join(base, 'outside');
  await mkdir(join(root, 'sub', 'deeper'), { recursive: true });
  await mkdir(root2);
  await mkdir(outside);
  await writeFile(join(root, 'file.txt'), 'x');
  await symlink(outside, join(root, 'link-out'));
  await symlink(join(root, 'sub'), join(root, 'link-in'));
  programs = {
    sh: { path: '/bin/sh' },
    printf: { path: '/usr/bin/printf' },
    cat: { path: '/bin/cat' },
    head: { path: '/usr/bin/head' },
    pwd: { path: '/bin/pwd' },
    yes: { path: '/usr/bin/yes' },
    git: { path: '/usr/bin/git' },
    true: { path: '/bin/true', max_args: 2 },
  };
  tool = createProcTool({ programs, roots: [root, root2], timeout_ms: 10_000, max_output_bytes: 1000 });
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('proc.exec results', () => {
  it('is the proc.exec tool whose resource is the program name', () => {
    expect(tool.name).toBe('proc.exec');
    expect(tool.target).toBe('program');
    expect(prepareToolUse(tool, { program: 'git', args: ['status'] }).resource).toBe('git');
    expect(prepareToolUse(tool, { program: 'nope' }).resource).toBe('nope');
  });

  it('returns stdout, stderr and a non-zero exit code as a normal result', async () => {
    const result = await call(tool, { program: 'sh', args: ['-c', 'echo out; echo err >&2; exit 3'] });
    expect(result).toMatchObject({ exit_code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });
    expect(result).toMatchObject({ timed_out: false, truncated: false });
    expect(result.duration_ms).toBeGreaterThanOrEqual(0);
    expect(await call(tool, { program: 'true' })).toMatchObject({ exit_code: 0, stdout: '', stderr: '' });
  });

  it('passes arguments verbatim: quotes, spaces and shell syntax are not interpreted', async () => {
    const args = ['a b', '"double"', "'single'", '$(id)', '`id`', '; id', '| cat', '&& id', '*', '~', '$HOME', 'é 😀'];
    const result = await call(tool, { program: 'printf', args: ['[%s]\n', ...args] });
    expect(result.stdout).toBe(args.map((a) => `[${a}]\n`).join(''));
    expect(result.exit_code).toBe(0);
  });

  it('passes stdin, and gives /dev/null when there is none', async () => {
    expect((await call(tool, { program: 'cat', stdin: 'hello\nwörld' })).stdout).toBe('hello\nwörld');
    expect(await call(tool, { program: 'cat' })).toMatchObject({ exit_code: 0, stdout: '' });
  });

  it('ignores a program that does not read its stdin', async () => {
    const result = await call(tool, { program: 'true', stdin: 'x'.repeat(200_000) }, testToolContext());
    expect(result.exit_code).toBe(0);
  });

  it('reports a terminating signal with a null exit code', async () => {
    const result = await call(tool, { program: 'sh', args: ['-c', 'kill -TERM $$'] });
    expect(result).toMatchObject({ exit_code: null, signal: 'SIGTERM', timed_out: false });
  });

  it('returns binary output as base64 on request', async () => {
    const result = await call(tool, { program: 'printf', args: ['\\000\\377'], encoding: 'base64' });
    expect(result.stdout).toBe('AP8=');
  });

  it('refuses a program the config does not list, including prototype names', async () => {
    for (const program of ['python', 'constructor', 'tostring', 'hasownproperty']) {
      await expect(call(tool, { program })).rejects.toMatchObject({
        code: 'E_CAP_DENIED',
        message: `proc.exec: "${program}" is not a configured program`,
      });
    }
    // run() does not rely on the schema having run first.
    await expect(Promise.resolve(tool.run({ program: '/bin/sh' }, testToolContext()))).rejects.toMatchObject({
      code: 'E_CAP_DENIED',
      message: 'proc.exec: the program is not a configured program',
    });
  });

  it.each([
    ['a path as program', { program: '/bin/sh' }],
    ['a relative path', { program: '../sh' }],
    ['upper case', { program: 'SH' }],
    ['a command line', { program: 'sh -c id' }],
    ['an empty name', { program: '' }],
    ['NUL in an argument', { program: 'printf', args: ['a\0b'] }],
    ['too many arguments', { program: 'printf', args: Array.from({ length: 129 }, () => 'x') }],
    ['an over-long argument', { program: 'printf', args: ['x'.repeat(4097)] }],
    ['an empty cwd', { program: 'pwd', cwd: '' }],
    ['NUL in cwd', { program: 'pwd', cwd: 'sub\0' }],
    ['a timeout over the configured maximum', { program: 'true', timeout_ms: 10_001 }],
    ['a fractional timeout', { program: 'true', timeout_ms: 1.5 }],
    ['an unknown key', { program: 'true', env: { A: '1' } }],
    ['an unknown encoding', { program: 'true', encoding: 'latin1' }],
  ])('refuses %s with E_BAD_ARG', async (_name, args) => {
    await expect(call(tool, args)).rejects.toMatchObject({ code: 'E_BAD_ARG' });
  });

  it('caps stdin in bytes, not characters', async () => {
    const small = createProcTool({ programs, roots: [root], max_stdin_bytes: 10 });
    expect((await call(small, { program: 'cat', stdin: 'é'.repeat(5) })).stdout).toBe('é'.repeat(5));
    await expect(call(small, { program: 'cat', stdin: 'é'.repeat(6) })).rejects.toMatchObject({ code: 'E_BAD_ARG' });
  });

  it("enforces a program's max_args with E_CAP_DENIED", async () => {
    expect((await call(tool, { program: 'true', args: ['a', 'b'] })).exit_code).toBe(0);
    await expect(call(tool, { program: 'true', args: ['a', 'b', 'c'] })).rejects.toMatchObject({
      code: 'E_CAP_DENIED',
      message: 'proc.exec: "true" takes at most 2 arguments',
    });
  });

  it('reports a program that cannot be started as E_TOOL_FAILED without host paths', async () => {
    const binDir = await mkdtemp(join(base, 'bin-'));
    const gone = join(binDir, 'gone');
    await copyFile('/bin/true', gone);
    await chmod(gone, 0o755);
    const fragile = createProcTool({ programs: { gone: { path: gone } }, roots: [root] });
    await unlink(gone);
    const error = await call(fragile, { program: 'gone' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_TOOL_FAILED', message: 'proc.exec: could not start "gone"' });
  });
});

describe('proc.exec timeouts and cancellation', () => {
  it('kills the whole process group on timeout, grandchildren included', async () => {
    const result = await call(tool, {
      program: 'sh',
      args: ['-c', 'sleep 100 & echo $!; sleep 100'],
      timeout_ms: 300,
    });
    expect(result).toMatchObject({ timed_out: true, exit_code: null, signal: 'SIGKILL' });
    expect(result.duration_ms).toBeLessThan(5000);
    const grandchild = Number(result.stdout.trim());
    expect(grandchild).toBeGreaterThan(1);
    expect(await waitDead(grandchild)).toBe(true);
  });

  it('kills background children when the program exits, and returns promptly', async () => {
    const started = Date.now();
    const result = await call(tool, { program: 'sh', args: ['-c', 'sleep 100 & echo $!'] });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result).toMatchObject({ exit_code: 0, timed_out: false });
    expect(await waitDead(Number(result.stdout.trim()))).toBe(true);
  });

  it('kills the group and answers E_KILLED when ctx.signal aborts', async () => {
    const ctx = testToolContext();
    const marker = join(base, 'abort-pid');
    const running = call(tool, { program: 'sh', args: ['-c', `sleep 100 & echo $! > ${marker}; sleep 100`] }, ctx);
    let pid = '';
    for (let i = 0; i < 200 && pid === ''; i++) {
      await new Promise((r) => setTimeout(r, 20));
      pid = await readFile(marker, 'utf8').catch(() => '');
    }
    ctx.abort.abort();
    await expect(running).rejects.toMatchObject({ code: 'E_KILLED' });
    expect(await waitDead(Number(pid.trim()))).toBe(true);
  });

  it('does not start anything when ctx.signal is already aborted', async () => {
    const ctx = testToolContext();
    ctx.abort.abort();
    const marker = join(root, 'should-not-exist');
    await expect(call(tool, { program: 'sh', args: ['-c', `touch ${marker}`] }, ctx)).rejects.toMatchObject({
      code: 'E_KILLED',
    });
    await expect(readFile(marker)).rejects.toThrow();
  });
});

describe('proc.exec output caps', () => {
  it('keeps the first max_output_bytes of stdout and stderr and reports truncated', async () => {
    // 100 kB may all reach the pipe before the kill lands: the exit is a race, the cut is not.
    const out = await call(tool, { program: 'head', args: ['-c', '100000', '/dev/zero'] });
    expect(out).toMatchObject({ timed_out: false, truncated: true });
    expect(out.stdout.length).toBe(1000);
    const err = await call(tool, { program: 'sh', args: ['-c', 'printf abc; head -c 5000 /dev/zero >&2'] });
    expect(err).toMatchObject({ stdout: 'abc', truncated: true });
    expect(err.stderr.length).toBe(1000);
    expect((await call(tool, { program: 'printf', args: ['x'.repeat(1000)] })).truncated).toBe(false);
  });

  it('kills the process group as soon as a stream passes the cap, and returns what was kept', async () => {
    const result = await call(tool, { program: 'head', args: ['-c', String(20 << 20), '/dev/zero'] });
    expect(result).toMatchObject({ exit_code: null, signal: 'SIGKILL', timed_out: false, truncated: true });
    expect(result.stdout.length).toBe(1000);
  });

  it('stops an endless writer at the cap, long before its timeout', async () => {
    const result = await call(tool, { program: 'yes', timeout_ms: 10_000 });
    expect(result).toMatchObject({ timed_out: false, truncated: true, signal: 'SIGKILL' });
    expect(result.stdout).toBe('y\n'.repeat(500));
  });

  it('reaching the cap kills grandchildren that stayed in the group too', async () => {
    const result = await call(tool, { program: 'sh', args: ['-c', 'sleep 30 & echo $!; exec yes'] });
    expect(result).toMatchObject({ truncated: true, timed_out: false });
    const pid = Number(result.stdout.split('\n')[0]);
    expect(await waitDead(pid)).toBe(true);
  });

  it('output exactly at the cap is whole, not truncated, and the program is not killed', async () => {
    const result = await call(tool, { program: 'head', args: ['-c', '1000', '/dev/zero'] });
    expect(result).toMatchObject({ exit_code: 0, signal: null, truncated: false });
    expect(result.stdout.length).toBe(1000);
  });
});

describe('proc.exec cwd', () => {
  it('defaults to the first root and accepts directories inside any root', async () => {
    expect((await call(tool, { program: 'pwd' })).stdout).toBe(`${root}\n`);
    expect((await call(tool, { program: 'pwd', cwd: join(root, 'sub', 'deeper') })).stdout).toBe(
      `${join(root, 'sub', 'deeper')}\n`,
    );
    expect((await call(tool, { program: 'pwd', cwd: `${root}/sub/../sub/./deeper/` })).stdout).toBe(
      `${join(root, 'sub', 'deeper')}\n`,
    );
    expect((await call(tool, { program: 'pwd', cwd: root2 })).stdout).toBe(`${root2}\n`);
  });

  it('resolves a relative cwd against the first root, as the fs tool does', async () => {
    expect((await call(tool, { program: 'pwd', cwd: 'sub/deeper' })).stdout).toBe(`${join(root, 'sub', 'deeper')}\n`);
    await expect(call(tool, { program: 'pwd', cwd: '../outside' })).rejects.toMatchObject({ code: 'E_CAP_DENIED' });
    await expect(call(tool, { program: 'pwd', cwd: 'link-out' })).rejects.toMatchObject({ code: 'E_CAP_DENIED' });
  });

  it('does not hand the pinned directory descriptor to the program', async () => {
    const pinned = createProcTool({ programs: { ls: { path: '/bin/ls' } }, roots: [root] });
    const result = await call(pinned, { program: 'ls', args: ['-l', '/proc/self/fd'], cwd: 'sub' });
    expect(result.exit_code).toBe(0);
    expect(result.stdout).toContain('/proc/');
    expect(result.stdout).not.toContain(`-> ${join(root, 'sub')}`);
  });

  it.each([
    ['outside every root', () => outside],
    ['the filesystem root', () => '/'],
    ['a dot-dot escape', () => `${root}/../outside`],
    ['a sibling with the root as prefix', () => `${root}2-not`],
    ['a symlink leading outside', () => join(root, 'link-out')],
    ['a symlink leading inside', () => join(root, 'link-in')],
    ['a path through a symlink', () => join(root, 'link-in', 'deeper')],
  ])('refuses %s with E_CAP_DENIED and no host path in the message', async (_name, cwd) => {
    const error = await call(tool, { program: 'pwd', cwd: cwd() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_CAP_DENIED' });
    expect((error as Error).message).not.toContain(base);
  });

  it('refuses a file (E_BAD_ARG) and a missing directory (E_NOT_FOUND)', async () => {
    await expect(call(tool, { program: 'pwd', cwd: join(root, 'file.txt') })).rejects.toMatchObject({
      code: 'E_BAD_ARG',
    });
    await expect(call(tool, { program: 'pwd', cwd: join(root, 'missing') })).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
    });
  });

  it('accepts a root configured through a symlink, by either spelling', async () => {
    const alias = join(base, 'root-alias');
    await symlink(root, alias);
    const aliased = createProcTool({ programs: { pwd: { path: '/bin/pwd' } }, roots: [alias] });
    expect((await call(aliased, { program: 'pwd' })).stdout).toBe(`${root}\n`);
    expect((await call(aliased, { program: 'pwd', cwd: join(alias, 'sub') })).stdout).toBe(`${join(root, 'sub')}\n`);
    expect((await call(aliased, { program: 'pwd', cwd: join(root, 'sub') })).stdout).toBe(`${join(root, 'sub')}\n`);
  });
});

describe('proc.exec with git', () => {
  it('runs git status in a real repository', async () => {
    const repo = join(root, 'repo');
    await mkdir(repo);
    expect((await call(tool, { program: 'git', args: ['init', '-q'], cwd: repo })).exit_code).toBe(0);
    await writeFile(join(repo, 'a.txt'), 'hello\n');
    const status = await call(tool, { program: 'git', args: ['status', '--porcelain'], cwd: repo });
    expect(status).toMatchObject({ exit_code: 0, stdout: '?? a.txt\n' });
  });

  it('an ordinary workflow works under the pinned configuration, and git sees the pins', async () => {
    const identity = {
      GIT_AUTHOR_NAME: 'Ada',
      GIT_AUTHOR_EMAIL: 'ada@example.com',
      GIT_COMMITTER_NAME: 'Ada',
      GIT_COMMITTER_EMAIL: 'ada@example.com',
    };
    const saved = Object.fromEntries(Object.keys(identity).map((name) => [name, process.env[name]]));
    Object.assign(process.env, identity);
    try {
      const git = createProcTool({
        programs: { git: { path: '/usr/bin/git' } },
        roots: [root],
        env: Object.keys(identity),
      });
      const repo = join(root, 'workflow');
      await mkdir(repo);
      const run = (args: string[]) => call(git, { program: 'git', args, cwd: repo });
      expect((await run(['init', '-q'])).exit_code).toBe(0);
      await writeFile(join(repo, 'a.txt'), 'one\n');
      expect((await run(['add', 'a.txt'])).exit_code).toBe(0);
      expect(await run(['commit', '-q', '-m', 'first'])).toMatchObject({ exit_code: 0, stderr: '' });
      await writeFile(join(repo, 'a.txt'), 'two\n');
      expect((await run(['diff'])).stdout).toContain('-one\n+two\n');
      expect((await run(['log', '--format=%an %s'])).stdout).toBe('Ada first\n');
      // A commit without -m gets the pinned editor (`true`): an empty message, refused by git, nothing run.
      expect((await run(['commit', '-a'])).exit_code).toBe(1);
      const config = (await run(['var', '-l'])).stdout;
      expect(config).toContain('safe.barerepository=explicit');
      expect(config).toContain('core.hookspath=/dev/null');
      expect(config).toContain('protocol.file.allow=never');
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});

describe('programs the policy names (agent_os_kernel: proc.exec on a bare name)', () => {
  let bin: string;
  beforeAll(async () => {
    bin = await mkdtemp(join(base, 'path-'));
    for (const name of ['tool', 'git']) {
      // The git floor lists the repository configuration first (`git config --list`): answer it with none.
      await writeFile(join(bin, name), `#!/bin/sh\n[ "$1" = config ] && exit 0\necho "${name} $*"\n`);
      await chmod(join(bin, name), 0o755);
    }
  });
  const policy = (...names: string[]) =>
    loadPolicy({ capabilities: names.map((resource) => ({ action: 'proc.exec', resource })) });

  it('runs a granted name found on the PATH at creation, and notes the real path it runs in the audit', async () => {
    const warnings: string[] = [];
    const seeded = createProcTool({
      programs: {},
      roots: [root],
      policy: policy('tool'),
      searchPath: bin,
      onWarning: (m) => warnings.push(m),
    });
    const ctx = testToolContext();
    expect(await call(seeded, { program: 'tool', args: ['x'] }, ctx)).toMatchObject({
      exit_code: 0,
      stdout: 'tool x\n',
    });
    expect(ctx.notes).toEqual([
      { action: 'proc.program', resource: join(bin, 'tool') },
      { action: 'proc.sandbox', resource: 'landlock' },
    ]);
    expect(warnings).toEqual([]);
  });

  it('tools.proc.programs overrides the PATH', async () => {
    const overridden = createProcTool({
      programs: { tool: { path: '/usr/bin/printf', args: ['*'] } },
      roots: [root],
      policy: policy('tool'),
      searchPath: bin,
    });
    const ctx = testToolContext();
    expect((await call(overridden, { program: 'tool', args: ['from-config'] }, ctx)).stdout).toBe('from-config');
    expect(ctx.notes).toEqual([
      { action: 'proc.program', resource: '/usr/bin/printf' },
      { action: 'proc.sandbox', resource: 'landlock' },
    ]);
  });

  it('a granted name found nowhere is a load-time warning and E_NO_TOOL naming it, even if it appears later', async () => {
    const warnings: string[] = [];
    const seeded = createProcTool({
      programs: {},
      roots: [root],
      policy: policy('uv', 'tool'),
      searchPath: bin,
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([expect.stringMatching(/^proc\.exec "uv" is granted by the policy .* E_NO_TOOL/)]);
    await expect(call(seeded, { program: 'uv' })).rejects.toMatchObject({
      code: 'E_NO_TOOL',
      message: 'proc.exec: "uv" was not found on the host when the policy was loaded',
    });
    // Resolved once: a program planted on the PATH afterwards is never picked up.
    await writeFile(join(bin, 'uv'), '#!/bin/sh\necho planted\n');
    await chmod(join(bin, 'uv'), 0o755);
    await expect(call(seeded, { program: 'uv' })).rejects.toMatchObject({ code: 'E_NO_TOOL' });
    await unlink(join(bin, 'uv'));
    // A name neither configured nor granted stays a bare refusal.
    await expect(call(seeded, { program: 'pip' })).rejects.toMatchObject({ code: 'E_CAP_DENIED' });
  });

  it('a program found on the PATH keeps the git floor when it is git', async () => {
    const seeded = createProcTool({ programs: {}, roots: [root], policy: policy('git'), searchPath: bin });
    expect((await call(seeded, { program: 'git', args: ['status'] })).stdout).toBe('git status\n');
    await expect(call(seeded, { program: 'git', args: ['-c', 'core.pager=id', 'log'] })).rejects.toMatchObject({
      code: 'E_CAP_DENIED',
    });
  });

  it('a program found on the PATH inside an fs root is refused (an agent could replace it)', async () => {
    const inRoot = join(root, 'bin');
    await mkdir(inRoot, { recursive: true });
    await writeFile(join(inRoot, 'tool'), '#!/bin/sh\necho planted\n');
    await chmod(join(inRoot, 'tool'), 0o755);
    const warnings: string[] = [];
    const seeded = createProcTool({
      programs: {},
      roots: [root],
      policy: policy('tool'),
      searchPath: `${inRoot}:${bin}`,
      onWarning: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([expect.stringMatching(/inside an fs root/)]);
    await expect(call(seeded, { program: 'tool' })).rejects.toMatchObject({ code: 'E_NO_TOOL' });
    await rm(inRoot, { recursive: true });
  });

  it('throws TypeError for a policy, searchPath or onWarning of the wrong type', () => {
    const bad = [{ policy: 'p.yaml' }, { policy: {} }, { searchPath: 42 }, { onWarning: 'log' }];
    for (const extra of bad) {
      expect(() => createProcTool({ programs: {}, roots: [root], ...extra } as unknown as ProcOptions)).toThrow(
        TypeError,
      );
    }
  });
});

describe('createProcTool options', () => {
  const roots = () => [root];
  it.each([
    ['a relative program path', { programs: { x: { path: 'bin/true' } } }, /programs\.x\.path/],
    ['a non-normalized program path', { programs: { x: { path: '/bin/../bin/true' } } }, /programs\.x\.path/],
    ['a missing program', { programs: { x: { path: '/nonexistent/true' } } }, /programs\.x\.path/],
    ['a directory as program', { programs: { x: { path: '/bin' } } }, /programs\.x\.path/],
    ['an upper-case name', { programs: { Git: { path: '/usr/bin/git' } } }, /programs/],
    ['a path-like name', { programs: { '../x': { path: '/bin/true' } } }, /programs/],
    ['a prototype name', { programs: { __proto__x: { path: '/bin/true' } } }, /programs/],
    ['an env name with =', { programs: {}, env: ['A=B'] }, /env/],
    ['a forbidden entry that is not a flag', { programs: { x: { path: '/bin/true', forbid: ['c'] } } }, /forbid/],
    ['a forbidden entry with a value', { programs: { x: { path: '/bin/true', forbid: ['--x=y'] } } }, /forbid/],
    ['an empty pattern', { programs: { x: { path: '/bin/true', args: [''] } } }, /args/],
    ['an unknown key', { programs: {}, shell: true }, /shell|Unrecognized/i],
  ])('throws TypeError for %s', (_name, config, message) => {
    expect(() => createProcTool({ ...(config as ProcOptions), roots: roots() })).toThrow(TypeError);
    expect(() => createProcTool({ ...(config as ProcOptions), roots: roots() })).toThrow(message);
  });

  it.each([
    ['timeout_ms 0', { timeout_ms: 0 }],
    ['a huge output cap', { max_output_bytes: 1 << 30 }],
    ['max_args over the limit', { programs: { x: { path: '/bin/true', max_args: 500 } } }],
  ])('throws RangeError for %s', (_name, extra) => {
    expect(() => createProcTool({ programs: {}, ...extra, roots: roots() } as ProcOptions)).toThrow(RangeError);
  });

  it('throws TypeError for a program file that is not executable', async () => {
    const plain = join(await mkdtemp(join(base, 'bin-')), 'plain');
    await writeFile(plain, '#!/bin/sh\n', { mode: 0o644 });
    expect(() => createProcTool({ programs: { x: { path: plain } }, roots: [root] })).toThrow(
      /options\.programs\.x\.path must be an existing executable file/,
    );
  });

  it('throws TypeError for bad roots and for a program inside a root', async () => {
    expect(() => createProcTool({ programs: {}, roots: [] })).toThrow(/options\.roots/);
    expect(() => createProcTool({ programs: {}, roots: ['relative'] })).toThrow(/options\.roots\[0\]/);
    expect(() => createProcTool({ programs: {}, roots: [join(root, 'file.txt')] })).toThrow(TypeError);
    const planted = join(root, 'tool.sh');
    await copyFile('/bin/true', planted);
    await chmod(planted, 0o755);
    expect(() => createProcTool({ programs: { t: { path: planted } }, roots: [root] })).toThrow(/inside an fs root/);
  });

  it('procConfigSchema accepts the policy-file form and refuses unknown keys', () => {
    const config = {
      programs: {
        git: { path: '/usr/bin/git', args: [['status', 'log', 'diff']], rest: '*', forbid: ['-p'], max_args: 8 },
      },
      env: ['HOME'],
      timeout_ms: 5000,
      max_output_bytes: 4096,
      max_stdin_bytes: 0,
    };
    expect(procConfigSchema.safeParse(config).success).toBe(true);
    expect(procConfigSchema.safeParse({ ...config, shell: '/bin/sh' }).success).toBe(false);
    expect(procConfigSchema.safeParse({ programs: { git: { path: '/usr/bin/git', env: {} } } }).success).toBe(false);
  });
});

describe('argument rules', () => {
  it('matches `*` globs literally otherwise, and never lets a plain pattern admit a flag', () => {
    expect(matchArgPattern('status', 'status')).toBe(true);
    expect(matchArgPattern('status', 'statusx')).toBe(false);
    expect(matchArgPattern('*', 'src/a b.ts')).toBe(true);
    expect(matchArgPattern('*', '')).toBe(true);
    expect(matchArgPattern('*.ts', 'a/b.ts')).toBe(true);
    expect(matchArgPattern('*.ts', 'a.tsx')).toBe(false);
    expect(matchArgPattern('a*b*c', 'abc')).toBe(true);
    expect(matchArgPattern('a*b*c', 'aXbYbZc')).toBe(true);
    expect(matchArgPattern('ab*ba', 'aba')).toBe(false);
    expect(matchArgPattern('a?c', 'abc')).toBe(false);
    expect(matchArgPattern('*', '--output=x')).toBe(false);
    expect(matchArgPattern('*', '-c')).toBe(false);
    expect(matchArgPattern('--format=*', '--format=%H')).toBe(true);
    expect(matchArgPattern('-*', '-n5')).toBe(true);
  });

  it.each([
    ['-c', ['-c'], '-c'],
    ['-cfoo=bar', ['-c'], '-c'],
    ['-qc', ['-c'], '-c'],
    ['-C', ['-c'], undefined],
    ['--config', ['--config'], '--config'],
    ['--config=x', ['--config'], '--config'],
    ['--conf', ['--config'], '--config'],
    ['--c=x', ['--config'], '--config'],
    ['-config', ['--config'], '--config'],
    ['--config-env=a=B', ['--config'], undefined],
    ['--configure', ['--config'], undefined],
    ['--upload-pa=x', ['--upload-pack'], '--upload-pack'],
    ['--cached', ['-c'], undefined],
    ['-exec', ['-exec'], '-exec'],
    ['--exec=x', ['-exec'], '-exec'],
    ['-execdir', ['-exec'], undefined],
    ['-', ['-c'], undefined],
    ['--', ['--config'], undefined],
    ['--=x', ['--config'], undefined],
    ['config', ['--config'], undefined],
    ['-5', ['-c'], undefined],
    ['--exec=x', ['--exec-path', '--exec'], '--exec'],
    ['--exe', ['--exec-path', '--exec'], '--exec-path'],
  ])('forbiddenFlag(%j, %j) is %j', (arg, forbid, expected) => {
    expect(forbiddenFlag(arg, forbid)).toBe(expected);
  });

  it('checks positions, rest and forbidden flags together', () => {
    const rules = compileArgRules({ args: [['log', 'status']], rest: ['*', '--oneline'], isGit: true });
    expect(rules.forbid).toEqual(expect.arrayContaining([...GIT_FORBIDDEN_FLAGS]));
    expect(() => checkArguments('git', rules, ['log', '--oneline', 'src'])).not.toThrow();
    expect(() => checkArguments('git', rules, ['config', 'x'])).toThrow(/args\[0\] is not allowed/);
    expect(() => checkArguments('git', rules, ['log', '--stat'])).toThrow(/args\[1\] is not allowed/);
    expect(() => checkArguments('git', rules, ['log', '-c'])).toThrow(/args\[1\] is the forbidden flag "-c"/);
    const exact = compileArgRules({ args: ['status'], isGit: false });
    expect(() => checkArguments('x', exact, ['status', 'more'])).toThrow(/takes no argument at args\[1\]/);
    expect(() => compileArgRules({ maxArgs: 1000, isGit: false })).toThrow(RangeError);
    expect(Object.isFrozen(GIT_FORBIDDEN_FLAGS)).toBe(true);
  });
});

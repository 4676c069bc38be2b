import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tool } from '../../runtime/tool-use/tool-contract.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createProcTool, type ProcResult, procConfigSchema } from '../../tools/proc.js';
import { confine, SYSTEM_READ_PATHS, sandboxSupport } from '../../tools/proc-sandbox.js';
import { type TestToolContext, testToolContext } from '../helpers/tool-context.js';

async function call(tool: Tool, args: unknown, ctx: TestToolContext = testToolContext()): Promise<ProcResult> {
  return (await runToolUse(prepareToolUse(tool, args), ctx)) as ProcResult;
}

const support = sandboxSupport();

describe('confine', () => {
  it('puts the flags before `--` and the program, its argv[0] and its arguments after, verbatim', () => {
    const command = confine(
      '/helper',
      { file: '/usr/bin/git', argv0: 'git', args: ['--write', '/', '--net'] },
      { writes: ['/r'], readRoots: ['/o'], hidden: ['/r/.isokernel'], readPaths: ['/opt/x'], network: false },
      true,
    );
    expect(command.file).toBe('/helper');
    expect(command.statusFd).toBe(3);
    const dash = command.args.indexOf('--');
    // An agent's argument that looks like a helper flag comes after `--`, where the helper never parses.
    expect(command.args.slice(dash)).toEqual(['--', '/usr/bin/git', 'git', '--write', '/', '--net']);
    const flags = command.args.slice(0, dash);
    expect(flags.slice(0, 8)).toEqual([
      '--status-fd',
      '3',
      '--write',
      '/r',
      '--read-root',
      '/o',
      '--hide',
      '/r/.isokernel',
    ]);
    for (const path of [...SYSTEM_READ_PATHS, '/opt/x', '/proc/self']) expect(flags).toContain(path);
    expect(flags).not.toContain('--net');
  });
});

describe('the policy section', () => {
  it('takes sandbox auto|required|off, absolute read_paths and a network switch, nothing else', () => {
    expect(
      procConfigSchema.safeParse({ programs: {}, sandbox: 'required', read_paths: ['/opt'], network: true }).success,
    ).toBe(true);
    expect(procConfigSchema.safeParse({ programs: {}, sandbox: 'on' }).success).toBe(false);
    expect(procConfigSchema.safeParse({ programs: {}, read_paths: ['opt'] }).success).toBe(false);
    expect(procConfigSchema.safeParse({ programs: {}, read_paths: ['/opt/../etc'] }).success).toBe(false);
  });
});

describe.skipIf(!support.available)('the helper', () => {
  const helper = support.available ? support.helper : '';

  it('fails closed on arguments it does not know: exit 125, a byte on the status descriptor, nothing run', () => {
    const run = spawnSync(helper, ['--status-fd', '3', '--frob', 'x', '--', '/bin/echo', 'echo', 'ran'], {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    expect(run.status).toBe(125);
    expect(run.stdout).toBe('');
    expect(run.output[3]).toBe('!');
    expect(run.stderr).toBe('isokernel sandbox: bad arguments\n');
  });

  it('answers its probe with the Landlock ABI', () => {
    const probe = spawnSync(helper, ['--probe'], { encoding: 'utf8' });
    expect(probe.status).toBe(0);
    expect(Number(probe.stdout)).toBe(support.available ? support.abi : -1);
  });
});

describe.skipIf(!support.available)('a confined program', () => {
  let base = '';
  let root = '';
  let bin = '';
  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-sandbox-')));
    root = join(base, 'root');
    bin = join(base, 'bin');
    await mkdir(join(root, '.isokernel'), { recursive: true });
    await mkdir(join(root, 'a'));
    await mkdir(join(base, 'shared'));
    await mkdir(bin);
    await writeFile(join(root, '.isokernel', 'root.key'), 'KEY');
    await writeFile(join(root, 'top.txt'), 'top');
    await writeFile(join(base, 'shared', 'data.txt'), 'shared');
    await symlink(base, join(root, 'up'));
    await writeFile(join(bin, 'exit125'), '#!/bin/sh\nexit 125\n');
    await chmod(join(bin, 'exit125'), 0o755);
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const tool = (extra: Record<string, unknown> = {}): Tool =>
    createProcTool({
      roots: [root],
      exclude: [join(root, '.isokernel')],
      sandbox: 'required',
      programs: {
        sh: { path: '/bin/sh', rest: ['-*', '*'] },
        exit125: { path: join(bin, 'exit125') },
      },
      ...extra,
    });
  const sh = async (script: string, extra: Record<string, unknown> = {}): Promise<ProcResult> =>
    call(tool(extra), { program: 'sh', args: ['-c', script] });

  it("with the store inside its root: works in the root's entries, lists the root, cannot add to it or read the store", async () => {
    const result = await sh(
      'echo new > a/made.txt && echo changed > top.txt && ls -a . | tr "\\n" " "; ' +
        'cat .isokernel/root.key; echo x > new-top.txt; echo y > .isokernel/planted; mv .isokernel gone',
    );
    expect(result.stdout).toBe('. .. .isokernel a top.txt up ');
    expect(result.stderr.match(/Permission denied/g)).toHaveLength(4);
    expect(await readFile(join(root, 'a', 'made.txt'), 'utf8')).toBe('new\n');
    expect(await readFile(join(root, 'top.txt'), 'utf8')).toBe('changed\n');
    expect(await readFile(join(root, '.isokernel', 'root.key'), 'utf8')).toBe('KEY');
  });

  it('follows no symbolic link out of its root', async () => {
    const result = await sh('cat up/shared/data.txt; echo z > up/escaped.txt');
    expect(result.stdout).toBe('');
    expect(result.stderr.match(/Permission denied/g)).toHaveLength(2);
  });

  it('reads what read_paths adds, and only reads it', async () => {
    const result = await sh(`cat ${base}/shared/data.txt; echo w > ${base}/shared/data.txt`, {
      read_paths: [join(base, 'shared')],
    });
    expect(result.stdout).toBe('shared');
    expect(result.stderr).toContain('Permission denied');
    expect(await readFile(join(base, 'shared', 'data.txt'), 'utf8')).toBe('shared');
  });

  it('exiting 125 by itself is a result, not a start failure; its own script file is readable', async () => {
    expect(await call(tool(), { program: 'exit125' })).toMatchObject({ exit_code: 125, stderr: '' });
  });

  it('gets no io_uring, with or without network (its operations would bypass the seccomp filter)', async () => {
    const probe =
      'import ctypes; libc = ctypes.CDLL(None, use_errno=True); ' +
      'r = libc.syscall(425, 1, ctypes.create_string_buffer(120)); print(r, ctypes.get_errno())';
    for (const network of [false, true]) {
      const python = tool({ programs: { python3: { path: '/usr/bin/python3', rest: ['-*', '*'] } }, network });
      const result = await call(python, { program: 'python3', args: ['-c', probe] });
      expect(result.stdout.trim()).toBe('-1 13');
    }
  });

  it('notes in the audit whether it ran confined', async () => {
    for (const [sandbox, noted] of [
      ['required', 'landlock'],
      ['off', 'none'],
    ] as const) {
      const ctx = testToolContext();
      await call(tool({ sandbox }), { program: 'sh', args: ['-c', 'true'] }, ctx);
      expect(ctx.notes).toContainEqual({ action: 'proc.sandbox', resource: noted });
    }
  });
});

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

describe.skipIf(!support.available)("the helper as its program's supervisor", () => {
  const helper = support.available ? support.helper : '';
  let dir = '';
  beforeAll(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-supervisor-')));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sh = (script: string) =>
    confine(
      helper,
      { file: '/bin/sh', argv0: 'sh', args: ['-c', script] },
      { writes: [dir], readRoots: [], hidden: [], readPaths: [], network: false },
    );
  // Running: not gone and not a zombie waiting to be reaped.
  const running = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  const until = async (done: () => boolean, ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  };
  const pidIn = async (name: string): Promise<number> => {
    await until(() => existsSync(join(dir, name)) && readFileSync(join(dir, name), 'utf8').endsWith('\n'), 5000);
    return Number(readFileSync(join(dir, name), 'utf8'));
  };

  it('takes the program with it when its caller kills it (a timed-out git repository check)', async () => {
    // Review 104: execFile's timeout killed the helper's pid, now the supervisor's, and git ran on for good.
    const command = sh(`cd ${dir}; echo $$ > killed-pid; exec sleep 30`);
    const helperProcess = spawn(command.file, command.args, { argv0: command.argv0, stdio: 'ignore' });
    const program = await pidIn('killed-pid');
    expect(running(program)).toBe(true);
    helperProcess.kill('SIGKILL');
    expect(await until(() => !running(program), 3000)).toBe(true);
  });

  it('kills what the program left running in its group before it reports the exit', async () => {
    // Review 104: a background member outlived the program when the kernel died before it saw the exit.
    const command = sh(`cd ${dir}; sleep 30 & echo $! > left-pid; exit 3`);
    const helperProcess = spawn(command.file, command.args, { argv0: command.argv0, stdio: 'ignore', detached: true });
    const code = await new Promise<number | null>((resolve) => helperProcess.on('exit', (status) => resolve(status)));
    expect(code).toBe(3);
    const left = await pidIn('left-pid');
    // Nothing else kills it here: no kernel watches this group.
    expect(await until(() => !running(left), 1000)).toBe(true);
  });

  it('closes every descriptor it inherited past 2, without close_range and past 4,096 of them', async (context) => {
    // The fallback listed at most 4,096 descriptors of /proc/self/fd; a kernel holding more kept the rest open in the
    // supervisor for the program's whole run. A build of the helper that skips close_range takes the fallback.
    const variant = join(dir, 'proc-sandbox-no-close-range');
    const source = new URL('../../native/proc-sandbox.c', import.meta.url).pathname;
    const built = ['cc', 'gcc'].some(
      (compiler) =>
        spawnSync(compiler, ['-O2', '-DPROC_SANDBOX_TEST_NO_CLOSE_RANGE', '-o', variant, source]).status === 0,
    );
    const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout);
    if (!built || !(limit > 5200)) context.skip();
    const command = sh(`cd ${dir}; echo $$ > many-fds-pid; exec sleep 30`);
    // bash's `exec N<file` leaves N open across exec: the helper starts with 5,000 descriptors above 2.
    const script = 'for i in $(seq 3 5002); do eval "exec $i</dev/null"; done; exec "$@"';
    const wrapper = spawn('bash', ['-c', script, 'bash', variant, ...command.args], { stdio: 'ignore' });
    try {
      await pidIn('many-fds-pid');
      const open = () => readdirSync(`/proc/${wrapper.pid}/fd`).filter((fd) => Number(fd) > 2);
      expect(await until(() => open().length === 0, 5000), `${open().length} left open`).toBe(true);
    } finally {
      wrapper.kill('SIGKILL');
    }
  });

  it('kills a program that stopped as its tracee, rather than leave it running unsupervised', async () => {
    // Review 104: PTRACE_TRACEME made the supervisor the tracer; at the next signal it took the stop for a death.
    const script =
      'import ctypes, os, signal, time\n' +
      'ctypes.CDLL(None).ptrace(0, 0, 0, 0)\n' +
      'signal.signal(signal.SIGUSR2, lambda *a: None)\n' +
      'os.kill(os.getpid(), signal.SIGUSR2)\n' +
      'time.sleep(1)\n' +
      `open('${dir}/after-stop', 'w').write('ran on')\n`;
    const command = confine(
      helper,
      { file: '/usr/bin/python3', argv0: 'python3', args: ['-c', script] },
      { writes: [dir], readRoots: [], hidden: [], readPaths: [], network: false },
    );
    const helperProcess = spawn(command.file, command.args, { argv0: command.argv0, stdio: 'ignore', detached: true });
    const signal = await new Promise<string | null>((resolve) =>
      helperProcess.on('exit', (_code, sig) => resolve(sig)),
    );
    expect(signal).toBe('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(existsSync(join(dir, 'after-stop'))).toBe(false);
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

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { builtinTools } from '../../cli/builtin-tools.js';
import { kernelState } from '../../cli/run.js';
import { createProcTool, type Kernel, loadPolicyText } from '../../index.js';
import { packageRoot } from '../../runtime/core/package-root.js';
import type { ProcResult } from '../../tools/proc.js';
import { sandboxSupport } from '../../tools/proc-sandbox.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack: a configured program reaches what the agent's fs capabilities do not. proc ran programs with the host
 * user's privileges: `cat ../secret` read any file the user can, `cp` wrote anywhere, and with the kernel's store
 * inside the root (the CLI's default: `.isokernel` in the current directory, which is also the default root) a
 * granted git read the kernel's Ed25519 root key (`git add -f .isokernel/root.key`, then `git show`). A program
 * could also open sockets (git over https, or any interpreter: exfiltration outside `net.http`), signal the kernel,
 * and git found the host's own repository above a root. Now every program runs confined by Landlock
 * (tools/proc-sandbox.ts): writes only in its root, reads only the roots and system directories, never the store,
 * no sockets, no signals outside, and git sees no repository above the root.
 */

const SECRET = 'host-secret-7f3a';
const support = sandboxSupport();

// Only a kernel without Landlock skips; a missing helper fails (the build must produce it wherever it can).
describe('the sandbox helper', () => {
  it('is built, and confines wherever the kernel has Landlock', () => {
    if (!support.available) expect(support.reason).toMatch(/Landlock/);
    else expect(support.abi).toBeGreaterThanOrEqual(1);
  });
});

describe.skipIf(!support.available)('a configured program reaching beyond its root', () => {
  let base = '';
  let root = '';
  let kernel: Kernel | undefined;
  let server: TestServer | undefined;

  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-reach-')));
    root = join(base, 'root');
    await mkdir(join(root, 'work'), { recursive: true });
    await mkdir(join(base, 'other'));
    await writeFile(join(base, 'secret.txt'), SECRET);
    await writeFile(join(root, 'work', 'notes.txt'), 'notes');
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await server?.close();
    server = undefined;
    await rm(base, { recursive: true, force: true });
  });

  /** Runs one program as an agent granted only proc.exec on it, and returns what it printed. */
  async function run(program: string, args: readonly string[], cwd?: string): Promise<ProcResult> {
    if (kernel === undefined) throw new Error('no kernel');
    const result = await kernel.run({
      input: JSON.stringify({ program, args, ...(cwd === undefined ? {} : { cwd }) }),
      code: `export default async (input) => sys.tool('proc.exec', JSON.parse(input))`,
    });
    if (!result.ok) throw new Error(`run failed: ${JSON.stringify(result.error)}`);
    return result.value as ProcResult;
  }

  function kernelWith(
    programs: Record<string, string>,
    options: { readonly network?: boolean; readonly roots?: readonly string[] } = {},
  ): Kernel {
    const names = Object.keys(programs);
    kernel = testKernel({
      isolation: 'inline',
      tools: [
        createProcTool({
          roots: [...(options.roots ?? [root])],
          sandbox: 'required',
          ...(options.network === undefined ? {} : { network: options.network }),
          programs: Object.fromEntries(names.map((name) => [name, { path: programs[name] ?? '', rest: ['-*', '*'] }])),
        }),
      ],
      policy: { capabilities: names.map((name) => ({ action: 'proc.exec', resource: name })) },
    });
    return kernel;
  }

  it('reads no host file outside the roots, by a relative or an absolute path', async () => {
    kernelWith({ cat: '/bin/cat' });
    for (const path of ['../secret.txt', join(base, 'secret.txt')]) {
      const result = await run('cat', [path]);
      expect(result.exit_code).not.toBe(0);
      expect(result.stdout).not.toContain(SECRET);
      expect(result.stderr).toContain('Permission denied');
    }
    // What lies under the root stays readable.
    expect((await run('cat', ['work/notes.txt'])).stdout).toBe('notes');
  });

  it('writes nowhere outside the root it runs in, another root included', async () => {
    kernelWith({ cp: '/bin/cp' }, { roots: [root, join(base, 'other')] });
    expect((await run('cp', ['work/notes.txt', '../escaped.txt'])).exit_code).not.toBe(0);
    expect((await run('cp', ['work/notes.txt', join(base, 'other', 'escaped.txt')])).exit_code).not.toBe(0);
    expect(existsSync(join(base, 'escaped.txt'))).toBe(false);
    expect(existsSync(join(base, 'other', 'escaped.txt'))).toBe(false);
    expect((await run('cp', ['work/notes.txt', 'work/copy.txt'])).exit_code).toBe(0);
    expect(readFileSync(join(root, 'work', 'copy.txt'), 'utf8')).toBe('notes');
  });

  it("never reads the kernel's store inside the root: git cannot add the root key (the CLI's default layout)", async () => {
    // `isokernel run` in a project checkout: the root is the project, the store `.isokernel` inside it.
    const store = join(root, '.isokernel');
    await mkdir(store);
    await writeFile(join(store, 'root.key'), SECRET);
    execFileSync('git', ['init', '-q', root]);
    const policy = loadPolicyText('capabilities:\n  - action: proc.exec\n    resource: git\n', 'policy.yaml');
    kernel = testKernel({ isolation: 'inline', tools: builtinTools(policy, [root], [store]), policy });
    const added = await run('git', ['add', '-f', '.isokernel/root.key']);
    expect(added.exit_code).not.toBe(0);
    const shown = await run('git', ['show', ':.isokernel/root.key']);
    expect(shown.stdout).not.toContain(SECRET);
    // The rest of the project is git's to work on.
    expect((await run('git', ['add', 'work/notes.txt'])).exit_code).toBe(0);
    expect((await run('git', ['status', '--short'])).stdout).toContain('work/notes.txt');
  });

  it('opens no connection, not even to loopback; `network: true` is what allows one', async () => {
    server = await startTestServer((_req, res) => res.end('ok'));
    const connect = [
      '-c',
      `import socket; s = socket.create_connection(('127.0.0.1', ${server.port}), timeout=5); s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(100))`,
    ];
    kernelWith({ python3: '/usr/bin/python3' });
    const refused = await run('python3', connect);
    expect(refused.exit_code).not.toBe(0);
    expect(refused.stderr).toContain('PermissionError');
    const udp = await run('python3', [
      '-c',
      "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', 53))",
    ]);
    expect(udp.stderr).toContain('PermissionError');
    expect(server.connections()).toBe(0);
    await kernel?.close();
    kernelWith({ python3: '/usr/bin/python3' }, { network: true });
    expect((await run('python3', connect)).stdout).toContain('200');
    expect(server.connections()).toBe(1);
  });

  it('reaches no host daemon over a unix socket, even with `network: true`', async () => {
    // Review 101: Landlock (to ABI 6) does not cover connecting to a named unix socket, and with `network: true`
    // every socket family was open: a program could ask the user's systemd (or docker) to run work unconfined.
    const path = join(base, 'daemon.sock');
    const daemon = createServer((socket) => socket.end('ran'));
    await new Promise<void>((resolve) => daemon.listen(path, resolve));
    try {
      kernelWith({ python3: '/usr/bin/python3' }, { network: true });
      const result = await run('python3', [
        '-c',
        `import socket; s = socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(path)}); print(s.recv(10))`,
      ]);
      expect(result.stdout).not.toContain('ran');
      expect(result.stderr).toContain('PermissionError');
    } finally {
      await new Promise((resolve) => daemon.close(resolve));
    }
  });

  it('cannot signal the kernel', async () => {
    kernelWith({ kill: '/bin/kill' });
    const result = await run('kill', ['-0', String(process.pid)]);
    expect(result.exit_code).not.toBe(0);
    // Refused, not missed: a pid that does not exist fails the same way with "No such process" (review 129).
    expect(result.stderr).toMatch(/Operation not permitted/);
    // The same call signals what is the program's own (its process group): the refusal above is the sandbox's.
    expect((await run('kill', ['-0', '0'])).exit_code).toBe(0);
  });

  it("inherits no descriptor of the kernel's process: the store's open files stay the kernel's", async () => {
    // classic-level opens LevelDB's files without O_CLOEXEC: pass 93 wrote a record into the kv store's write-ahead
    // log through one, with only sed allowed, and after a restart a `secret` file read unlabelled.
    kernel = testKernel({
      isolation: 'inline',
      store: join(base, 'state'),
      tools: [
        createProcTool({
          roots: [root],
          sandbox: 'required',
          programs: { ls: { path: '/bin/ls', rest: ['-*', '*'] } },
        }),
      ],
      policy: { capabilities: [{ action: 'proc.exec', resource: 'ls' }] },
    });
    await kernel.run({ code: `export default async () => sys.mem.put('k', 1)` });
    const listing = await run('ls', ['-l', '/proc/self/fd']);
    expect(listing.exit_code).toBe(0);
    const fds = [...listing.stdout.matchAll(/ (\d+) -> /g)].map((match) => Number(match[1]));
    // 0-2, and ls's own handle on the directory it lists.
    expect(fds.filter((fd) => fd > 3)).toEqual([]);
    expect(listing.stdout).not.toContain(join(base, 'state'));
  });

  it('keeps no capability, even when the kernel runs as root: no device node', async () => {
    kernelWith({ grep: '/bin/grep', mknod: '/usr/bin/mknod' });
    const caps = await run('grep', ['^Cap', '/proc/self/status']);
    for (const set of ['CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
      expect(caps.stdout).toMatch(new RegExp(`${set}:\\s+0000000000000000`));
    }
    // As root, a confined mknod made a character device in its root and read the host's kernel log through it.
    expect((await run('mknod', ['work/kmsg', 'c', '1', '11'])).exit_code).not.toBe(0);
    expect(existsSync(join(root, 'work', 'kmsg'))).toBe(false);
  });

  it('never reads a store that a read path (or a system directory) holds', async () => {
    const shared = join(base, 'shared');
    const store = join(shared, '.isokernel');
    await mkdir(store, { recursive: true });
    await writeFile(join(store, 'root.key'), SECRET);
    await writeFile(join(shared, 'data.txt'), 'shared');
    kernel = testKernel({
      isolation: 'inline',
      tools: [
        createProcTool({
          roots: [root],
          exclude: [store],
          read_paths: [shared],
          sandbox: 'required',
          programs: { cat: { path: '/bin/cat', rest: ['-*', '*'] } },
        }),
      ],
      policy: { capabilities: [{ action: 'proc.exec', resource: 'cat' }] },
    });
    const key = await run('cat', [join(store, 'root.key')]);
    expect(key.stdout).not.toContain(SECRET);
    expect(key.stderr).toContain('Permission denied');
    expect((await run('cat', [join(shared, 'data.txt')])).stdout).toBe('shared');
  });

  it('refuses a sandbox helper an agent could rewrite: one inside a root and not excluded', async () => {
    // With isokernel installed in the project the CLI roots at, fs.write replaced the helper and the next call ran
    // unconfined (pass 93). The CLI excludes the package; a host that roots at it without doing so is refused.
    const own = packageRoot();
    expect(() => createProcTool({ roots: [own], sandbox: 'required', programs: {} })).toThrow(/inside an fs root/);
    expect(() => createProcTool({ roots: [own], exclude: [own], sandbox: 'required', programs: {} })).not.toThrow();
    const policy = loadPolicyText(`capabilities:\n  - action: fs.read\n    resource: ${own}/**\n`, 'policy.yaml');
    kernel = testKernel({ isolation: 'inline', tools: builtinTools(policy, [own]), policy });
    const read = await kernel.run({
      input: join(own, 'native', 'proc-sandbox.c'),
      code: `export default async (path) => { try { await sys.tool('fs.read', { path }); return 'read'; } catch (e) { return e.code; } }`,
    });
    expect(read).toMatchObject({ ok: true, value: 'E_CAP_DENIED' });
  });

  it('cannot lower the limits of a process outside its sandbox (prlimit killed the kernel)', async () => {
    // Review 94: `prlimit --pid $PPID --cpu=1:1` got the kernel SIGKILLed a second later; Landlock does not cover it.
    const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      kernelWith({ prlimit: '/usr/bin/prlimit' });
      const result = await run('prlimit', ['--pid', String(victim.pid), '--nofile=16:16']);
      expect(result.exit_code).not.toBe(0);
      expect(readFileSync(`/proc/${victim.pid}/limits`, 'utf8')).not.toMatch(/Max open files\s+16\s+16/);
      // Its own limits stay its own to set.
      expect((await run('prlimit', ['--nofile=16:16', '/bin/true'])).exit_code).toBe(0);
    } finally {
      victim.kill('SIGKILL');
    }
  });

  it('cannot trace a process outside its sandbox (ptrace would read and write its memory)', async () => {
    // Same user, no Yama here: unconfined, PTRACE_ATTACH on the kernel's own sibling succeeds. Landlock refuses a
    // tracer whose domain the tracee is not in, whatever the descriptor or /proc rules.
    const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
    const attach = [
      '-c',
      'import ctypes, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n' +
        'print(libc.ptrace(16, int(sys.argv[1]), 0, 0), ctypes.get_errno())',
      String(victim.pid),
    ];
    try {
      kernelWith({ python3: '/usr/bin/python3' });
      const result = await run('python3', attach);
      expect(result.exit_code).toBe(0);
      expect(result.stdout.trim()).toBe('-1 1'); // EPERM
      expect(readFileSync(`/proc/${victim.pid}/status`, 'utf8')).toMatch(/TracerPid:\s+0\n/);
    } finally {
      victim.kill('SIGKILL');
    }
  });

  it('has a private temporary directory (TMPDIR), removed after the call', async () => {
    kernelWith({ sh: '/bin/sh' });
    const result = await run('sh', ['-c', 'echo scratch > "$TMPDIR/t" && cat "$TMPDIR/t" && echo "$TMPDIR"']);
    expect(result.exit_code).toBe(0);
    const [text, dir] = result.stdout.trim().split('\n');
    expect(text).toBe('scratch');
    expect(existsSync(dir ?? '/nonexistent-check')).toBe(false);
  });

  it('gets nothing of a root that lies inside an excluded path', async () => {
    // Review 94 rooted the tools inside an excluded directory (the package's native/), which was then granted whole.
    const excluded = join(base, 'excluded');
    await mkdir(join(excluded, 'inner'), { recursive: true });
    await writeFile(join(excluded, 'inner', 'data.txt'), SECRET);
    kernel = testKernel({
      isolation: 'inline',
      tools: [
        createProcTool({
          roots: [join(excluded, 'inner')],
          exclude: [excluded],
          sandbox: 'required',
          programs: { cat: { path: '/bin/cat', rest: ['-*', '*'] } },
        }),
      ],
      policy: { capabilities: [{ action: 'proc.exec', resource: 'cat' }] },
    });
    expect((await run('cat', ['data.txt'])).stdout).not.toContain(SECRET);
  });

  it("the CLI's tools keep agents off the policy file the next run loads", async () => {
    // Review 94: fs.write rewrote policy.yaml to `sandbox: off` and `sh`; the next run read a host file with it.
    const file = join(root, 'policy.yaml');
    const text = `capabilities:\n  - action: fs.write\n    resource: ${root}/**\n`;
    await writeFile(file, text);
    const policy = loadPolicyText(text, file);
    const state = kernelState(join(base, 'store'), join(base, 'store', 'audit.jsonl'), [file]);
    kernel = testKernel({ isolation: 'inline', tools: builtinTools(policy, [root], state), policy });
    const write = await kernel.run({
      input: file,
      code: `export default async (path) => { try { await sys.tool('fs.write', { path, content: 'x' }); return 'written'; } catch (e) { return e.code; } }`,
    });
    expect(write).toMatchObject({ ok: true, value: 'E_CAP_DENIED' });
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it("does not find the host's repository above the root", async () => {
    // The host's checkout holds the root (an agent given a subdirectory of a project).
    execFileSync('git', ['init', '-q', base]);
    execFileSync('git', [
      '-C',
      base,
      '-c',
      'user.name=h',
      '-c',
      'user.email=h@h',
      'commit',
      '-q',
      '--allow-empty',
      '-m',
      'host history',
    ]);
    kernelWith({ git: '/usr/bin/git' });
    const log = await run('git', ['log', '--oneline']);
    expect(log.stdout).not.toContain('host history');
    expect(log.stderr).toContain('not a git repository');
  });
});

/**
 * Attack: read the host's secrets through a child process. The host's process.env (API keys, git config
 * overrides, loader variables), its open file descriptors and its working directory must not reach a program
 * the agent runs, even when the agent can run `env`, `printenv` or `ls`.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Tool } from '../../runtime/tool-use/tool-contract.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createProcTool, type ProcResult } from '../../tools/proc.js';
import { testToolContext } from '../helpers/tool-context.js';

async function call(tool: Tool, args: unknown): Promise<ProcResult> {
  const use = prepareToolUse(tool, args);
  return (await runToolUse(use, testToolContext())) as ProcResult;
}

const SECRET = `sk-test-${Math.random().toString(36).slice(2)}${Date.now()}`;
const planted = [
  'ISOKERNEL_TEST_SECRET',
  'OPENAI_API_KEY',
  'LD_PRELOAD',
  'NODE_OPTIONS',
  'BASH_ENV',
  'GIT_CONFIG_PARAMETERS',
  'GIT_CONFIG_COUNT',
  'GIT_CONFIG_KEY_0',
  'GIT_CONFIG_VALUE_0',
  'NODE_V8_COVERAGE',
  'ISOKERNEL_TEST_ALLOWED',
] as const;
const saved = new Map<string, string | undefined>();

let base: string;
let root: string;
let marker: string;
let tool: Tool;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-envleak-')));
  root = join(base, 'root');
  await mkdir(join(root, 'repo'), { recursive: true });
  marker = join(base, 'pwned');
  for (const name of planted) saved.set(name, process.env[name]);
  tool = createProcTool({
    programs: {
      env: { path: '/usr/bin/env' },
      printenv: { path: '/usr/bin/printenv' },
      ls: { path: '/bin/ls' },
      pwd: { path: '/bin/pwd' },
      git: { path: '/usr/bin/git' },
    },
    roots: [root],
  });
});

afterEach(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** This process's descriptors that lack O_CLOEXEC (handed down by whatever started it, not opened by Node). */
function inheritedWithoutCloexec(): Set<number> {
  const result = new Set<number>();
  for (const entry of readdirSync('/proc/self/fd')) {
    try {
      const flags = /flags:\s*([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${entry}`, 'utf8'))?.[1];
      if (flags !== undefined && (Number.parseInt(flags, 8) & 0o2000000) === 0) result.add(Number(entry));
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return result;
}

function plantSecrets(): void {
  process.env['ISOKERNEL_TEST_SECRET'] = SECRET;
  process.env['OPENAI_API_KEY'] = SECRET;
  process.env['LD_PRELOAD'] = `/nonexistent/${SECRET}.so`;
  process.env['NODE_OPTIONS'] = `--require /nonexistent/${SECRET}.js`;
  process.env['BASH_ENV'] = `/nonexistent/${SECRET}`;
  process.env['NODE_V8_COVERAGE'] = join(base, `coverage-${SECRET}`);
}

describe('environment', () => {
  it('gives the child exactly the fixed defaults, not process.env', async () => {
    plantSecrets();
    const result = await call(tool, { program: 'env' });
    expect(result.exit_code).toBe(0);
    expect(result.stdout).not.toContain(SECRET);
    // TMPDIR: the confined program's private temporary directory (tools/proc.ts), the kernel's own, not the host's.
    expect(result.stdout.trim().split('\n').sort()).toEqual([
      'LANG=C.UTF-8',
      'PATH=/usr/bin:/bin',
      expect.stringMatching(/^TMPDIR=\/.*\/isokernel-proc-[^/]+$/),
    ]);
    expect(result.stderr).not.toContain(SECRET);
  });

  it('printenv of a planted secret finds nothing', async () => {
    plantSecrets();
    const result = await call(tool, { program: 'printenv', args: ['ISOKERNEL_TEST_SECRET'] });
    expect(result).toMatchObject({ exit_code: 1, stdout: '' });
  });

  it('copies only the names the config allows', async () => {
    plantSecrets();
    process.env['ISOKERNEL_TEST_ALLOWED'] = 'visible';
    const allowing = createProcTool({
      programs: { env: { path: '/usr/bin/env' } },
      roots: [root],
      env: ['ISOKERNEL_TEST_ALLOWED', 'ISOKERNEL_TEST_UNSET'],
    });
    const lines = (await call(allowing, { program: 'env' })).stdout.trim().split('\n').sort();
    expect(lines).toEqual([
      'ISOKERNEL_TEST_ALLOWED=visible',
      'LANG=C.UTF-8',
      'PATH=/usr/bin:/bin',
      expect.stringMatching(/^TMPDIR=/),
    ]);
  });

  it('is not widened by host prototype pollution', async () => {
    const allowing = createProcTool({
      programs: { env: { path: '/usr/bin/env' } },
      roots: [root],
      env: ['ISOKERNEL_POLLUTED'],
    });
    const proto = Object.prototype as Record<string, unknown>;
    proto['ISOKERNEL_POLLUTED'] = SECRET;
    try {
      // Straight to run(): zod's strict schemas already refuse every object while the prototype is polluted.
      for (const t of [tool, allowing]) {
        const result = (await t.run({ program: 'env' }, testToolContext())) as ProcResult;
        expect(result.exit_code).toBe(0);
        expect(result.stdout).not.toContain(SECRET);
      }
    } finally {
      delete proto['ISOKERNEL_POLLUTED'];
    }
  });

  it('does not pass git config overrides from the host environment', async () => {
    const repo = join(root, 'repo');
    expect(spawnSync('/usr/bin/git', ['init', '-q'], { cwd: repo }).status).toBe(0);
    process.env['GIT_CONFIG_COUNT'] = '1';
    process.env['GIT_CONFIG_KEY_0'] = 'alias.pwn';
    process.env['GIT_CONFIG_VALUE_0'] = `!touch ${marker}`;
    // Control: with the host environment, git runs the alias.
    spawnSync('/usr/bin/git', ['pwn'], { cwd: repo, env: process.env });
    expect(existsSync(marker)).toBe(true);
    await rm(marker);
    // Through the tool, with a subcommand agents may run: an external diff named by the host's variables would run.
    process.env['GIT_CONFIG_PARAMETERS'] = `'diff.external'='touch ${marker}'`;
    writeFileSync(join(repo, 'a'), 'a\n');
    writeFileSync(join(repo, 'b'), 'b\n');
    const result = await call(tool, { program: 'git', args: ['diff', '--no-index', 'a', 'b'], cwd: repo });
    expect(result.stdout).toContain('+b');
    expect(existsSync(marker)).toBe(false);
  });
});

describe('other inherited state', () => {
  it('passes no file descriptor the host opened beyond stdin, stdout and stderr', async () => {
    const secretFile = join(base, 'secret.txt');
    writeFileSync(secretFile, SECRET);
    const fd = openSync(secretFile, 'r');
    try {
      const result = await call(tool, { program: 'ls', args: ['/proc/self/fd'] });
      const fds = result.stdout.trim().split('\n').map(Number);
      expect(fds).not.toContain(fd);
      // Only ls's own directory handle (3) and descriptors this process itself inherited without
      // close-on-exec (Node cannot clear that flag) may appear.
      const inherited = inheritedWithoutCloexec();
      expect(fds.filter((n) => n > 3 && !inherited.has(n))).toEqual([]);
    } finally {
      closeSync(fd);
    }
  });

  it("starts in the root, not the host's working directory", async () => {
    expect((await call(tool, { program: 'pwd' })).stdout).toBe(`${root}\n`);
  });
});

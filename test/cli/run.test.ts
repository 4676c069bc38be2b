import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelState, runCommand } from '../../cli/run.js';
import { verifyAuditFile } from '../../runtime/audit/verify-file.js';
import { type CliRun, isokernel as cli, REPO } from '../helpers/cli-process.js';

// The real bin in a real process, started WITHOUT --no-node-snapshot: it must add the flag itself.
// Runs keep their state in a temp store unless the test names one: nothing is written into the repository.
const STORE = join(mkdtempSync(join(tmpdir(), 'isokernel-cli-store-')), 's');

function isokernel(...args: string[]): Promise<CliRun> {
  const storeArgs = args[0] === 'run' && !args.includes('--store') ? ['--store', STORE] : [];
  return cli([...args, ...storeArgs], { cwd: REPO });
}

function agentFile(code: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'isokernel-cli-')), 'agent.js');
  writeFileSync(file, code);
  return file;
}

describe('examples/team', () => {
  it('the lead hands each note to a summarizer holding only that file, and snapshots its progress', async () => {
    const run = await isokernel(
      'run',
      'examples/team/lead.js',
      '--policy',
      'examples/team/policy.yaml',
      '--root',
      'examples/team/workspace',
      '--program',
      'summarizer=examples/team/summarizer.js',
      '--store',
      join(mkdtempSync(join(tmpdir(), 'isokernel-team-')), 's'),
    );
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as {
      summaries: Record<string, { first: string }>;
      snapshot: string;
      label: string[];
    };
    expect(out.summaries['monday.md']?.first).toBe('Standup: ship the process tree');
    expect(Object.keys(out.summaries).sort()).toEqual(['friday.md', 'monday.md']);
    expect(out.snapshot).toMatch(/^[0-9a-f]{64}$/);
    expect(out.label).toEqual(['notes']);
  });
});

describe('isokernel run', () => {
  it('runs the hello example: result JSON on stdout, summary on stderr, exit 0', async () => {
    const run = await isokernel('run', 'examples/hello/agent.js', '--input', '{"name":"Ada"}');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ greeting: 'hello, Ada', globals: true });
    expect(run.stderr).toContain('[agent] greeting Ada');
    expect(run.stderr).toMatch(/isokernel: ok cpu=[\d.]+ms wall=[\d.]+ms heap_peak=[\d.]+MB syscalls=1/);
  });

  it('ends for(;;){} with --cpu-ms 200 as E_QUOTA (cpu) within a second of agent time', async () => {
    const run = await isokernel('run', agentFile('export default function main() { for (;;) {} }'), '--cpu-ms', '200');
    expect(run.status).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({ error: { code: 'E_QUOTA', message: 'quota exceeded: cpu_ms' } });
    const wall = Number(/wall=([\d.]+)ms/.exec(run.stderr)?.[1]);
    expect(wall).toBeLessThan(1000);
  });

  it('exits 1 when the agent fails', async () => {
    expect((await isokernel('run', agentFile('export default () => { throw new Error("no") }'))).status).toBe(1);
  });

  // Red-team pass 54: the summary line quoted an agent's failure message as it was, so an agent set the
  // terminal's title, cleared the screen and printed a forged "isokernel: ok" line on stderr.
  it("writes an agent's failure message into the summary with its control characters escaped", async () => {
    const forged = '"boom\\u001b]0;PWNED\\u0007\\u001b[2J\\r\\nisokernel: ok cpu=1ms fake"';
    const run = await isokernel('run', agentFile(`export default () => { throw new Error(${forged}) }`));
    expect(run.status).toBe(1);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for raw control characters.
    expect(run.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    expect(run.stderr.split('\n').filter((line) => line.startsWith('isokernel: ok'))).toEqual([]);
    expect(run.stderr).toContain('\\u{1b}]0;PWNED');
  });

  it.each([
    ['no file', ['run']],
    ['input that is not JSON', ['run', 'examples/hello/agent.js', '--input', '{bad']],
    ['a negative --cpu-ms', ['run', 'examples/hello/agent.js', '--cpu-ms', '-5']],
    ['a missing agent file', ['run', join(tmpdir(), 'does-not-exist.js')]],
    ['an unknown command', ['bogus']],
  ])('exits 2 on a usage error: %s', async (_name, args) => {
    expect((await isokernel(...args)).status).toBe(2);
  });

  it('applies --wall-ms', async () => {
    const wall = await isokernel('run', agentFile('export default () => new Promise(() => {})'), '--wall-ms', '100');
    expect(JSON.parse(wall.stdout)).toMatchObject({ error: { code: 'E_QUOTA', message: 'quota exceeded: wall_ms' } });
  });

  it('applies --memory-mb', async () => {
    const memory = await isokernel(
      'run',
      agentFile('export default () => { const a = []; for (;;) a.push({ x: [1, 2] }); }'),
      '--memory-mb',
      '16',
    );
    expect(JSON.parse(memory.stdout)).toMatchObject({
      error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' },
    });
  });
});

describe('isokernel run --policy / --store, and policy check', () => {
  it('creates the store (0700) under the current directory by default', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'isokernel-cwd-'));
    const run = await cli(['run', agentFile('export default () => sys.caps()')], { cwd });
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([]);
    expect(statSync(join(cwd, '.isokernel')).mode & 0o777).toBe(0o700);
  });

  it('creates the store under --store and grants the --policy rules', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'isokernel-cwd-')), 'elsewhere');
    const file = agentFile('export default () => sys.caps()');
    const withPolicy = await isokernel('run', file, '--store', store, '--policy', 'examples/policy.yaml');
    expect(withPolicy.status).toBe(0);
    const caps = JSON.parse(withPolicy.stdout) as { action: string; resource: string }[];
    expect(caps.map((c) => `${c.action} ${c.resource}`)).toContain('fs.read /workspace/**');
    expect(statSync(store).isDirectory()).toBe(true);
  });

  describe('an invalid policy', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'isokernel-policy-')), 'bad.yaml');
    writeFileSync(bad, 'capabilities:\n  - action: fs.read\n    resource: 42\n');

    it('run refuses it with file:line:col and exit 2', async () => {
      const store = join(mkdtempSync(join(tmpdir(), 'isokernel-x-')), 's');
      const run = await isokernel('run', 'examples/hello/agent.js', '--policy', bad, '--store', store);
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/bad\.yaml:3:15/);
    });

    it('policy check reports it with file:line:col and exit 1', async () => {
      const check = await isokernel('policy', 'check', bad);
      expect(check.status).toBe(1);
      expect(check.stderr + check.stdout).toMatch(/bad\.yaml:3:15/);
    });
  });

  it('policy check prints the rules of a valid file as a table', async () => {
    const check = await isokernel('policy', 'check', 'examples/policy.yaml');
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/fs\.write\s+\/workspace\/output\/\*\*/);
    expect(check.stdout).toMatch(/net\.http\s+https:\/\/api\.example\.com\/\*\*\s+method=GET/);
  });
});

describe('isokernel run writes the audit log; isokernel audit reads and verifies it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'isokernel-audit-cli-'));
  const store = join(dir, 'store');
  const file = join(store, 'audit.jsonl');
  let first: CliRun;
  let second: CliRun;
  beforeAll(async () => {
    first = await isokernel('run', 'examples/hello/agent.js', '--store', store);
    second = await isokernel('run', 'examples/hello/agent.js', '--store', store);
  }, 60_000);

  it('run prints the audit file and the seq range of each run', () => {
    expect(first.status).toBe(0);
    expect(first.stderr).toContain(`audit=${file} seq=0..1`);
    expect(second.stderr).toContain('seq=2..3');
  });

  it('audit verify passes under the store key', async () => {
    const verify = await isokernel('audit', 'verify', file, '--store', store);
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/^OK 4 records/);
  });

  it('audit show filters by status', async () => {
    expect((await isokernel('audit', 'show', file, '--status', 'ok')).stdout).toMatch(/log\s+log\s+-\s+ok/);
  });

  it('audit export writes one agent-kernel line per outcome', async () => {
    const exported = (await isokernel('audit', 'export', file, '--format', 'agent-kernel')).stdout.trim().split('\n');
    expect(exported.map((line) => JSON.parse(line).status)).toEqual(['OK', 'OK']);
  });

  it('audit verify of a missing file fails closed (exit 1)', async () => {
    expect((await isokernel('audit', 'verify', join(dir, 'missing.jsonl'))).status).toBe(1);
  });

  // Last: it edits the log the tests above read.
  it('audit verify finds an edit and names its seq (exit 1)', async () => {
    writeFileSync(file, readFileSync(file, 'utf8').replace('"syscall":"log"', '"syscall":"tool"'));
    const broken = await isokernel('audit', 'verify', file, '--store', store);
    expect(broken.status).toBe(1);
    expect(broken.stdout + broken.stderr).toMatch(/seq 0/);
  });
});

describe('agent text reaches the terminal only escaped', () => {
  const evil = '\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eabc';
  let run: CliRun;
  beforeAll(async () => {
    const file = agentFile(
      `export default async () => { await sys.log(${JSON.stringify(evil)}); return { text: ${JSON.stringify(evil)} }; }`,
    );
    run = await isokernel('run', file, '--store', join(mkdtempSync(join(tmpdir(), 'isokernel-tty-')), 's'));
  }, 30_000);

  it('no control or bidi character reaches stdout or stderr', () => {
    expect(run.status).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting these control characters are absent.
    expect(run.stdout + run.stderr).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
  });

  it('log lines show escapes of them', () => {
    expect(run.stderr).toContain('[agent] \\u{1b}]0;pwned');
  });

  it('the result stays the same JSON value', () => {
    expect(JSON.parse(run.stdout)).toEqual({ text: evil });
  });
});

describe('isokernel run --isolation', () => {
  // An agent that aborts V8 (hole H5): the tier decides whether it takes the CLI's process with it.
  const abort = () =>
    agentFile('export default async function main() { return "x".repeat(2 ** 28).split("").length; }');

  it('runs agents in a sandbox host by default: an agent that aborts V8 ends E_CRASHED and the CLI exits 1', async () => {
    const run = await isokernel('run', abort(), '--memory-mb', '1024', '--cpu-ms', '20000', '--wall-ms', '20000');
    expect(run.status, run.stderr).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'E_CRASHED' } });
    expect(run.stderr).toMatch(/E_CRASHED/);
  });

  it('--isolation inline runs it in the CLI process, which the same agent aborts', async () => {
    const run = await isokernel(
      'run',
      abort(),
      '--isolation',
      'inline',
      '--memory-mb',
      '1024',
      '--cpu-ms',
      '20000',
      '--wall-ms',
      '20000',
    );
    expect(run.status).toBeNull();
    expect(run.stdout).toBe('');
  });

  it('refuses an unknown tier as a usage error', async () => {
    const run = await isokernel('run', abort(), '--isolation', 'threads');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--isolation must be 'process' or 'inline'/);
  });
});

describe('isokernel run prints a deeply nested result without indenting it', () => {
  // runCommand in this process: the output's size is what matters, not the bin around it.
  const NESTED = agentFile(`export default async (input) => {
    let value = new Array(input.leaves).fill(0);
    for (let d = 0; d < input.depth; d++) value = [value];
    return value;
  }`);

  async function printed(input: { depth: number; leaves: number }): Promise<{ stdout: string; compact: number }> {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (text: string) => void out.push(text), err: (text: string) => void err.push(text) };
    const store = join(mkdtempSync(join(tmpdir(), 'isokernel-nested-')), 's');
    const code = await runCommand(NESTED, { input: JSON.stringify(input), store, isolation: 'inline' }, io);
    expect(code, err.join('\n')).toBe(0);
    let value: unknown = new Array(input.leaves).fill(0);
    for (let d = 0; d < input.depth; d++) value = [value];
    const stdout = out.join('\n');
    expect(JSON.parse(stdout)).toEqual(value);
    return { stdout, compact: JSON.stringify(value).length };
  }

  it('500,000 zeros under 62 arrays print at their compact size, not 64 MB (red-team pass 71)', async () => {
    const { stdout, compact } = await printed({ depth: 62, leaves: 500_000 });
    expect(stdout.length).toBeLessThanOrEqual(2 * compact);
  });

  it('40 KB of zeros under 60 arrays print at their compact size, not 2.4 MB', async () => {
    const { stdout, compact } = await printed({ depth: 60, leaves: 20_000 });
    expect(stdout.length).toBeLessThanOrEqual(2 * compact);
  });

  it('a small shallow result is still indented', async () => {
    const { stdout } = await printed({ depth: 2, leaves: 3 });
    expect(stdout).toBe('[\n  [\n    [\n      0,\n      0,\n      0\n    ]\n  ]\n]');
  });
});

describe('kernelState', () => {
  it("names the audit writer's lock beside the log's real file when --audit is a symlink (review of pass 132)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-state-'));
    try {
      const elsewhere = join(dir, 'elsewhere');
      mkdirSync(elsewhere);
      writeFileSync(join(elsewhere, 'log.jsonl'), '');
      symlinkSync(join(elsewhere, 'log.jsonl'), join(dir, 'audit.jsonl'));
      const state = kernelState(join(dir, 'store'), join(dir, 'audit.jsonl'));
      expect(state).toContain(`${realpathSync(join(elsewhere, 'log.jsonl'))}.lock`);
      expect(state).toContain(join(dir, 'audit.jsonl.lock'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Red-team pass 135: `..` was dropped by string (path.resolve in kernelState and builtinTools, JS realpath in
  // realExcluded) where the system follows a symlink first: with a/link -> root/other/sub, `--audit
  // a/link/../audit.jsonl` is root/other/audit.jsonl, but the tools excluded a/audit.jsonl*, and an agent granted the
  // root rewrote the live log.
  it('with `..` after a symlink in --audit, names and refuses the files the kernel writes (real run)', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-state-dotdot-')));
    try {
      const root = join(dir, 'root');
      mkdirSync(join(root, 'other', 'sub'), { recursive: true });
      mkdirSync(join(dir, 'a'));
      symlinkSync(join(root, 'other', 'sub'), join(dir, 'a', 'link'));
      const audit = `${dir}/a/link/../audit.jsonl`;
      const log = join(root, 'other', 'audit.jsonl');
      const policy = join(dir, 'policy.yaml');
      writeFileSync(
        policy,
        `capabilities:\n${['fs.read', 'fs.write'].map((action) => `  - action: ${action}\n    resource: ${root}/**\n`).join('')}`,
      );
      const calls = [
        ['fs.write', { path: 'other/audit.jsonl', content: '' }],
        ['fs.write', { path: 'other/audit.jsonl.checkpoints', content: '' }],
        ['fs.write', { path: 'other/audit.jsonl.lock', content: '' }],
        ['fs.read', { path: 'other/audit.jsonl' }],
        ['fs.write', { path: 'other/fine.txt', content: 'fine' }],
      ];
      const agent = agentFile(`export default async function main(calls) {
        const out = [];
        for (const [tool, args] of calls) {
          try {
            await sys.tool(tool, args);
            out.push('ok');
          } catch (error) {
            out.push(error.code);
          }
        }
        return out;
      }`);
      const out: string[] = [];
      const err: string[] = [];
      const io = { out: (text: string) => void out.push(text), err: (text: string) => void err.push(text) };
      const options = { input: JSON.stringify(calls), policy, store: join(dir, 'store'), audit, root: [root] };
      const code = await runCommand(agent, { ...options, isolation: 'inline' }, io);
      expect(code, err.join('\n')).toBe(0);
      expect(JSON.parse(out.join('\n'))).toEqual([
        'E_CAP_DENIED',
        'E_CAP_DENIED',
        'E_CAP_DENIED',
        'E_CAP_DENIED',
        'ok',
      ]);
      expect(readFileSync(join(root, 'other', 'fine.txt'), 'utf8')).toBe('fine');
      expect(existsSync(join(dir, 'a', 'audit.jsonl'))).toBe(false);
      expect(verifyAuditFile(log, { requireAnchored: true })).toMatchObject({ ok: true });
      expect(kernelState(join(dir, 'store'), audit)).toContain(`${log}.lock`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/isokernel.js');

// The real bin in a real process, started WITHOUT --no-node-snapshot: it must add the flag itself.
// Runs keep their state in a temp store unless the test names one: nothing is written into the repository.
const STORE = join(mkdtempSync(join(tmpdir(), 'isokernel-cli-store-')), 's');

function isokernel(...args: string[]) {
  const started = performance.now();
  const storeArgs = args[0] === 'run' && !args.includes('--store') ? ['--store', STORE] : [];
  const child = spawnSync(process.execPath, [BIN, ...args, ...storeArgs], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr, ms: performance.now() - started };
}

function agentFile(code: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'isokernel-cli-')), 'agent.js');
  writeFileSync(file, code);
  return file;
}

describe('examples/team', () => {
  it('the lead hands each note to a summarizer holding only that file, and snapshots its progress', () => {
    const run = isokernel(
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
  it('runs the hello example: result JSON on stdout, summary on stderr, exit 0', () => {
    const run = isokernel('run', 'examples/hello/agent.js', '--input', '{"name":"Ada"}');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ greeting: 'hello, Ada', globals: true });
    expect(run.stderr).toContain('[agent] greeting Ada');
    expect(run.stderr).toMatch(/isokernel: ok cpu=[\d.]+ms wall=[\d.]+ms heap_peak=[\d.]+MB syscalls=1/);
  });

  it('ends for(;;){} with --cpu-ms 200 as E_QUOTA (cpu) within a second of agent time', () => {
    const run = isokernel('run', agentFile('export default function main() { for (;;) {} }'), '--cpu-ms', '200');
    expect(run.status).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({ error: { code: 'E_QUOTA', message: 'quota exceeded: cpu_ms' } });
    const wall = Number(/wall=([\d.]+)ms/.exec(run.stderr)?.[1]);
    expect(wall).toBeLessThan(1000);
  });

  // Six CLI processes, each starting a sandbox host when it runs an agent: slow on a loaded machine.
  it('exits 1 with the code when the agent fails, and 2 on usage errors', () => {
    expect(isokernel('run', agentFile('export default () => { throw new Error("no") }')).status).toBe(1);
    expect(isokernel('run').status).toBe(2);
    expect(isokernel('run', 'examples/hello/agent.js', '--input', '{bad').status).toBe(2);
    expect(isokernel('run', 'examples/hello/agent.js', '--cpu-ms', '-5').status).toBe(2);
    const missing = isokernel('run', join(tmpdir(), 'does-not-exist.js'));
    expect(missing.status).toBe(2);
    expect(isokernel('bogus').status).toBe(2);
  }, 90_000);

  it('applies --wall-ms and --memory-mb', () => {
    const wall = isokernel('run', agentFile('export default () => new Promise(() => {})'), '--wall-ms', '100');
    expect(JSON.parse(wall.stdout)).toMatchObject({ error: { code: 'E_QUOTA', message: 'quota exceeded: wall_ms' } });
    const memory = isokernel(
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
  it('creates the store (0700) under the current directory by default and under --store when given', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'isokernel-cwd-'));
    const file = agentFile('export default () => sys.caps()');
    const child = spawnSync(process.execPath, [BIN, 'run', file], { cwd, encoding: 'utf8', timeout: 30_000 });
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual([]);
    expect(statSync(join(cwd, '.isokernel')).mode & 0o777).toBe(0o700);

    const store = join(cwd, 'elsewhere');
    const withPolicy = isokernel('run', file, '--store', store, '--policy', 'examples/policy.yaml');
    expect(withPolicy.status).toBe(0);
    const caps = JSON.parse(withPolicy.stdout) as { action: string; resource: string }[];
    expect(caps.map((c) => `${c.action} ${c.resource}`)).toContain('fs.read /workspace/**');
    expect(statSync(store).isDirectory()).toBe(true);
  });

  it('refuses an invalid policy with file:line:col and exit 2', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'isokernel-policy-')), 'bad.yaml');
    writeFileSync(bad, 'capabilities:\n  - action: fs.read\n    resource: 42\n');
    const run = isokernel('run', 'examples/hello/agent.js', '--policy', bad, '--store', join(tmpdir(), 'isokernel-x'));
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/bad\.yaml:3:15/);
    const check = isokernel('policy', 'check', bad);
    expect(check.status).toBe(1);
    expect(check.stderr + check.stdout).toMatch(/bad\.yaml:3:15/);
  });

  it('policy check prints the rules of a valid file as a table', () => {
    const check = isokernel('policy', 'check', 'examples/policy.yaml');
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/fs\.write\s+\/workspace\/output\/\*\*/);
    expect(check.stdout).toMatch(/net\.http\s+https:\/\/api\.example\.com\/\*\*\s+method=GET/);
  });
});

describe('isokernel run writes the audit log; isokernel audit verifies it', () => {
  it('prints the audit file and seq range, verifies under the store key, and fails closed on an edit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'isokernel-audit-cli-'));
    const store = join(dir, 'store');
    const run = isokernel('run', 'examples/hello/agent.js', '--store', store);
    expect(run.status).toBe(0);
    const file = join(store, 'audit.jsonl');
    expect(run.stderr).toContain(`audit=${file} seq=0..1`);
    const again = isokernel('run', 'examples/hello/agent.js', '--store', store);
    expect(again.stderr).toContain('seq=2..3');

    const verify = isokernel('audit', 'verify', file, '--store', store);
    expect(verify.status).toBe(0);
    expect(verify.stdout).toMatch(/^OK 4 records/);
    expect(isokernel('audit', 'show', file, '--status', 'ok').stdout).toMatch(/log\s+log\s+-\s+ok/);
    const exported = isokernel('audit', 'export', file, '--format', 'agent-kernel').stdout.trim().split('\n');
    expect(exported.map((line) => JSON.parse(line).status)).toEqual(['OK', 'OK']);

    const text = readFileSync(file, 'utf8').replace('"syscall":"log"', '"syscall":"tool"');
    writeFileSync(file, text);
    const broken = isokernel('audit', 'verify', file, '--store', store);
    expect(broken.status).toBe(1);
    expect(broken.stdout + broken.stderr).toMatch(/seq 0/);
    expect(isokernel('audit', 'verify', join(dir, 'missing.jsonl')).status).toBe(1);
  }, 90_000);
});

describe('agent text reaches the terminal only escaped', () => {
  it('escapes control and bidi characters in log lines and in the result, which stays the same JSON value', () => {
    const evil = '\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eabc';
    const file = agentFile(
      `export default async () => { await sys.log(${JSON.stringify(evil)}); return { text: ${JSON.stringify(evil)} }; }`,
    );
    const run = isokernel('run', file, '--store', join(mkdtempSync(join(tmpdir(), 'isokernel-tty-')), 's'));
    expect(run.status).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting these control characters are absent.
    expect(run.stdout + run.stderr).not.toMatch(/[\u001b\u0007\u009b\u202e]/);
    expect(run.stderr).toContain('[agent] \\u{1b}]0;pwned');
    expect(JSON.parse(run.stdout)).toEqual({ text: evil });
  });
});

describe('isokernel run --isolation', () => {
  // An agent that aborts V8 (hole H5): the tier decides whether it takes the CLI's process with it.
  const abort = () =>
    agentFile('export default async function main() { return "x".repeat(2 ** 27).split("").length; }');

  it('runs agents in a sandbox host by default: an agent that aborts V8 ends E_CRASHED and the CLI exits 1', () => {
    const run = isokernel('run', abort(), '--memory-mb', '1024', '--cpu-ms', '20000', '--wall-ms', '20000');
    expect(run.status, run.stderr).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'E_CRASHED' } });
    expect(run.stderr).toMatch(/E_CRASHED/);
  });

  it('--isolation inline runs it in the CLI process, which the same agent aborts', () => {
    const run = isokernel(
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

  it('refuses an unknown tier as a usage error', () => {
    const run = isokernel('run', abort(), '--isolation', 'threads');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--isolation must be 'process' or 'inline'/);
  });
});

import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, type Workspace, workspace } from '../helpers/cli-process.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';

// Each CLI call is a real process (about a second under load), so tests get a longer timeout.
// Real `isokernel run` processes with the built-in tools: fs confined to --root, proc from the policy's
// tools.proc, http with the policy's tools.http. Each test has its own temp dir with the store inside it.

/** Tries each fs call in order and reports `ok` with the result or the error code. */
const FS_PROBE = `
export default async function main(calls) {
  const out = [];
  for (const [tool, args] of calls) {
    try {
      out.push({ ok: await sys.tool(tool, args) });
    } catch (error) {
      out.push({ code: error.code });
    }
  }
  return out;
}
`;

type Probe = ({ ok: unknown } | { code: string })[];

let ws: Workspace;
beforeEach(() => {
  ws = workspace();
});
afterEach(() => ws.cleanup());

/** A policy granting fs.read and fs.write on everything under the workspace: only the roots confine. */
function fsPolicy(): string {
  return ws.policy({
    capabilities: [
      { action: 'fs.read', resource: `${ws.dir}/**` },
      { action: 'fs.write', resource: `${ws.dir}/**` },
    ],
  });
}

describe('isokernel run --root', { timeout: 90_000 }, () => {
  it('lets fs.write and fs.read act inside the root and refuses paths outside it and symlinks out of it', async () => {
    writeFileSync(join(ws.outside, 'secret.txt'), 'secret');
    symlinkSync(ws.outside, join(ws.root, 'link'));
    symlinkSync(join(ws.outside, 'secret.txt'), join(ws.root, 'secret-link.txt'));
    const agent = ws.file('agent.js', FS_PROBE);
    const calls = [
      ['fs.write', { path: join(ws.root, 'notes.txt'), content: 'hello' }],
      ['fs.read', { path: join(ws.root, 'notes.txt') }],
      ['fs.write', { path: 'relative.txt', content: 'rel' }],
      ['fs.write', { path: join(ws.outside, 'x.txt'), content: 'x' }],
      ['fs.write', { path: '../outside/y.txt', content: 'y' }],
      ['fs.write', { path: join(ws.root, 'link', 'z.txt'), content: 'z' }],
      ['fs.read', { path: join(ws.root, 'secret-link.txt') }],
      ['fs.read', { path: join(ws.root, 'link', 'secret.txt') }],
      ['fs.read', { path: join(ws.outside, 'secret.txt') }],
    ];
    const run = await ws.run([
      'run',
      agent,
      '--policy',
      fsPolicy(),
      '--root',
      ws.root,
      '--store',
      ws.store,
      '--input',
      JSON.stringify(calls),
    ]);
    expect(run.status, run.stderr).toBe(0);
    const out = json<Probe>(run);
    expect(out[0]).toEqual({
      ok: { path: join(ws.root, 'notes.txt'), bytes: 5, recordId: expect.stringMatching(/^u_[0-9a-f]{32}$/) },
    });
    expect(out[1]).toEqual({ ok: { content: 'hello' } });
    expect(out[2]).toMatchObject({ ok: { path: join(ws.root, 'relative.txt') } });
    expect(out.slice(3)).toEqual(Array(6).fill({ code: 'E_CAP_DENIED' }));
    expect(readFileSync(join(ws.root, 'notes.txt'), 'utf8')).toBe('hello');
    expect(readdirSync(ws.outside)).toEqual(['secret.txt']);
  });

  it('fails an agent that lets the refusal of a write outside the root go uncaught, and audits E_CAP_DENIED', async () => {
    const agent = ws.file('agent.js', 'export default (path) => sys.tool("fs.write", { path, content: "x" });');
    const target = join(ws.outside, 'escaped.txt');
    const run = await ws.run([
      'run',
      agent,
      '--policy',
      fsPolicy(),
      '--root',
      ws.root,
      '--store',
      ws.store,
      '--input',
      JSON.stringify(target),
    ]);
    expect(run.status).toBe(1);
    // The agent's own uncaught throw ends it with E_AGENT_FAILED; the refusal's message comes along.
    expect(json(run)).toEqual({
      error: { code: 'E_AGENT_FAILED', message: `fs.write: "${target}" is outside the directories this kernel serves` },
    });
    expect(existsSync(target)).toBe(false);
    const denied = await ws.run(['audit', 'show', join(ws.store, 'audit.jsonl'), '--status', 'denied']);
    expect(denied.status).toBe(0);
    expect(denied.stdout).toMatch(/fs\.write\s+\S+\s+denied\s+E_CAP_DENIED/);
    const exported = await ws.run(['audit', 'export', join(ws.store, 'audit.jsonl'), '--format', 'agent-kernel']);
    const rows = exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows).toContainEqual(
      expect.objectContaining({ action: 'fs.write', target, status: 'DENIED', error: 'E_CAP_DENIED' }),
    );
  });

  it('uses the current directory of the process as the root when --root is absent', async () => {
    const agent = ws.file('agent.js', FS_PROBE);
    const calls = [
      ['fs.write', { path: 'here.txt', content: 'cwd' }],
      ['fs.write', { path: join(ws.outside, 'no.txt'), content: 'no' }],
      ['fs.write', { path: join(ws.dir, 'parent.txt'), content: 'no' }],
    ];
    const run = await ws.run(
      ['run', agent, '--policy', fsPolicy(), '--store', ws.store, '--input', JSON.stringify(calls)],
      ws.root,
    );
    expect(run.status, run.stderr).toBe(0);
    const out = json<Probe>(run);
    expect(out[0]).toMatchObject({ ok: { path: join(ws.root, 'here.txt') } });
    expect(out.slice(1)).toEqual([{ code: 'E_CAP_DENIED' }, { code: 'E_CAP_DENIED' }]);
    expect(readFileSync(join(ws.root, 'here.txt'), 'utf8')).toBe('cwd');
    expect(existsSync(join(ws.dir, 'parent.txt'))).toBe(false);
  });

  it('accepts --root more than once: every root is usable, relative paths resolve against the first', async () => {
    const second = join(ws.dir, 'second');
    mkdirSync(second);
    const agent = ws.file('agent.js', FS_PROBE);
    const calls = [
      ['fs.write', { path: join(ws.root, 'a.txt'), content: 'a' }],
      ['fs.write', { path: join(second, 'b.txt'), content: 'b' }],
      ['fs.write', { path: 'c.txt', content: 'c' }],
      ['fs.write', { path: join(ws.outside, 'd.txt'), content: 'd' }],
    ];
    const run = await ws.run([
      'run',
      agent,
      '--policy',
      fsPolicy(),
      '--root',
      ws.root,
      '--root',
      second,
      '--store',
      ws.store,
      '--input',
      JSON.stringify(calls),
    ]);
    expect(run.status, run.stderr).toBe(0);
    const out = json<Probe>(run);
    expect(out.slice(0, 3).map((entry) => 'ok' in entry)).toEqual([true, true, true]);
    expect(out[3]).toEqual({ code: 'E_CAP_DENIED' });
    expect(readFileSync(join(second, 'b.txt'), 'utf8')).toBe('b');
    expect(readFileSync(join(ws.root, 'c.txt'), 'utf8')).toBe('c');
    expect(readdirSync(ws.outside)).toEqual([]);
  });

  it('exits 2 when a --root is not a directory', async () => {
    const agent = ws.file('agent.js', 'export default () => 1;');
    const run = await ws.run(['run', agent, '--root', join(ws.dir, 'missing'), '--store', ws.store]);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
  });
});

describe('isokernel run with tools.proc', { timeout: 90_000 }, () => {
  const EXEC = `
export default async function main() {
  const out = {};
  for (const program of ['echo', 'git', 'no-such-program']) {
    try {
      // git runs only its own subcommands for agents: \`git version\` shows it ran.
      out[program] = await sys.tool('proc.exec', { program, args: program === 'git' ? ['version'] : ['hello', 'world'] });
    } catch (error) {
      out[program] = { code: error.code, message: error.message };
    }
  }
  return out;
}
`;

  it('runs a configured program the policy grants, one it grants by name only (found on the PATH), and warns of one found nowhere', async () => {
    const policy = ws.policy({
      capabilities: [
        { action: 'proc.exec', resource: 'echo' },
        { action: 'proc.exec', resource: 'git' },
        { action: 'proc.exec', resource: 'no-such-program' },
      ],
      tools: { proc: { programs: { echo: { path: '/bin/echo' } } } },
    });
    const agent = ws.file('agent.js', EXEC);
    const run = await ws.run(['run', agent, '--policy', policy, '--root', ws.root, '--store', ws.store]);
    expect(run.status, run.stderr).toBe(0);
    const out = json<Record<string, Record<string, unknown>>>(run);
    expect(out['echo']).toMatchObject({ exit_code: 0, signal: null, stdout: 'hello world\n', timed_out: false });
    // `git version` ran: granted by name, resolved on the PATH.
    expect(out['git']).toMatchObject({ exit_code: 0, signal: null, timed_out: false });
    expect(out['git']!['stdout']).toMatch(/^git version /);
    expect(out['no-such-program']).toEqual({
      code: 'E_NO_TOOL',
      message: 'proc.exec: "no-such-program" was not found on the host when the policy was loaded',
    });
    expect(run.stderr).toMatch(/isokernel run: warning: proc\.exec "no-such-program" is granted by the policy/);
  });

  it('refuses a configured program without a proc.exec capability for it', async () => {
    const policy = ws.policy({ capabilities: [], tools: { proc: { programs: { echo: { path: '/bin/echo' } } } } });
    const agent = ws.file('agent.js', EXEC);
    const run = await ws.run(['run', agent, '--policy', policy, '--root', ws.root, '--store', ws.store]);
    expect(run.status, run.stderr).toBe(0);
    const out = json<Record<string, Record<string, unknown>>>(run);
    expect(out['echo']).toMatchObject({ code: 'E_CAP_DENIED' });
    expect(out['git']).toMatchObject({ code: 'E_CAP_DENIED' });
  });
  it('exits 2 when a configured program is not an executable file', async () => {
    const policy = ws.policy({
      capabilities: [],
      tools: { proc: { programs: { echo: { path: join(ws.outside, 'no-such-echo') } } } },
    });
    const agent = ws.file('agent.js', EXEC);
    const run = await ws.run(['run', agent, '--policy', policy, '--root', ws.root, '--store', ws.store]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/programs\.echo\.path/);
  });
});

describe('isokernel run with tools.http', { timeout: 90_000 }, () => {
  let server: TestServer;
  beforeEach(async () => {
    server = await startTestServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`hello from ${req.url}`);
    });
  });
  afterEach(() => server.close());

  const FETCH = `
export default async function main(url) {
  try {
    const response = await sys.tool('net.http', { url });
    return { status: response.status, body: response.body };
  } catch (error) {
    return { code: error.code };
  }
}
`;

  function httpPolicy(allowPrivate: boolean): string {
    return ws.policy({
      capabilities: [{ action: 'net.http', resource: `${server.origin}/**` }],
      ...(allowPrivate ? { tools: { http: { allow_private: ['127.0.0.1/32'] } } } : {}),
    });
  }

  it('fetches a loopback server when the policy allows 127.0.0.1/32', async () => {
    const agent = ws.file('agent.js', FETCH);
    const run = await ws.run([
      'run',
      agent,
      '--policy',
      httpPolicy(true),
      '--store',
      ws.store,
      '--input',
      JSON.stringify(`${server.origin}/ping`),
    ]);
    expect(run.status, run.stderr).toBe(0);
    expect(json(run)).toEqual({ status: 200, body: 'hello from /ping' });
    expect(server.requests.map((req) => `${req.method} ${req.url}`)).toEqual(['GET /ping']);
  });

  it('refuses the same fetch without allow_private, before connecting', async () => {
    const agent = ws.file('agent.js', FETCH);
    const run = await ws.run([
      'run',
      agent,
      '--policy',
      httpPolicy(false),
      '--store',
      ws.store,
      '--input',
      JSON.stringify(`${server.origin}/ping`),
    ]);
    expect(run.status, run.stderr).toBe(0);
    expect(json(run)).toEqual({ code: 'E_CAP_DENIED' });
    expect(server.connections()).toBe(0);
  });
});

describe('isokernel run --program', { timeout: 90_000 }, () => {
  it('registers a program an agent spawns by name and joins', async () => {
    const child = ws.file('child.js', 'export default (input) => ({ doubled: input.n * 2, who: "child" });');
    const agent = ws.file(
      'agent.js',
      `export default async function main() {
        const id = await sys.spawn({ program: 'doubler', input: { n: 21 } });
        return { joined: await sys.join(id) };
      }`,
    );
    const run = await ws.run(['run', agent, '--program', `doubler=${child}`, '--store', ws.store]);
    expect(run.status, run.stderr).toBe(0);
    expect(json(run)).toEqual({ joined: { doubled: 42, who: 'child' } });
  });

  it('fails the spawn of a program that was not registered', async () => {
    const agent = ws.file(
      'agent.js',
      `export default async () => {
        try { return await sys.spawn({ program: 'nope' }); } catch (error) { return { code: error.code, message: error.message }; }
      }`,
    );
    const run = await ws.run(['run', agent, '--store', ws.store]);
    expect(run.status, run.stderr).toBe(0);
    expect(json(run)).toMatchObject({ message: 'sys.spawn: no program named "nope"' });
  });

  it('exits 2 on a malformed --program or a program file that does not exist', async () => {
    const agent = ws.file('agent.js', 'export default () => 1;');
    const child = ws.file('child.js', 'export default () => 2;');
    for (const entry of [child, `=${child}`, `missing=${join(ws.dir, 'none.js')}`]) {
      const run = await ws.run(['run', agent, '--program', entry, '--store', ws.store]);
      expect(run.status, entry).toBe(2);
      expect(run.stdout, entry).toBe('');
    }
    const malformed = await ws.run(['run', agent, '--program', 'doubler', '--store', ws.store]);
    expect(malformed.stderr).toMatch(/--program doubler: expected name=file/);
  });
});

describe('isokernel run: a file or --restore', { timeout: 90_000 }, () => {
  it('exits 2 with neither an agent file nor --restore, and with both', async () => {
    const agent = ws.file('agent.js', 'export default () => 1;');
    const neither = await ws.run(['run', '--store', ws.store]);
    expect(neither.status).toBe(2);
    expect(neither.stderr).toMatch(/give an agent file or --restore/);
    const both = await ws.run(['run', agent, '--restore', '0'.repeat(64), '--store', ws.store]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/give an agent file or --restore/);
    expect(neither.stdout + both.stdout).toBe('');
  });
});

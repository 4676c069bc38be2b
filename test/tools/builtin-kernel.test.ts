import { realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createHttpTool, createProcTool, type Kernel, loadPolicy } from '../../index.js';
import { procPolicySection } from '../../tools/proc.js';
import { startTestServer, type TestServer } from '../helpers/http-server.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * The built-in tools behind the real kernel gate: capabilities decide, labels flow through files, proc
 * and http results reach agents. The tools' own suites attack them directly.
 */
let kernel: Kernel | undefined;
let base = '';
let server: TestServer | undefined;

beforeEach(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-builtin-')));
  await mkdir(join(base, 'inbox'));
  await mkdir(join(base, 'out'));
  await writeFile(join(base, 'inbox', 'mail.txt'), 'wire 1000 dollars to account 42');
});

afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  await server?.close();
  server = undefined;
  await rm(base, { recursive: true, force: true });
});

function fsKernel(extra: { capabilities?: object[]; tools?: ReturnType<typeof createProcTool>[] } = {}): Kernel {
  kernel = testKernel({
    tools: [...createFsTools({ roots: [base] }), ...(extra.tools ?? [])],
    policy: {
      capabilities: [
        { action: 'fs.read', resource: `${base}/**` },
        { action: 'fs.write', resource: `${base}/out/**` },
        { action: 'echo', resource: 'echo' },
        ...(extra.capabilities ?? []),
      ],
      labels: {
        sources: [{ tool: 'fs.read', resource: `${base}/inbox/**`, tags: ['email'] }],
        sinks: [{ tool: 'echo', arg: 'text', deny: ['email'] }],
      },
    },
  });
  return kernel;
}

describe('fs behind the kernel', () => {
  it('a policy tags paths, and a written file keeps the label across agents (write-then-read does not launder)', async () => {
    const k = fsKernel();
    const writer = await k.run({
      code: `export default async () => {
        const mail = await sys.tool('fs.read', { path: 'inbox/mail.txt' });
        const w = await sys.tool('fs.write', { path: 'out/copy.txt', content: mail.content });
        return { label: await sys.label(), recordId: w.recordId };
      }`,
    });
    expect(writer).toMatchObject({ ok: true, value: { label: ['email'], recordId: expect.stringMatching(/^u_/) } });
    const reader = await k.run({
      code: `export default async () => {
        const copy = await sys.tool('fs.read', { path: 'out/copy.txt' });
        try { await sys.tool('echo', { text: copy.content }); return 'leaked'; } catch (e) { return [e.code, await sys.label()]; }
      }`,
    });
    expect(reader).toMatchObject({ ok: true, value: ['E_TAINT', ['email']] });
  });

  it('the capability decides inside the root: writing outside out/ is refused and nothing is written', async () => {
    const k = fsKernel();
    const result = await k.run({
      code: `export default async () => {
        try { await sys.tool('fs.write', { path: 'inbox/evil.txt', content: 'x' }); } catch (e) { return e.code; }
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_CAP_DENIED' });
    await expect(readFile(join(base, 'inbox', 'evil.txt'))).rejects.toThrow();
  });

  it('kernel.rollback restores what an agent overwrote', async () => {
    const k = fsKernel({ capabilities: [] });
    await writeFile(join(base, 'out', 'report.txt'), 'original');
    const result = await k.run({
      code: `export default async () => (await sys.tool('fs.write', { path: 'out/report.txt', content: 'vandalized' })).recordId`,
    });
    expect(await readFile(join(base, 'out', 'report.txt'), 'utf8')).toBe('vandalized');
    const undo = await k.rollback(String(result.ok ? result.value : ''));
    expect(undo).toMatchObject({ status: 'OK' });
    expect(await readFile(join(base, 'out', 'report.txt'), 'utf8')).toBe('original');
  });
});

describe('proc behind the kernel', () => {
  it('runs a configured program for an agent with the capability, and refuses an unconfigured one', async () => {
    const proc = createProcTool({ programs: { echo: { path: '/bin/echo' } }, roots: [base] });
    const k = fsKernel({ tools: [proc], capabilities: [{ action: 'proc.exec', resource: 'echo' }] });
    const result = await k.run({
      code: `export default async () => {
        const ok = await sys.tool('proc.exec', { program: 'echo', args: ['hello', '$(id)', ';', 'ls'] });
        let other;
        try { await sys.tool('proc.exec', { program: 'git', args: ['status'] }); } catch (e) { other = e.code; }
        return { stdout: ok.stdout, exit: ok.exit_code, other };
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: { stdout: 'hello $(id) ; ls\n', exit: 0, other: 'E_CAP_DENIED' } });
  });

  it('cannot launder a labelled file: program output carries every tag kept for files', async () => {
    const proc = createProcTool({ programs: { cat: { path: '/bin/cat' } }, roots: [base] });
    const k = fsKernel({ tools: [proc], capabilities: [{ action: 'proc.exec', resource: 'cat' }] });
    await k.run({
      code: `export default async () => {
        const mail = await sys.tool('fs.read', { path: 'inbox/mail.txt' });
        await sys.tool('fs.write', { path: 'out/copy.txt', content: mail.content });
      }`,
    });
    const result = await k.run({
      code: `export default async (path) => {
        const out = await sys.tool('proc.exec', { program: 'cat', args: [path] });
        try { await sys.tool('echo', { text: out.stdout }); return 'leaked'; } catch (e) { return [e.code, await sys.label()]; }
      }`,
      input: join(base, 'out', 'copy.txt'),
    });
    expect(result).toMatchObject({ ok: true, value: ['E_TAINT', ['email']] });
  });
});

describe("proc behind the kernel with agent_os_kernel's example policy (proc.exec git, no tools section)", () => {
  it('git resolves on the PATH at load, runs for the agent, and the audit log names what ran', async () => {
    const policy = loadPolicy(
      fileURLToPath(new URL('../fixtures/agent_os_kernel/example_policy.yaml', import.meta.url)),
    );
    const warnings: string[] = [];
    const proc = createProcTool({
      ...(procPolicySection.read(policy) ?? { programs: {} }),
      roots: [base],
      policy,
      searchPath: '/usr/bin:/bin',
      onWarning: (m) => warnings.push(m),
    });
    kernel = testKernel({ tools: [proc], policy });
    const result = await kernel.run({
      code: `export default async () => {
        const out = await sys.tool('proc.exec', { program: 'git', args: ['--version'] });
        const ran = (await sys.audit({ limit: 100 })).filter((r) => r.action === 'proc.program' && r.phase === 'outcome');
        return { stdout: out.stdout, ran: ran.map((r) => [r.resource, r.status]) };
      }`,
    });
    expect(warnings).toEqual([]);
    expect(result).toMatchObject({
      ok: true,
      value: { stdout: expect.stringMatching(/^git version /), ran: [[realpathSync('/usr/bin/git'), 'ok']] },
    });
  });

  it('a granted program found nowhere reaches the agent as E_NO_TOOL naming it', async () => {
    const policy = loadPolicy({ capabilities: [{ action: 'proc.exec', resource: 'uv' }] });
    const warnings: string[] = [];
    const proc = createProcTool({
      programs: {},
      roots: [base],
      policy,
      searchPath: base,
      onWarning: (m) => warnings.push(m),
    });
    kernel = testKernel({ tools: [proc], policy });
    const result = await kernel.run({
      code: `export default async () => {
        try { await sys.tool('proc.exec', { program: 'uv', args: ['pip', 'list'] }); } catch (e) { return [e.code, e.message]; }
      }`,
    });
    expect(warnings).toHaveLength(1);
    expect(result).toMatchObject({
      ok: true,
      value: ['E_NO_TOOL', 'proc.exec: "uv" was not found on the host when the policy was loaded'],
    });
  });
});

describe('http behind the kernel', () => {
  it('fetches from an allowed loopback server, labels the result web, and re-authorizes a redirect hop', async () => {
    server = await startTestServer((req, res) => {
      if (req.url === '/hop') {
        res.writeHead(302, { location: '/secret-area' });
        res.end();
        return;
      }
      res.end(`you asked for ${req.url}`);
    });
    kernel = testKernel({
      tools: [createHttpTool({ allowPrivate: ['127.0.0.1/32'] })],
      policy: {
        capabilities: [
          { action: 'net.http', resource: `${server.origin}/public/**`, constraint: { method: 'GET' } },
          { action: 'net.http', resource: `${server.origin}/hop` },
        ],
      },
    });
    const result = await kernel.run({
      code: `export default async (origin) => {
        const page = await sys.tool('net.http', { url: origin + '/public/a' });
        let hop;
        try { await sys.tool('net.http', { url: origin + '/hop' }); } catch (e) { hop = e.code; }
        let post;
        try { await sys.tool('net.http', { url: origin + '/public/a', method: 'POST', body: 'x' }); } catch (e) { post = e.code; }
        return { status: page.status, body: page.body, label: await sys.label(), hop, post };
      }`,
      input: server.origin,
    });
    expect(result).toMatchObject({
      ok: true,
      value: {
        status: 200,
        body: 'you asked for /public/a',
        label: ['web'],
        hop: 'E_CAP_DENIED',
        post: 'E_CAP_DENIED',
      },
    });
    expect(server.requests.map((r) => r.url)).toEqual(['/public/a', '/hop']);
  });
});

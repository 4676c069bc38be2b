import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, type Kernel } from '../../index.js';
import { createMcpTool } from '../../tools/mcp.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

/**
 * Red-team pass 87: an MCP server the policy starts is a host program that reads and writes files the kernel
 * labels, out of its sight. Its answers carried only `mcp:<server>` and what it had been sent: a clean agent read
 * a `web` writer's file, and an `inbox/**` file, through the server and sent them to a sink refusing both. A file
 * a `web` agent had the server write read clean with fs.read. Both now go as they do for proc.exec.
 */

const SERVER = fileURLToPath(new URL('../fixtures/mcp/file-server.mjs', import.meta.url));
const SLOW_SERVER = fileURLToPath(new URL('../fixtures/mcp/slow-copy-server.mjs', import.meta.url));

// Reads a value, then sends it to a sink that refuses web and inbox.
const SEND = (expr: string) => `export default async () => {
  const value = await (${expr});
  try { await sys.tool('echo', { text: value }); return { sent: value, label: await sys.label() }; }
  catch (e) { return { refused: e.code, label: await sys.label() }; }
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let base = '';
  let root = '';
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-mcp-files-')));
    root = join(base, 'root');
    await mkdir(join(root, 'inbox'), { recursive: true });
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  function make(sources = true): Kernel {
    kernel = testKernel({
      isolation,
      tools: [
        ...createFsTools({ roots: [root] }),
        createMcpTool({
          servers: {
            files: { command: process.execPath, args: [SERVER], cwd: root, timeout_ms: 10_000 },
            slow: { command: process.execPath, args: [SLOW_SERVER], cwd: root, timeout_ms: 10_000 },
          },
        }),
      ],
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'mcp.call', resource: '*/*' },
          { action: 'echo', resource: 'echo' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
        labels: {
          sources: sources ? [{ tool: 'fs.read', resource: `${root}/inbox/**`, tags: ['inbox'] }] : [],
          sinks: [{ tool: 'echo', arg: 'text', deny: ['web', 'inbox'] }],
        },
      },
    });
    return kernel;
  }

  const viaServer = (path: string) =>
    `sys.tool('mcp.call', { server: 'files', tool: 'read_file', arguments: { path: '${path}' } }).then((r) => r.content[0])`;

  it('a file a web agent wrote, read through the server, carries web', async () => {
    const k = make();
    const writer = await k.run({
      label: ['web'],
      code: `export default async () => { await sys.tool('fs.write', { path: 'a.txt', content: 'WEB-PAYLOAD' }); }`,
    });
    expect(writer.ok).toBe(true);
    const read = await k.run({ code: SEND(viaServer('a.txt')) });
    expect(read).toMatchObject({ ok: true, value: { refused: 'E_TAINT' } });
    expect((read as { value: { label: string[] } }).value.label).toContain('web');
  });

  it('a file under a policy source, read through the server, carries the source tag', async () => {
    const k = make();
    await writeFile(join(root, 'inbox', 'mail.txt'), 'INBOX-PAYLOAD');
    const read = await k.run({ code: SEND(viaServer('inbox/mail.txt')) });
    expect(read).toMatchObject({ ok: true, value: { refused: 'E_TAINT' } });
    expect((read as { value: { label: string[] } }).value.label).toContain('inbox');
  });

  it('a file a web agent had the server write carries web when read with fs.read', async () => {
    const k = make();
    const writer = await k.run({
      label: ['web'],
      code: `export default async () => sys.tool('mcp.call', { server: 'files', tool: 'write_file', arguments: { path: 'b.txt', text: 'WEB-PAYLOAD-B' } })`,
    });
    expect(writer.ok).toBe(true);
    expect(await readFile(join(root, 'b.txt'), 'utf8')).toBe('WEB-PAYLOAD-B');
    const read = await k.run({ code: SEND(`sys.tool('fs.read', { path: 'b.txt' }).then((r) => r.content)`) });
    expect(read).toMatchObject({ ok: true, value: { refused: 'E_TAINT' } });
  });

  // A source on any path tags every answer, as it does proc.exec's output: the server may have read that path.
  it('benign twin: with no labelled file, call or source, the answer is only mcp:files and may be sent', async () => {
    const k = make(false);
    await writeFile(join(root, 'plain.txt'), 'PLAIN');
    const read = await k.run({ code: SEND(viaServer('plain.txt')) });
    expect(read).toMatchObject({ ok: true, value: { sent: 'PLAIN', label: ['mcp:files'] } });
  });

  it('a server still at work on a call its agent gave up on writes files that carry what was kept meanwhile', async () => {
    const k = make(false);
    // The server started first, so that the call reaches it before the child's end.
    const warm = await k.run({
      code: `export default async () => sys.tool('mcp.call', { server: 'slow', tool: 'copy_slowly', arguments: { src: '/dev/null', dst: 'warm.txt', ms: 0 } })`,
    });
    expect(warm.ok).toBe(true);
    // A clean agent's child asks the server to copy a.txt to b.txt in 1.5 s, and is ended at 0.3 s.
    const copier = await k.run({
      code: `export default async () => {
        const child = await sys.spawn({
          code: \`export default async () => sys.tool('mcp.call', { server: 'slow', tool: 'copy_slowly', arguments: { src: 'a.txt', dst: 'b.txt', ms: 1500 } })\`,
          caps: [{ action: 'mcp.call', resource: 'slow/*' }], budget: { wall_ms: 300 } });
        try { return await sys.join(child); } catch (e) { return e.code; }
      }`,
    });
    expect(copier).toMatchObject({ ok: true, value: 'E_QUOTA' });
    // The kernel is done with the cut call; then a web agent writes a.txt, and the server copies it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const writer = await k.run({
      label: ['web'],
      code: `export default async () => { await sys.tool('fs.write', { path: 'a.txt', content: 'WEB-PAYLOAD' }); }`,
    });
    expect(writer.ok).toBe(true);
    const started = Date.now();
    while (Date.now() - started < 5000) {
      const copied = await readFile(join(root, 'b.txt'), 'utf8').catch(() => '');
      if (copied === 'WEB-PAYLOAD') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await readFile(join(root, 'b.txt'), 'utf8')).toBe('WEB-PAYLOAD');
    const read = await k.run({ code: SEND(`sys.tool('fs.read', { path: 'b.txt' }).then((r) => r.content)`) });
    expect(read).toMatchObject({ ok: true, value: { refused: 'E_TAINT' } });
    expect((read as { value: { label: string[] } }).value.label).toContain('web');
  });
});

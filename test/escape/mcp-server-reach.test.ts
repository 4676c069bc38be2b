import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMcpTool, type Kernel } from '../../index.js';
import { packageRoot } from '../../runtime/core/package-root.js';
import { sandboxSupport } from '../../tools/proc-sandbox.js';
import { testKernel } from '../helpers/kernel.js';

/**
 * Attack: an MCP server the host configured for one directory reads and writes anywhere the host user can. A
 * filesystem server's tools take paths from the caller (the model), so an agent read a host file outside the
 * workspace and wrote one outside it. A server configured with `sandbox` runs confined (tools/proc-sandbox.ts):
 * writes only in `sandbox.write`, reads only `sandbox.read`, the system directories, its cwd and its command.
 */

const SERVER = fileURLToPath(new URL('../fixtures/mcp/file-server.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'server-secret-51c2';
// What the fixture server needs to read: its code, its packages, and the package.json that scopes them (Node 24
// refuses to load a module whose package scope it cannot read; Node 20 skipped it).
const SERVER_READS = [join(REPO, 'test'), join(REPO, 'node_modules'), join(REPO, 'package.json')];
const support = sandboxSupport();

describe.skipIf(!support.available)('an MCP server reaching beyond its workspace', () => {
  let base = '';
  let root = '';
  let kernel: Kernel | undefined;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-mcp-reach-')));
    root = join(base, 'work');
    await mkdir(root);
    await writeFile(join(base, 'secret.txt'), SECRET);
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  async function calls(confined: boolean): Promise<unknown[]> {
    kernel = testKernel({
      isolation: 'inline',
      tools: [
        createMcpTool({
          servers: {
            files: {
              command: process.execPath,
              args: [SERVER],
              cwd: root,
              timeout_ms: 10_000,
              // The server's own code and its packages are read-only; the workspace is its to write.
              ...(confined ? { sandbox: { write: [root], read: SERVER_READS } } : {}),
            },
          },
        }),
      ],
      policy: { capabilities: [{ action: 'mcp.call', resource: 'files/*' }] },
    });
    const result = await kernel.run({
      input: JSON.stringify([
        ['read_file', { path: join(base, 'secret.txt') }],
        ['write_file', { path: join(base, 'escaped.txt'), text: 'x' }],
        ['write_file', { path: join(root, 'inside.txt'), text: 'in' }],
        ['read_file', { path: join(root, 'inside.txt') }],
      ]),
      code: `export default async (input) => {
        const out = [];
        for (const [tool, args] of JSON.parse(input)) {
          try { out.push({ ok: (await sys.tool('mcp.call', { server: 'files', tool, arguments: args })).content }); }
          catch (e) { out.push({ code: e.code }); }
        }
        return out;
      }`,
    });
    if (!result.ok) throw new Error(`run failed: ${JSON.stringify(result.error)}`);
    return result.value as unknown[];
  }

  it('confined: reads and writes only its workspace', async () => {
    const [read, write, inside, back] = await calls(true);
    expect(read).toEqual({ code: 'E_TOOL_FAILED' });
    expect(write).toEqual({ code: 'E_TOOL_FAILED' });
    expect(existsSync(join(base, 'escaped.txt'))).toBe(false);
    expect(inside).toEqual({ ok: ['ok'] });
    expect(back).toEqual({ ok: ['in'] });
    expect(readFileSync(join(root, 'inside.txt'), 'utf8')).toBe('in');
  });

  it('unconfined (no sandbox in its config), the same calls reach the host', async () => {
    const [read] = await calls(false);
    expect(read).toEqual({ ok: [SECRET] });
    expect(existsSync(join(base, 'escaped.txt'))).toBe(true);
  });
});

describe.skipIf(!support.available)("a confined MCP server and the kernel's own files", () => {
  let base = '';
  let kernel: Kernel | undefined;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-mcp-own-')));
    await mkdir(join(base, '.isokernel'));
    await mkdir(join(base, 'work'));
    await writeFile(join(base, '.isokernel', 'root.key'), SECRET);
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  it("never reads the store its working directory holds (the CLI's layout)", async () => {
    // Review 94: the server's cwd (the project, holding `.isokernel`) is readable to it, and the store was not hidden.
    const read = SERVER_READS;
    const server = { command: process.execPath, args: [SERVER], cwd: base, timeout_ms: 10_000 };
    kernel = testKernel({
      isolation: 'inline',
      tools: [
        createMcpTool(
          { servers: { files: { ...server, sandbox: { write: [join(base, 'work')], read } } } },
          { exclude: [join(base, '.isokernel')] },
        ),
      ],
      policy: { capabilities: [{ action: 'mcp.call', resource: 'files/*' }] },
    });
    const result = await kernel.run({
      input: JSON.stringify([join(base, '.isokernel', 'root.key'), join(base, 'work', 'note.txt')]),
      code: `export default async (input) => {
        const [key, note] = JSON.parse(input);
        const call = async (tool, args) => {
          try { return (await sys.tool('mcp.call', { server: 'files', tool, arguments: args })).content; }
          catch (e) { return e.code; }
        };
        return [await call('read_file', { path: key }), await call('write_file', { path: note, text: 'n' })];
      }`,
    });
    // The server runs (its own work succeeds) and the store stays out of its reach.
    expect(result).toMatchObject({ ok: true, value: ['E_TOOL_FAILED', ['ok']] });
  });

  it('refuses a write path that holds the sandbox helper', () => {
    // Review 94: a confined server granted the project rewrote the helper, and the next proc call ran unconfined.
    const server = { command: process.execPath, args: [SERVER], sandbox: { write: [packageRoot()] } };
    expect(() => createMcpTool({ servers: { files: server } })).toThrow(/holds the sandbox helper/);
  });
});

describe.skipIf(!support.available)('a confined MCP server and the process group and sockets of the host', () => {
  let base = '';
  let kernel: Kernel | undefined;
  let daemon: Server | undefined;
  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-mcp-group-')));
  });
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    daemon?.close();
    daemon = undefined;
    await rm(base, { recursive: true, force: true });
  });

  it.each([false, true])('cannot leave its process group or reach a unix socket (network: %s)', async (network) => {
    // Review 101: the proc helper's filter refuses these; a confined server runs under the same helper.
    const socket = join(base, 'daemon.sock');
    const listening = createServer((connection) => connection.end());
    daemon = listening;
    await new Promise<void>((resolve) => listening.listen(socket, resolve));
    const reachServer = fileURLToPath(new URL('../fixtures/mcp/reach-server.mjs', import.meta.url));
    const server = { command: process.execPath, args: [reachServer], cwd: base, timeout_ms: 10_000 };
    const tries = async (confined: boolean): Promise<unknown> => {
      await kernel?.close();
      const sandbox = { read: SERVER_READS, network };
      kernel = testKernel({
        isolation: 'inline',
        tools: [createMcpTool({ servers: { reach: { ...server, ...(confined ? { sandbox } : {}) } } })],
        policy: { capabilities: [{ action: 'mcp.call', resource: 'reach/*' }] },
      });
      const result = await kernel.run({
        input: socket,
        code: `export default async (path) => {
          const out = [];
          for (const what of ['setsid', 'setpgid', 'unix'])
            out.push((await sys.tool('mcp.call', { server: 'reach', tool: 'reach', arguments: { what, path } })).content[0]);
          return out;
        }`,
      });
      return result.ok ? result.value : result.error;
    };
    // Unconfined, each works: the probes are sound.
    expect(await tries(false)).toEqual(['exit 0', 'exit 0', 'connected']);
    const [setsid, setpgid, unix] = (await tries(true)) as string[];
    expect(setsid).toBe('exit 1');
    expect(setpgid).toBe('exit 1');
    expect(unix).toMatch(/^error E(ACCES|PERM)$/);
  });
});

describe('the sandbox option of a server', () => {
  it.skipIf(!support.available)('names a missing path', () => {
    expect(() =>
      createMcpTool({
        servers: { files: { command: process.execPath, args: [SERVER], sandbox: { read: ['/no/such/dir'] } } },
      }),
    ).toThrow(/servers\.files\.sandbox\.read\[0\] must be an existing path/);
  });
});

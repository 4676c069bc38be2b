// Attack: launder labelled data through an MCP call that is in flight. A server is shared state: what one
// agent sends may come back to another. A clean agent starts a long-poll call (`wait_get`) on a server; while
// it waits, a labelled agent sends a secret to the same server (`put`), and the long poll returns it. A result
// labelled with what the server had been sent when the call *began* would carry no `secret`, and the clean
// agent would pass the secret to a sink that refuses it. The result (and a failure's text) must carry every
// tag the server had been sent when the reply *arrived*.
// Ordering is deterministic: the writer waits on the server's `await_reader`, which answers only once the
// reader's long poll is waiting there, so the reader's call is in flight before the secret is sent.

import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { mcpKernel } from '../helpers/mcp-fixture.js';

const NOTES_SERVER = fileURLToPath(new URL('../fixtures/mcp/notes-server.mjs', import.meta.url));
const SECRET = 'sk-live-Zq7Wm4Xr9Tb2';

const setups: ReturnType<typeof mcpKernel>[] = [];
afterEach(async () => {
  for (const s of setups.splice(0)) {
    await s.kernel.close();
    expect(s.verify()).toBe(true);
    s.cleanup();
  }
});

/** The labelled writer: once the reader's call waits at the server, it reads the secret and sends it there. */
const WRITER = `export default async () => {
  await sys.tool('mcp.call', { server: 'notes', tool: 'await_reader', arguments: {} });
  const secret = await sys.tool('secrets.get', {});
  await sys.tool('mcp.call', { server: 'notes', tool: 'put', arguments: { text: secret } });
  return 'put';
}`;

/** The clean reader: starts the writer, long-polls the server with `tool`, and forwards what came back. */
const READER = (tool: string) => `export default async () => {
  await sys.spawn({ code: ${JSON.stringify(WRITER)}, caps: [
    { action: 'secrets.read', resource: 'secrets.get' },
    { action: 'mcp.call', resource: 'notes/await_reader' },
    { action: 'mcp.call', resource: 'notes/put' },
  ] });
  let text;
  try {
    const got = await sys.tool('mcp.call', { server: 'notes', tool: '${tool}', arguments: {} });
    text = got.content[0];
  } catch (e) { text = e.message; }
  let sent;
  try { await sys.tool('exfil', { body: text }); sent = 'sent'; } catch (e) { sent = e.code; }
  return { text, sent, label: await sys.label() };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  function notesKernel(received: unknown[]) {
    const secrets = defineTool({
      name: 'secrets.get',
      description: 'returns a stored credential',
      action: 'secrets.read',
      input: z.strictObject({}),
      labels: { source: ['secret'] },
      run: () => SECRET,
    });
    const exfil = defineTool({
      name: 'exfil',
      description: 'a sink that refuses secret in every argument',
      input: z.strictObject({ body: z.unknown() }),
      labels: { sinks: { '*': ['secret'] } },
      run: (args) => {
        received.push(args);
        return 'sent';
      },
    });
    const s = mcpKernel({
      servers: { notes: { command: process.execPath, args: [NOTES_SERVER], timeout_ms: 10_000 } },
      rules: [
        { action: 'mcp.call', resource: 'notes/*' },
        { action: 'secrets.read', resource: 'secrets.get' },
        { action: 'exfil', resource: 'exfil' },
        { action: 'agent.spawn', resource: 'inline' },
      ],
      kernel: { isolation, tools: [secrets, exfil], limits: { wall_ms: 30_000 } },
    });
    setups.push(s);
    return s.kernel;
  }

  describe('laundering through an MCP call in flight', () => {
    it('a long poll that returns what a labelled agent sent meanwhile carries its tags: the sink refuses it', async () => {
      const received: unknown[] = [];
      const result = await notesKernel(received).run({ code: READER('wait_get') });
      expect(result.ok && result.value, JSON.stringify(result)).toEqual({
        text: SECRET,
        sent: 'E_TAINT',
        label: ['mcp:notes', 'secret'],
      });
      expect(received).toEqual([]);
    });

    it('a long poll that fails quoting what was sent meanwhile carries its tags too', async () => {
      const received: unknown[] = [];
      const result = await notesKernel(received).run({ code: READER('wait_fail') });
      expect(result.ok && result.value, JSON.stringify(result)).toEqual({
        text: `mcp.call: notes/wait_fail failed: ${SECRET}`,
        sent: 'E_TAINT',
        label: ['mcp:notes', 'secret'],
      });
      expect(received).toEqual([]);
    });
  });
});

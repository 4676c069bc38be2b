// Attack: a hostile MCP server spends the kernel's time through what it sends of its own accord (red-team pass 149).
// 1. Requests and notifications: the transport bounded a server's output by bytes per call only, and each ping in
//    them cost the SDK a request context and the kernel a reply. 42,000 pings fit one call's 2 MiB: sixteen calls
//    took 22-36 s of kernel CPU and 2.5 GB, the agent charged under 40 ms, and a neighbour's echo calls waited a
//    second each; a million lines of `1`, not JSON-RPC and skipped uncounted, 9.5 s (review 152). Now
//    MESSAGES_PER_CALL lines per call open; past it the server is a flood and stopped.
// 2. stderr: read and dropped, so a server writing it without end kept the kernel reading at a core's worth of
//    time for as long as it ran. Now it is /dev/null.
// 3. A server that never answers `initialize` held `kernel.close()` for its whole start timeout (26 s measured,
//    and `isokernel run` with it). Now close kills a server still starting.
import { describe, expect, it } from 'vitest';
import { MESSAGES_PER_CALL } from '../../tools/mcp-transport.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { fixtureServer, mcpKernel } from '../helpers/mcp-fixture.js';

const chatter = (count: number, kind: 'ping' | 'log' | 'junk') => `export default async () => {
  try { return await sys.tool('mcp.call', { server: 's', tool: 'chatter', arguments: { count: ${count}, kind: '${kind}' } }); }
  catch (e) { return { code: e.code, message: e.message }; }
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  const world = (server: Record<string, unknown> = fixtureServer()) =>
    mcpKernel({ servers: { s: server }, rules: [{ action: 'mcp.call', resource: 's/*' }], kernel: { isolation } });

  it('closing the kernel stops a server that never answers initialize, without waiting out its start', async () => {
    // A program that reads nothing and never answers: its start would wait max(timeout_ms, 10 s). First in the
    // file, so the SDK is still loading when close comes (review 152: a close then let the start go on).
    const made = world({ command: '/usr/bin/sleep', args: ['600'], timeout_ms: 30_000 });
    try {
      const result = await made.kernel.run({
        code: `export default async () => { sys.tool('mcp.call', { server: 's', tool: 'x', arguments: {} }).catch(() => {}); }`,
      });
      expect(result.ok).toBe(true);
      const started = performance.now();
      await made.kernel.close();
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      made.cleanup();
    }
  }, 60_000);

  for (const kind of ['ping', 'log', 'junk'] as const) {
    it(`a server's own lines (${kind}) within the bound are taken; a flood of them stops it`, async () => {
      const made = world();
      try {
        const honest = await made.kernel.run({ code: chatter(MESSAGES_PER_CALL - 16, kind) });
        expect(honest).toMatchObject({ ok: true, value: { content: [`sent ${MESSAGES_PER_CALL - 16}`] } });
        const flood = await made.kernel.run({ code: chatter(5000, kind) });
        expect(flood).toMatchObject({
          ok: true,
          value: { code: 'E_TOOL_FAILED', message: expect.stringMatching(/exceeds the cap \(it was stopped\)/) },
        });
        // The next call gets a fresh server.
        expect(await made.kernel.run({ code: chatter(1, kind) })).toMatchObject({
          ok: true,
          value: { content: ['sent 1'] },
        });
      } finally {
        await made.kernel.close();
        made.cleanup();
      }
    }, 60_000);
  }

  it("a server's stderr is not the kernel's to read", async () => {
    const made = world();
    try {
      const result = await made.kernel.run({
        code: `export default () => sys.tool('mcp.call', { server: 's', tool: 'stderr_kind', arguments: {} })`,
      });
      expect(result).toMatchObject({ ok: true, value: { content: ['device'] } });
    } finally {
      await made.kernel.close();
      made.cleanup();
    }
  }, 30_000);
});

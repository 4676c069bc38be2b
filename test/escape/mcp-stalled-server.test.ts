// Attack: pile requests on an MCP server that stopped reading its stdin (red-team pass 54). Every request written
// to such a server stayed in the kernel's heap, in the pipe's buffer and the closure waiting for it to drain; the
// server was killed only when a call reached its timeout, and agents whose calls end sooner (a short wall_ms,
// children killed) never let one. Eight 1 MB calls per run grew the kernel by about 16 MB a run, charged to
// nobody, and every later honest call waited out the full timeout. The defense: past MAX_UNREAD_BYTES unread, a
// new message finds the server hung and it is killed (its pending sends settle), so the next call starts a fresh one.
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { fixtureServer, mcpKernel } from '../helpers/mcp-fixture.js';

const MB = 1024 * 1024;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('requests to a server that stopped reading are bounded, and the next call gets a fresh server', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const world = mcpKernel({
      servers: { s: fixtureServer({ timeout_ms: 60_000 }) },
      rules: [{ action: 'mcp.call', resource: 's/*' }],
      kernel: { isolation },
    });
    const { kernel } = world;
    try {
      const stalled = await kernel.run({
        code: `export default async () => { await sys.tool('mcp.call', { server: 's', tool: 'stall', arguments: {} }); }`,
        limits: { wall_ms: 500 },
      });
      expect(stalled).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let run = 0; run < 25; run++) {
        await kernel.run({
          code: `export default async () => {
            const text = 'x'.repeat(1000000);
            await Promise.all(Array.from({ length: 8 }, () => sys.tool('mcp.call', { server: 's', tool: 'echo', arguments: { text } })));
          }`,
          limits: { wall_ms: 300 },
        });
      }
      gc();
      const growth = process.memoryUsage().heapUsed - before;
      // Before: about 16 MB a run kept for good (400 MB here); now at most the bound and what is in flight.
      expect(growth).toBeLessThan(120 * MB);
      // The hung server was killed: an honest call starts a fresh one and is answered, well before its timeout.
      const started = performance.now();
      const honest = await kernel.run({
        code: `export default async () => sys.tool('mcp.call', { server: 's', tool: 'echo', arguments: { text: 'hi' } })`,
        limits: { wall_ms: 30_000 },
      });
      expect(honest).toMatchObject({ ok: true });
      expect(performance.now() - started).toBeLessThan(20_000);
    } finally {
      await kernel.close();
      world.cleanup();
    }
  }, 180_000);
});

// Attack: pile requests on an MCP server that stopped reading its stdin (red-team pass 54). Every request written
// to such a server stayed in the kernel's heap, in the pipe's buffer and the closure waiting for it to drain; the
// server was killed only when a call reached its timeout, and agents whose calls end sooner (a short wall_ms,
// children killed) never let one. Eight 1 MB calls per run grew the kernel by about 16 MB a run, charged to
// nobody. The defense: past MAX_UNREAD_BYTES unread, a new message is refused (the call fails, typed); a server
// that has read nothing for its call timeout while past the bound is hung and killed, so a later call starts a
// fresh one.
// And two ways one agent ended another's call (pass 55): killing the server at the bound (an honest server busy
// for a second was killed by a tree piling 1 MB requests), and one output window for all calls (three concurrent
// 800 KB answers to one agent counted as a flood: the server was killed mid-call for another agent).
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { fixtureServer, mcpKernel } from '../helpers/mcp-fixture.js';

const MB = 1024 * 1024;
const call = (tool: string, args: string) =>
  `sys.tool('mcp.call', { server: 's', tool: ${JSON.stringify(tool)}, arguments: ${args} })`;

async function codeOf(kernel: Kernel, code: string, wall_ms: number): Promise<unknown> {
  const result = await kernel.run({ code, limits: { wall_ms } });
  return result.ok ? result.value : result.error.code;
}

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  // The fixture server as `s`; the call timeout is also how long it may read nothing past the unread bound.
  const world = (timeout_ms: number) =>
    mcpKernel({
      servers: { s: fixtureServer({ timeout_ms }) },
      rules: [
        { action: 'mcp.call', resource: 's/*' },
        { action: 'agent.spawn', resource: 'inline' },
      ],
      kernel: { isolation },
    });

  it('requests to a server that stopped reading are bounded; once hung, a later call gets a fresh server', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const made = world(3000);
    const { kernel } = made;
    try {
      // Started first: a server still starting when the stalling agent's wall time ends never gets the stall (a
      // slow machine took longer than 500 ms to start one), and then reads everything this test sends.
      expect(
        await codeOf(kernel, `export default async () => ${call('echo', "{ text: 'warm' }")}`, 20_000),
      ).toBeDefined();
      expect(await codeOf(kernel, `export default async () => { await ${call('stall', '{}')}; }`, 500)).toBe('E_QUOTA');
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let run = 0; run < 25; run++) {
        await codeOf(
          kernel,
          `export default async () => {
            const text = 'x'.repeat(1000000);
            await Promise.all(Array.from({ length: 8 }, () => ${call('echo', '{ text }')}));
          }`,
          300,
        );
      }
      gc();
      // Before: about 16 MB a run kept for good (400 MB here); now at most the bound and what is in flight.
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(120 * MB);
      // Past its call timeout without reading, the server is hung: killed, and an honest call within two tries
      // is answered by a fresh one.
      await new Promise((resolve) => setTimeout(resolve, 3500));
      const honest = `export default async () => {
        for (let i = 0; i < 2; i++) { try { return await ${call('echo', "{ text: 'hi' }")}; } catch (e) { if (i === 1) throw e; } }
      }`;
      expect(await kernel.run({ code: honest, limits: { wall_ms: 20_000 } })).toMatchObject({ ok: true });
    } finally {
      await kernel.close();
      made.cleanup();
    }
  }, 180_000);

  it("three concurrent answers to one agent are not a flood that ends another agent's call", async () => {
    const made = world(30_000);
    const { kernel } = made;
    try {
      // Another agent's long call: `sleep` answers after 1.5 s.
      const victim = kernel.run({
        code: `export default async () => ${call('sleep', '{ ms: 1500 }')}`,
        limits: { wall_ms: 20_000 },
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Three concurrent answers of 800 KB each (2.4 MB: more than one call's window of 2 MiB).
      const answers = await codeOf(
        kernel,
        `export default async () => {
          const text = 'x'.repeat(800000);
          const out = await Promise.all(Array.from({ length: 3 }, () => ${call('echo', '{ text }')}));
          return out.length;
        }`,
        20_000,
      );
      expect(answers).toBe(3);
      expect(await victim).toMatchObject({ ok: true });
    } finally {
      await kernel.close();
      made.cleanup();
    }
  }, 60_000);

  // A review of pass 55's fix: a call's allowance ended with the call, so the answers to an ended agent's calls,
  // arriving after it, counted against the next agent's call as a flood.
  it("late answers to an ended agent's calls are not a flood that ends the next agent's call", async () => {
    const made = world(30_000);
    const { kernel } = made;
    try {
      expect(
        await codeOf(kernel, `export default async () => ${call('echo', "{ text: 'warm' }")}`, 20_000),
      ).toBeDefined();
      // Blocks the server for 1.5 s, queues eight 800 KB echoes behind it, and ends at 300 ms.
      await codeOf(
        kernel,
        `export default async () => {
          const text = 'x'.repeat(800000);
          await Promise.all([${call('busy', '{ ms: 1500 }')}, ...Array.from({ length: 8 }, () => ${call('echo', '{ text }')})]);
        }`,
        300,
      );
      // Opened after those calls ended, before the server answers them.
      expect(await codeOf(kernel, `export default async () => ${call('sleep', '{ ms: 2500 }')}`, 20_000)).toEqual({
        content: ['slept'],
      });
    } finally {
      await kernel.close();
      made.cleanup();
    }
  }, 60_000);

  it('a server busy on its own thread is not killed by a tree piling requests meanwhile', async () => {
    const made = world(2000);
    const { kernel } = made;
    try {
      expect(
        await codeOf(kernel, `export default async () => ${call('echo', "{ text: 'warm' }")}`, 20_000),
      ).toBeDefined();
      // Idle for longer than the call timeout: the stall clock must not have been running meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      // Busy for 1.5 s, reading nothing; a tree whose children each leave 16 MB of requests unread when they are
      // killed piles up past the bound meanwhile. Its calls are refused (typed); the busy call is answered. Before
      // (pass 55), the third child's send killed the server and the busy call failed.
      const busy = kernel.run({
        code: `export default async () => ${call('busy', '{ ms: 1500 }')}`,
        limits: { wall_ms: 20_000 },
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const CHILD = `export default async () => {
        const text = 'x'.repeat(1000000);
        await Promise.all(Array.from({ length: 16 }, () => ${call('echo', '{ text }')}));
      }`;
      const piled = await codeOf(
        kernel,
        `export default async () => {
          const codes = [];
          for (let i = 0; i < 3; i++) {
            const id = await sys.spawn({ code: ${JSON.stringify(CHILD)}, caps: [{ action: 'mcp.call', resource: 's/echo' }], budget: { wall_ms: 200 } });
            try { await sys.join(id); codes.push('ok'); } catch (e) { codes.push(e.code); }
          }
          return codes;
        }`,
        20_000,
      );
      // In the process tier a host whose isolate thread is still copying a killed child's megabytes when the kill's
      // deadline passes is recycled, and the tree ends E_CRASHED (a slow machine does); the server is what is tested.
      const hostRecycled = isolation === 'process' && piled === 'E_CRASHED';
      if (!hostRecycled) expect(piled).toHaveLength(3);
      expect(await busy).toMatchObject({ ok: true });
    } finally {
      await kernel.close();
      made.cleanup();
    }
  }, 60_000);
});

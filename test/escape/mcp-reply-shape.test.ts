// Attack (red-team pass 68): an MCP server relays a page an outsider wrote as its tool's result, shaped to be
// costly to parse. The SDK's reader parsed every line whole on the kernel's event loop, bounded only in bytes:
// with the cap raised to 8 MiB, a reply of empty arrays held the loop 0.4 s and took 123 MB of heap, one nested
// millions deep 1.1 s and 241 MB (the parse charged to nobody); at 64 MiB, 12.7 s and 1 GB. A message is now
// shape-checked before it is parsed (depth 64, 250,000 values), and refused as a flood past it.
// The same reader bounded its buffer, not a line: an answer near the cap followed by the next in one pipe read
// was a flood too, so one agent's calls ended another's (15 of 16 answers just under 1 MiB failed).
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { mcpKernel } from '../helpers/mcp-fixture.js';
import { longestGap } from '../helpers/stall.js';

const MiB = 1024 * 1024;
const RELAY = fileURLToPath(new URL('../fixtures/mcp/relay-server.mjs', import.meta.url));
// Well above reading and scanning 8 MiB, well below the 1.1 s a parse took.
const STALL_BOUND_MS = 400;

let made: ReturnType<typeof mcpKernel> | undefined;
afterEach(async () => {
  await made?.kernel.close();
  made?.cleanup();
  made = undefined;
});

function relayKernel(capBytes?: number): Kernel {
  const cap = capBytes === undefined ? {} : { max_output_bytes: capBytes };
  made = mcpKernel({
    servers: { relay: { command: process.execPath, args: [RELAY], timeout_ms: 60_000, ...cap } },
    rules: [{ action: 'mcp.call', resource: 'relay/*' }],
    kernel: { isolation: 'process' },
  });
  return made.kernel;
}

/** An agent making `count` calls at once for pages of `shape` and `bytes`: what each answered. */
const fetching = (count: number, shape: string, bytes: number, handle: boolean) => `export default async () => {
  const calls = Array.from({ length: ${count} }, () => sys.tool('mcp.call', { server: 'relay', tool: 'fetch', arguments: { shape: '${shape}', bytes: ${bytes} } }${handle ? ', { handle: true }' : ''}));
  return (await Promise.allSettled(calls)).map((call) => (call.status === 'fulfilled' ? 'ok' : call.reason.message));
}`;

const FLOOD = "mcp.call: relay/fetch: the server's output exceeds the cap (it was stopped)";

it.each([
  ['wide', false],
  ['deep', true],
] as const)(
  'attack: an 8 MiB reply of %s arrays is refused before it is parsed, and the loop keeps turning',
  async (shape, handle) => {
    const kernel = relayKernel(8 * MiB);
    const { value: result, gapMs } = await longestGap(() =>
      kernel.run({ code: fetching(1, shape, 8 * MiB - 200, handle), limits: { wall_ms: 60_000, memory_mb: 128 } }),
    );
    expect(result).toMatchObject({ ok: true, value: [FLOOD] });
    expect(gapMs).toBeLessThan(STALL_BOUND_MS);
  },
);

it('sixteen answers just under the 1 MiB cap at once are answers, not a flood', async () => {
  const kernel = relayKernel();
  const result = await kernel.run({
    code: fetching(16, 'text', MiB - 200, true),
    limits: { wall_ms: 60_000, memory_mb: 128 },
  });
  expect(result).toMatchObject({ ok: true, value: Array(16).fill('ok') });
});

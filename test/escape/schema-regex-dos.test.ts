// Attack: freeze the kernel through a JSON Schema. An MCP server declares a tool whose argument has a
// `pattern` that backtracks exponentially on a near miss (`^([a-z0-9]+-?)+$`, the kind of pattern a server
// author writes); the kernel checks an agent's arguments against that schema in its own process before the
// server sees them. An agent that sends 'aaa…a!' would stop the kernel's event loop (every agent, the
// watchdog, the audit log) for time doubling with each character: 25 characters stalled it 2 s, 42 would
// take days. The check must be linear: the hostile call is refused as a schema mismatch at once, and an agent
// counting timer ticks beside it is not held up. Run in a child process, so that a stall is observed, not
// suffered.

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FIXTURE_SERVER } from '../helpers/mcp-fixture.js';
import { runNode } from '../helpers/node-process.js';

const KERNEL = fileURLToPath(new URL('../fixtures/mcp/regex-dos-kernel.ts', import.meta.url));
const TSX = createRequire(import.meta.url).resolve('tsx');

describe('a server schema whose pattern backtracks', () => {
  it('an agent near miss is refused in linear time; the kernel never stalls', async () => {
    const slug = `${'a'.repeat(42)}!`;
    const run = await runNode(['--no-node-snapshot', '--import', TSX, KERNEL, FIXTURE_SERVER, slug], {
      timeoutMs: 60_000,
    });
    expect(run.timedOut, run.stderr.slice(-2000)).toBe(false);
    const report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as {
      attack: { ok: boolean; error?: { message: string } };
      ticker: { ok: boolean; value?: number };
      stallMs: number;
    };
    expect(report.attack.ok).toBe(false);
    expect(report.attack.error?.message).toMatch(/invalid arguments: .*must match pattern/);
    expect(report.ticker).toMatchObject({ ok: true, value: 20 });
    // A generous bound: the pattern's backtracking on this input would stall it for days.
    expect(report.stallMs).toBeLessThan(1500);
  }, 90_000);
});

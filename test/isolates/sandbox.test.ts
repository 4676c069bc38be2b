import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

let kernel: Kernel;
afterEach(async () => kernel?.close());

const limits = { cpu_ms: 300, wall_ms: 3000, memory_mb: 32 };

describe('sandbox limits', () => {
  it('ends a synchronous loop with E_QUOTA cpu and disposes the isolate', async () => {
    kernel = testKernel({ limits });
    const result = await kernel.run({ code: 'export default () => { for (;;) {} }' });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: cpu_ms' } });
    expect(result.usage.cpu_ms).toBeGreaterThanOrEqual(300);
    expect(kernel.live()).toEqual([]);
  });

  it('charges CPU spent after main returns and stops it', async () => {
    kernel = testKernel({ limits });
    // main never settles; the spin runs from a timer-free microtask after main has returned its promise.
    const result = await kernel.run({
      code: 'export default () => { Promise.resolve().then(() => { for (;;) {} }); return new Promise(() => {}); }',
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: cpu_ms' } });
  });

  it('ends an agent that waits forever with E_QUOTA wall, using the kernel timer', async () => {
    kernel = testKernel({ limits: { ...limits, wall_ms: 200 } });
    const result = await kernel.run({ code: 'export default () => new Promise(() => {})' });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: wall_ms' } });
    expect(result.usage.cpu_ms).toBeLessThan(200);
  });

  it('ends a top-level module loop before main exists', async () => {
    kernel = testKernel({ limits });
    const result = await kernel.run({ code: 'for (;;) {} export default () => 1' });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
  });

  it('ends growing arrays with E_QUOTA memory and reports the heap peak', async () => {
    kernel = testKernel({ limits: { ...limits, cpu_ms: 20_000, wall_ms: 20_000 } });
    const result = await kernel.run({
      code: 'export default () => { const a = []; for (;;) a.push({ a: [1, 2, 3] }); }',
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: memory_mb' } });
    expect(result.usage.heap_peak_mb).toBeGreaterThan(16);
  });

  it('lets an agent use memory under its limit', async () => {
    kernel = testKernel({ limits: { ...limits, memory_mb: 64 } });
    const result = await kernel.run({
      code: 'export default () => { const a = new Array(200_000).fill(0).map((_, i) => ({ i })); return a.length; }',
    });
    expect(result).toMatchObject({ ok: true, value: 200_000 });
  });

  it('keeps agents apart: one spinning agent does not stop another from finishing', async () => {
    kernel = testKernel({ limits: { ...limits, cpu_ms: 1000 } });
    const spinner = kernel.spawn({ code: 'export default () => { for (;;) {} }' });
    const worker = await kernel.run({ code: 'export default async () => (await sys.tool("echo", 2)) + 1' });
    expect(worker).toMatchObject({ ok: true, value: 3 });
    expect(await spinner.result).toMatchObject({ ok: false, error: { code: 'E_QUOTA' } });
  });
});

describe('sandbox outcomes', () => {
  it.each([
    ['an import', 'import x from "y"; export default () => x', 'E_BAD_CODE'],
    ['a dynamic import', 'export default () => import("y")', 'E_BAD_CODE'],
    ['a syntax error', 'export default () => {', 'E_BAD_CODE'],
    ['no default export', 'export const main = () => 1', 'E_BAD_CODE'],
    ['a default export that is not a function', 'export default 42', 'E_BAD_CODE'],
    ['a top-level throw', 'throw new Error("top"); export default () => 1', 'E_AGENT_FAILED'],
    ['main throwing', 'export default () => { throw new RangeError("mine") }', 'E_AGENT_FAILED'],
    ['main rejecting', 'export default async () => { throw "a string" }', 'E_AGENT_FAILED'],
  ])('%s ends with %s', async (_name, code, expected) => {
    kernel = testKernel({ limits });
    const result = await kernel.run({ code });
    expect(result).toMatchObject({ ok: false, error: { code: expected } });
  });

  it('no agent code runs when the module has an import (checked before evaluation)', async () => {
    kernel = testKernel({ limits });
    const seen: string[] = [];
    kernel.on('syscall', (e) => seen.push(e.syscall));
    const result = await kernel.run({ code: 'await sys.log("ran"); export default () => import("x")' });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_BAD_CODE' } });
    expect(seen).toEqual([]);
  });

  // The code check builds no regexp literal (H6), so V8 is the first to read a pattern: its message and position
  // reach the author, and the name isolated-vm appends with them does not.
  it.each(ISOLATION_MODES)(
    "an invalid regexp literal is V8's syntax error with its position (%s tier)",
    async (isolation) => {
      kernel = testKernel({ limits, isolation });
      const bad = await kernel.run({ code: 'export default () => {\n  return /(/.test("x");\n}' });
      expect(bad).toMatchObject({
        ok: false,
        error: {
          code: 'E_BAD_CODE',
          message: 'syntax error: Invalid regular expression: /(/: Unterminated group (2:10)',
        },
      });
      const long = await kernel.run({ code: `export default () => /${'['.repeat(4000)}z-a]/u` });
      expect(long).toMatchObject({
        ok: false,
        error: { code: 'E_BAD_CODE', message: /^syntax error: Invalid regular expression: .{1,250} \(1:\d+\)$/ },
      });
    },
  );

  it("carries the agent's own message, truncated, as plain text", async () => {
    kernel = testKernel({ limits });
    const result = await kernel.run({ code: 'export default () => { throw new Error("x".repeat(5000)) }' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toBe('x'.repeat(1000));
  });
});

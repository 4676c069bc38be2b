// Attack (crash class, run in a child process): isolated-vm 5 aborts the process when a typed-array view
// over a resized resizable ArrayBuffer is passed as a top-level argument, shares SharedArrayBuffer
// arguments instead of copying them, and exposes the whole 8 KB pool of a Node Buffer returned to the
// isolate. The kernel never hands isolated-vm anything but strings, so all of these must be inert: the
// stub serializes such values as JSON (plain objects) in the guest, SharedArrayBuffer is absent, and a
// Buffer a tool returns reaches the guest as the JSON of its own bytes only.

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../index.js';
import { runInChild } from '../helpers/fork.js';
import { ISOLATION_MODES, testKernel, testToolsPolicy } from '../helpers/kernel.js';

const LIMITS = { cpu_ms: 2000, wall_ms: 5000, memory_mb: 64 };

// Builds views over a resizable buffer, shrinks (and grows) it, then passes every view every way.
const RESIZED = `
const rab = new ArrayBuffer(16, { maxByteLength: 64 });
const tracking = new Uint8Array(rab);
const fixed = new Uint8Array(rab, 0, 16);
const offset = new Float64Array(rab, 8, 1);
const view = new DataView(rab, 4, 8);
tracking.fill(7);
rab.resize(4);
const views = { tracking, fixed, offset, view, rab };
const outcomes = [];
const attempt = async (label, make) => {
  try { const v = await make(); outcomes.push([label, 'ok', JSON.stringify(v) ?? 'undefined']); }
  catch (e) { outcomes.push([label, 'error', String(e && e.code)]); }
};
for (const [name, v] of Object.entries(views)) {
  await attempt(name + ':tool-top', () => sys.tool('echo', v));
  await attempt(name + ':tool-nested', () => sys.tool('echo', { deep: [v, { v }] }));
  await attempt(name + ':tool-name', () => sys.tool(v, 1));
  await attempt(name + ':tool-options', () => sys.tool('echo', 1, v));
  await attempt(name + ':log-top', () => sys.log(v));
  await attempt(name + ':log-nested', () => sys.log('x', [v]));
}
rab.resize(64);
await attempt('grown:tool-top', () => sys.tool('echo', tracking));
await attempt('grown:log-top', () => sys.log(fixed, tracking));
`;

// Crash-class attacks: both isolation tiers, the kernel in a child process.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  describe('resizable ArrayBuffer views as syscall arguments', () => {
    it('shrunk and grown views, top-level and nested, through sys.tool and sys.log: the child survives', async () => {
      const child = await runInChild(`export default async function main() {${RESIZED}\nreturn outcomes; }`, {
        limits: LIMITS,
        isolation,
      });
      expect(child.timedOut).toBe(false);
      expect(child.signal).toBeNull();
      expect(child.exitCode).toBe(0);
      expect(child.result?.ok, JSON.stringify(child.result)).toBe(true);
      if (!child.result?.ok) return;
      const outcomes = child.result.value as Array<[string, string, string]>;
      expect(outcomes.length).toBe(5 * 6 + 2);
      for (const [label, status, detail] of outcomes) {
        // Either the view is copied as plain JSON data, or the call is refused with a typed error.
        if (status === 'error') expect(['E_BAD_ARG'], label).toContain(detail);
        else expect(detail, label).not.toMatch(/ArrayBuffer|\[object/);
      }
      // The shrunk length-tracking view carried exactly the 4 bytes still in bounds.
      expect(outcomes.find(([label]) => label === 'tracking:tool-top')?.[2]).toBe('{"0":7,"1":7,"2":7,"3":7}');
    });

    it('the same, at the top level of the module and as the value main returns', async () => {
      const child = await runInChild(
        `const rab = new ArrayBuffer(16, { maxByteLength: 64 });
const tracking = new Uint8Array(rab);
const fixed = new Uint8Array(rab, 0, 16);
const view = new DataView(rab, 4, 8);
tracking.fill(7);
rab.resize(4);
// Not awaited: the stub serializes synchronously, at the call.
sys.tool('echo', tracking).catch(() => {});
sys.tool('echo', { fixed, view }).catch(() => {});
sys.log(tracking, fixed, view).catch(() => {});
export default async function main() { rab.resize(2); return { tracking, fixed, view }; }`,
        { limits: LIMITS, isolation },
      );
      expect(child.timedOut).toBe(false);
      expect(child.exitCode).toBe(0);
      expect(child.result).toMatchObject({ ok: true, value: { tracking: { 0: 7, 1: 7 }, fixed: {}, view: {} } });
    });
  });

  describe('SharedArrayBuffer and friends', () => {
    it('SharedArrayBuffer and Atomics are absent and cannot be reached another way', async () => {
      const child = await runInChild(
        `export default async function main() {
  const found = [];
  if (typeof SharedArrayBuffer !== 'undefined') found.push('SharedArrayBuffer global');
  if (typeof Atomics !== 'undefined') found.push('Atomics global');
  if (typeof WebAssembly !== 'undefined') found.push('WebAssembly global');
  const g = Function('return this')();
  for (const name of ['SharedArrayBuffer', 'Atomics', 'WebAssembly']) if (name in g) found.push(name + ' via Function');
  // No intrinsic hands out a shared buffer: every buffer reachable from typed arrays is a plain ArrayBuffer.
  const probe = new Int32Array(4);
  if (Object.getPrototypeOf(probe.buffer) !== ArrayBuffer.prototype) found.push('foreign buffer');
  try { await sys.tool('echo', probe); } catch (e) { found.push('echo ' + e.code); }
  return found;
}`,
        { limits: LIMITS, isolation },
      );
      expect(child.exitCode).toBe(0);
      expect(child.result).toMatchObject({ ok: true, value: [] });
    });
  });

  describe('Buffer-pool exposure', () => {
    it('a tool returning a pooled Buffer gives the guest only its own bytes, as JSON data', async () => {
      // Fill the pool with a secret, then hand out a small pooled slice next to it.
      const secret = Buffer.from('POOL-SECRET-'.repeat(20));
      const tool = defineTool({
        name: 'pooled',
        description: 'returns a small pooled Buffer',
        input: z.unknown(),
        run: () => {
          const small = Buffer.from('hi');
          expect(small.buffer.byteLength).toBeGreaterThan(2);
          return { small, view: new Uint8Array(small.buffer, small.byteOffset, small.length) };
        },
      });
      const kernel = testKernel({
        isolation,
        limits: LIMITS,
        tools: [tool],
        policy: { capabilities: [...testToolsPolicy.capabilities, { action: 'pooled', resource: 'pooled' }] },
      });
      try {
        const result = await kernel.run({
          code: `export default async function main() {
  const value = await sys.tool('pooled', {});
  return { value, isBuffer: value.small instanceof ArrayBuffer || ArrayBuffer.isView(value.small), text: JSON.stringify(value) };
}`,
        });
        expect(result).toMatchObject({
          ok: true,
          value: { value: { small: { type: 'Buffer', data: [104, 105] }, view: { 0: 104, 1: 105 } }, isBuffer: false },
        });
        if (result.ok) expect(JSON.stringify(result.value)).not.toContain('POOL-SECRET');
      } finally {
        await kernel.close();
      }
      expect(secret.length).toBeGreaterThan(0);
    });
  });
});

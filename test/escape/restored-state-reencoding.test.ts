// Attack (review 116, finding 2): make the kernel encode a restored state again and again only to refuse it. A state
// saved under a larger payload cap (another kernel on the same store, or a cap lowered since) has a superjson form
// past the restoring kernel's cap; each `sys.restored()` walked the whole state and measured its form before
// refusing it, 80-94 ms of the kernel's event loop per call, at the agent's will. The form, or why it cannot be the
// reply, is now made once per restored state.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Saved once (nothing restored); restored, it asks for its state `input` times and says how each ask ended.
const AGENT = `export default async (calls) => {
  const first = await sys.restored().catch((error) => error.code);
  if (first === undefined || first === null) {
    return { id: await sys.snapshot({ words: Array.from({ length: 300000 }, () => 'abc'), big: 1n }) };
  }
  const codes = [first];
  for (let i = 1; i < calls; i++) codes.push(await sys.restored().then(() => 'read', (error) => error.code));
  return codes;
}`;

const kernels: Kernel[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const kernel of kernels.splice(0)) await kernel.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('refuses an oversized restored state once per restore, not again at every sys.restored()', async () => {
    dir = mkdtempSync(join(tmpdir(), 'isokernel-restored-'));
    const limits = { cpu_ms: 60_000, wall_ms: 120_000, memory_mb: 512 };
    const saver = testKernel({ isolation, store: dir, maxPayloadBytes: 4 * 1024 * 1024, limits });
    kernels.push(saver);
    const saved = await saver.run({ code: AGENT, input: 1 });
    expect(saved, JSON.stringify(saved).slice(0, 300)).toMatchObject({ ok: true, value: { id: expect.any(String) } });
    const { id } = (saved as { value: { id: string } }).value;
    await saver.close();

    // The default cap (1 MiB) is under the state's 1.8 MB form.
    const restorer = testKernel({ isolation, store: dir, limits });
    kernels.push(restorer);
    const once = await (await restorer.restore(id, { input: 1 })).result;
    const many = await (await restorer.restore(id, { input: 40 })).result;
    expect(once).toMatchObject({ ok: true, value: ['E_TOOL_FAILED'] });
    expect(many).toMatchObject({ ok: true, value: Array(40).fill('E_TOOL_FAILED') });
    // The kernel's time in the same run: one encoding and 39 refusals read from the cache, against 40 encodings
    // (about 40 times `once`) before.
    const [one, forty] = [once.usage.kernel_ms ?? 0, many.usage.kernel_ms ?? 0];
    expect(one).toBeGreaterThan(0);
    expect(forty, `40 asks ${forty.toFixed(0)} ms, one ${one.toFixed(0)} ms`).toBeLessThan(4 * one + 50);
  }, 120_000);
});

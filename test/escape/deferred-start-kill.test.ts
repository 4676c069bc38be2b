// Attack: outrun a kill. A top-level run that lands on a sandbox host still in its post-run check is queued
// behind it, not yet started on the host; a kill (the parent's, the operator's, the kernel's wall deadline)
// that arrives in that window must end it for good. It was ignored: the host had nothing placed to end, and the
// "killed" agent started 30 ms later with all its capabilities.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { processTestKernel } from '../helpers/kernel.js';

let kernel: Kernel | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
});

describe('a kill of a run waiting for its sandbox host', () => {
  it('ends it with E_KILLED before any of its code runs, every time', async () => {
    // One warm host, so every run goes to the host the previous one just left (and that host is cooling).
    kernel = processTestKernel({}, { warm: 1 }).kernel;
    const logs: string[] = [];
    kernel.on('log', (event) => logs.push(event.text));
    for (let attempt = 0; attempt < 6; attempt++) {
      expect(await kernel.run({ code: 'export default async function main() { return 1; }' })).toMatchObject({
        ok: true,
      });
      const late = kernel.spawn({
        code: 'export default async function main() { sys.log("the killed agent ran"); return "ran"; }',
      });
      late.kill('stop');
      expect(await late.result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
    }
    // Give a wrongly started agent time to show itself.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(logs).toEqual([]);
    // The host was not spoiled for the next tenant.
    expect(
      await kernel.run({ code: 'export default async function main() { return sys.tool("echo", "next"); }' }),
    ).toMatchObject({
      ok: true,
      value: 'next',
    });
  }, 60_000);
});

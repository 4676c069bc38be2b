// Attack (red-team pass 142, finding 1): make the kernel compile a regexp of the agent's choosing. `sys.snapshot`'s
// decoder rebuilt every `regexp` of the wire with `new RegExp` in the kernel's own process, in both tiers, outside
// the prelude's caps (the wire is the agent's: the guest's superjson writes `'' + value` for anything that looks like
// a regexp). V8's parse of a `\p{RGI_Emoji}` under the v flag takes about 1 MB of malloc and 1 ms, and nothing
// interrupts it: 1,000 of them (14 K characters) took the kernel to 983 MB inline, 8,000 (120 KB of wire) to 7.3 GB
// and a 24.5 s stall in the process tier. The kernel now keeps a snapshot's regexps as text (SnapshotRegExp): only
// the guest that restores the state compiles them, under the prelude's caps.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { SnapshotRegExp } from '../../runtime/store/snapshot-regexp.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Looks like a regexp to the guest's superjson, which writes its text as the wire's `regexp`; no RegExp is built.
// `text` is an expression of the agent's code.
const fakeRegExp = (text: string) => `(() => {
  const fake = Object.create(RegExp.prototype);
  const text = ${text};
  Object.defineProperty(fake, 'toString', { value: () => text });
  return fake;
})()`;

const peakRssMb = () => process.resourceUsage().maxRSS / 1024;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it("a snapshot of 1,000 emoji property escapes under the v flag does not grow the kernel's process", async () => {
    kernel = testKernel({ isolation, limits: { memory_mb: 128, cpu_ms: 20_000, wall_ms: 60_000 } });
    const text = `/${'\\p{RGI_Emoji}'.repeat(1000)}/v`;
    const before = peakRssMb();
    // The text is built at run time: a module may not spell that many escapes in its own literals.
    const built = `'/' + '\\\\p{RGI_Emoji}'.repeat(1000) + '/v'`;
    const result = await kernel.run({ code: `export default () => sys.snapshot({ r: ${fakeRegExp(built)} })` });
    expect(result.ok, JSON.stringify(result).slice(0, 300)).toBe(true);
    // Built in the kernel, it peaked near 1 GB; kept as text, the kernel's peak does not move.
    expect(peakRssMb() - before).toBeLessThan(300);
    const state = (await kernel.inspectSnapshot((result as { value: string }).value)).state as { r: unknown };
    expect(state.r).toBeInstanceOf(SnapshotRegExp);
    expect(String(state.r)).toBe(text);
  }, 120_000);

  it('an honest regexp survives snapshot and restore as a working RegExp in the guest; one V8 refuses fails there', async () => {
    kernel = testKernel({ isolation });
    // Run fresh, it snapshots its state; restored, it reads the state back (or the error reading it raised).
    const agent = (state: string) => `export default async () => {
      let state;
      try { state = await sys.restored(); } catch (e) { return e.name; }
      if (state === undefined) return sys.snapshot(${state});
      return [state.word instanceof RegExp, state.word.flags, 'ça va'.match(state.word)];
    }`;
    const restore = async (code: string) => {
      const made = await (kernel as Kernel).run({ code });
      expect(made.ok, JSON.stringify(made)).toBe(true);
      return (await (kernel as Kernel).restore((made as { value: string }).value)).result;
    };
    expect(await restore(agent('{ word: /\\p{L}+/gu }'))).toMatchObject({
      ok: true,
      value: [true, 'gu', ['ça', 'va']],
    });
    // The whole state is rebuilt in the guest, so a pattern V8 refuses fails that guest's restore, and only it.
    expect(await restore(agent(`{ word: /a/, bad: ${fakeRegExp("'/(/'")} }`))).toMatchObject({
      ok: true,
      value: 'SyntaxError',
    });
  }, 60_000);
});

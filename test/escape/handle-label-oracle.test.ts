// Attack: read an unread handle's label through a kernel decision, with labels as the data (red-team pass 55). A
// clean parent wrote one clean key per bit of a page; a web-labelled child (a rw mount of the parent's namespace)
// overwrote the keys of the 1-bits, so those entries carry `web`. The parent read every key as a handle (a present
// key answers a handle with its entry's label: the parent stays clean) and asked about each handle's label without
// reading it:
// - `sys.declassify(h, ['web'])` with no capability: refused exactly when the handle carried `web` (only the tags
//   actually removed needed one), the caller's label unchanged;
// - the sink check: `mail` refused a `web` handle with E_TAINT, "decided by labels alone", the caller unraised.
// Either way the parent rebuilt the page, 152 bits in one run, and mailed it with an empty label. The defense:
// declassify needs a capability for every tag it names, whatever the handle carries; a sink's refusal raises the
// caller by the call's label (the handles' included), as reading them would.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';
import { webAndMailKernel } from '../helpers/web-and-mail.js';

const PAGE = 'PIN=4711';
const BITS = PAGE.length * 8;
const KEY = `(i) => 'b' + String(i).padStart(3, '0')`;

const CHILD = `export default async (input) => {
  const page = input.page;
  for (let i = 0; i < page.length * 8; i++) {
    if ((page.charCodeAt(i >> 3) >> (i & 7)) & 1) await sys.mem.put('b' + String(i).padStart(3, '0'), 1, { mount: 'p' });
  }
  return 'done';
}`;

const PARENT = (probe: 'declassify' | 'sink') => `export default async () => {
  const key = ${KEY};
  const page = await sys.tool('fetch', {}, { handle: true });
  for (let i = 0; i < ${BITS}; i++) await sys.mem.put(key(i), 0);
  // A budget of its own: the labelled child's use of a shared one would label this parent (quota.ts).
  await sys.join(await sys.spawn({ code: ${JSON.stringify(CHILD)}, input: { page }, mounts: [{ name: 'p', mode: 'rw' }], budget: { cpu_ms: 5000, syscalls: 5000, children: 0 } }), { handle: true });
  const before = await sys.label();
  const answers = [];
  for (let i = 0; i < ${BITS}; i++) {
    const h = await sys.mem.get(key(i), { handle: true });
    let code = 'ok';
    if (${JSON.stringify(probe)} === 'declassify') {
      try { await sys.declassify(h, ['web']); } catch (e) { code = e.code; }
    } else {
      try { await sys.tool('mail', { body: h }); } catch (e) { code = e.code; }
    }
    answers.push({ code, label: await sys.label() });
  }
  let out = '';
  for (let c = 0; c < ${BITS / 8}; c++) {
    let v = 0;
    for (let b = 0; b < 8; b++) if (answers[c * 8 + b].code !== 'ok') v |= 1 << b;
    out += String.fromCharCode(v);
  }
  let mailed = true;
  try { await sys.tool('mail', { body: out }); } catch (e) { mailed = e.code; }
  return { before, answers, out, mailed };
}`;

interface Outcome {
  before: string[];
  answers: { code: string; label: string[] }[];
  out: string;
  mailed: true | string;
}

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it("declassify answers the same whatever an unread handle's label: a capability for every tag it names", async () => {
    const made = webAndMailKernel(PAGE, isolation);
    kernel = made.kernel;
    const result = await made.kernel.run({ code: PARENT('declassify'), limits: { wall_ms: 60_000, cpu_ms: 30_000 } });
    expect(result.ok).toBe(true);
    const value = (result as { value: Outcome }).value;
    expect(value.before).toEqual([]);
    // Refused for every key, clean or overwritten: nothing told them apart, and the caller stays clean.
    expect(new Set(value.answers.map(({ code }) => code))).toEqual(new Set(['E_CAP_DENIED']));
    expect(value.answers.every(({ label }) => label.length === 0)).toBe(true);
    expect(value.out).not.toBe(PAGE);
    expect(made.sent.filter((sent) => (sent as { body: unknown }).body === PAGE)).toEqual([]);
  });

  it("a sink's refusal of an unread handle raises the caller by the handle's label", async () => {
    const made = webAndMailKernel(PAGE, isolation);
    kernel = made.kernel;
    const result = await made.kernel.run({ code: PARENT('sink'), limits: { wall_ms: 60_000, cpu_ms: 30_000 } });
    expect(result.ok).toBe(true);
    const value = (result as { value: Outcome }).value;
    // The first refusal (the first overwritten key: bit 0 of 'P' is 0, bit 4 is 1) labels the caller `web`, and
    // from then on every call carrying a handle or not is refused: the page never leaves.
    const first = value.answers.findIndex(({ code }) => code === 'E_TAINT');
    expect(first).toBeGreaterThan(0);
    expect(value.answers[first]?.label).toEqual(['web']);
    expect(value.answers.slice(first).every(({ code }) => code === 'E_TAINT')).toBe(true);
    expect(value.mailed).toBe('E_TAINT');
    expect(made.sent.filter((sent) => (sent as { body: unknown }).body === PAGE)).toEqual([]);
  });
});

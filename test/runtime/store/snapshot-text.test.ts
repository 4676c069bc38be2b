import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../runtime/core/canonical-json.js';
import { encodeSnapshot, type SnapshotBody } from '../../../runtime/store/snapshot-store.js';
import { endOfValue, splitSnapshotText } from '../../../runtime/store/snapshot-text.js';

// Plain JSON as the store keeps it: no -0 (the snapshot stores it as 0), no undefined, no `__proto__` key (which
// the kernel refuses in any payload), and no `prototype` or `constructor` key, which superjson refuses in a state
// (encodeSnapshot then throws E_BAD_ARG: CI drew `{ prototype: 0 }` once in 300 runs).
const json = fc
  .jsonValue({ maxDepth: 4, noUnicodeString: false })
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown)
  .filter((value) => !/"(__proto__|prototype|constructor)":/.test(JSON.stringify(value)));
const tags = fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 3 }).map((list) => list.sort());
const entries = fc
  .uniqueArray(fc.tuple(fc.string({ maxLength: 8 }), json, tags), { selector: ([key]) => key, maxLength: 6 })
  .map((list) => list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

const body = (memory: SnapshotBody['memory'], state: unknown, label: string[]): SnapshotBody => ({
  program: { name: 'p"]},{', id: 'a'.repeat(64) },
  capabilities: [{ action: 'fs.read', resource: '/x"],[', remainingUses: null, expiresAt: 5 }],
  label,
  usage: { tokens_in: 1, tokens_out: 2, cost_usd: 0.5, tool_calls: 3, children: 0 },
  memory,
  state,
});

describe('splitSnapshotText', () => {
  it('cuts every body encodeSnapshot writes into a frame and entries that parse to the whole', async () => {
    await fc.assert(
      fc.asyncProperty(entries, json, tags, async (memory, state, label) => {
        const { text } = await encodeSnapshot(body(memory, state, label));
        const split = splitSnapshotText(text);
        expect(split).toBeDefined();
        const whole = JSON.parse(text) as { json: Record<string, unknown> };
        const frame = JSON.parse(split!.frame) as { json: Record<string, unknown> };
        expect(frame.json['memory']).toEqual([]);
        expect({ ...frame, json: { ...frame.json, memory: whole.json['memory'] } }).toEqual(whole);
        expect(split!.entries.map((entry) => JSON.parse(entry))).toEqual(whole.json['memory']);
      }),
      { numRuns: 300 },
    );
  });

  it('finds the end of any canonical JSON value, strings with brackets and escapes included', () => {
    fc.assert(
      fc.property(json, json, (value, next) => {
        const first = canonicalJson(value);
        const text = `[${first},${canonicalJson(next)}]`;
        expect(endOfValue(text, 1)).toBe(1 + first.length);
        expect(endOfValue(text, 0)).toBe(text.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('leaves a layout it does not know to the whole parse', () => {
    expect(splitSnapshotText('{"json":{"label":[],"memory":[]}}')).toBeUndefined();
    expect(splitSnapshotText('{"json":{"capabilities":[],"label":[],"memory":[[1]')).toBeUndefined();
    expect(splitSnapshotText('{"json":{"capabilities":[],"label":[],"memory":[[1]x')).toBeUndefined();
    expect(splitSnapshotText('{"json":{"capabilities":[],"label":["a],"memory":[]}}')).toBeUndefined();
    expect(splitSnapshotText('{"json":{"capabilities":[],"label":[],"memory":[]}}')).toEqual({
      frame: '{"json":{"capabilities":[],"label":[],"memory":[]}}',
      entries: [],
    });
  });
});

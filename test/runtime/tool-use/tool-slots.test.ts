import { describe, expect, it } from 'vitest';
import { ToolSlots } from '../../../runtime/tool-use/tool-slots.js';

describe('ToolSlots', () => {
  it('gives places up to the bound at once, per tool', () => {
    const slots = new ToolSlots(new AbortController().signal);
    expect(slots.take('a', 2)).toBeUndefined();
    expect(slots.take('a', 2)).toBeUndefined();
    expect(slots.take('b', 1)).toBeUndefined();
    const third = slots.take('a', 2);
    expect(third).toBeInstanceOf(Promise);
    third?.catch(() => {});
  });

  it('hands a given-back place to the longest-waiting call, in order', async () => {
    const slots = new ToolSlots(new AbortController().signal);
    slots.take('a', 1);
    const started: number[] = [];
    const waits = [1, 2, 3].map((n) => slots.take('a', 1)?.then(() => started.push(n)));
    slots.give('a');
    await waits[0];
    expect(started).toEqual([1]);
    slots.give('a');
    slots.give('a');
    await Promise.all(waits);
    expect(started).toEqual([1, 2, 3]);
    // Every place is back: the next take runs at once.
    slots.give('a');
    expect(slots.take('a', 1)).toBeUndefined();
  });

  it('refuses every waiting call with E_KILLED when the agent ends, and every later one', async () => {
    const abort = new AbortController();
    const slots = new ToolSlots(abort.signal);
    slots.take('a', 1);
    const waits = Array.from({ length: 1000 }, () => slots.take('a', 1));
    abort.abort();
    for (const wait of waits) await expect(wait).rejects.toMatchObject({ code: 'E_KILLED' });
    await expect(slots.take('b', 5)).rejects.toMatchObject({ code: 'E_KILLED' });
  });
});

import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ToolSlots } from '../../../runtime/tool-use/tool-slots.js';

const alive = new AbortController().signal;

describe('ToolSlots', () => {
  it('gives places up to the bound at once, per tool', () => {
    const slots = new ToolSlots();
    expect(slots.take('a', 2, alive)).toBeUndefined();
    expect(slots.take('a', 2, alive)).toBeUndefined();
    expect(slots.take('b', 1, alive)).toBeUndefined();
    const third = slots.take('a', 2, alive);
    expect(third).toBeInstanceOf(Promise);
    third?.catch(() => {});
  });

  it('hands a given-back place to the longest-waiting call, in order, whichever agent made it', async () => {
    const slots = new ToolSlots();
    const other = new AbortController().signal;
    slots.take('a', 1, alive);
    const started: number[] = [];
    const waits = [1, 2, 3].map((n) => slots.take('a', 1, n === 2 ? other : alive)?.then(() => started.push(n)));
    slots.give('a');
    await waits[0];
    expect(started).toEqual([1]);
    slots.give('a');
    slots.give('a');
    await Promise.all(waits);
    expect(started).toEqual([1, 2, 3]);
    // Every place is back: the next take runs at once.
    slots.give('a');
    expect(slots.take('a', 1, alive)).toBeUndefined();
  });

  it("refuses an ending agent's waiting calls with E_KILLED, and its later ones, and only its own", async () => {
    const ending = new AbortController();
    const slots = new ToolSlots();
    slots.take('a', 1, alive);
    const doomed = Array.from({ length: 1000 }, () => slots.take('a', 1, ending.signal));
    const started: string[] = [];
    const sibling = slots.take('a', 1, alive)?.then(() => started.push('sibling'));
    const other = slots.take('b', 0, alive)?.then(() => started.push('b'));
    ending.abort();
    for (const wait of doomed) await expect(wait).rejects.toMatchObject({ code: 'E_KILLED' });
    await expect(slots.take('c', 5, ending.signal)).rejects.toMatchObject({ code: 'E_KILLED' });
    // The sibling is next in line for 'a', and the wait for 'b' is untouched.
    slots.give('a');
    await sibling;
    expect(started).toEqual(['sibling']);
    slots.give('b');
    await other;
    expect(started).toEqual(['sibling', 'b']);
  });

  it('lets go of a signal once none of its calls waits: a signal per call is not kept (review 88)', async () => {
    const slots = new ToolSlots();
    slots.take('a', 1, alive);
    const signal = new AbortController().signal;
    const first = slots.take('a', 1, signal);
    const second = slots.take('a', 1, signal);
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    slots.give('a');
    await first;
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    slots.give('a');
    await second;
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});

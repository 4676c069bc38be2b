import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ObservedRefusal } from '../../../runtime/core/errors.js';
import { makeLabel } from '../../../runtime/labels/label.js';
import { ToolSlots, TREE_PLACES_FACTOR } from '../../../runtime/tool-use/tool-slots.js';

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

describe('ToolSlots groups (red-team pass 128)', () => {
  it("gives a group places of its own: a child's full group never makes its parent's call wait", () => {
    const parent = new ToolSlots();
    const child = parent.group();
    for (let i = 0; i < 2; i++) expect(child.take('a', 2, alive)).toBeUndefined();
    const waiting = child.take('a', 2, alive);
    expect(waiting).toBeInstanceOf(Promise);
    waiting?.catch(() => {});
    expect(parent.take('a', 2, alive)).toBeUndefined();
  });

  it(`bounds the tree at ${TREE_PLACES_FACTOR} times the bound, refusing with the labels of the calls that fill it`, () => {
    const root = new ToolSlots();
    const secret = () => makeLabel(['secret'], 'label');
    const web = () => makeLabel(['web'], 'label');
    const groups = Array.from({ length: TREE_PLACES_FACTOR }, () => root.group());
    groups.forEach((group, i) => {
      for (let k = 0; k < 2; k++) expect(group.take('a', 2, alive, i === 0 ? secret : web)).toBeUndefined();
    });
    let refusal: unknown;
    try {
      root.take('a', 2, alive);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ObservedRefusal);
    expect(refusal).toMatchObject({ code: 'E_QUOTA', observed: ['secret', 'web'] });
    // Another tool's places are untouched; once a call of the tree ends, the root's call runs.
    expect(root.take('b', 2, alive)).toBeUndefined();
    groups[0]?.give('a', secret);
    expect(root.take('a', 2, alive)).toBeUndefined();
  });

  it("keeps the tree's count when a place is handed to a waiting call of the same group", async () => {
    const root = new ToolSlots();
    const group = root.group();
    const other = root.group();
    for (let k = 0; k < 2; k++) group.take('a', 2, alive);
    const waits = [group.take('a', 2, alive), group.take('a', 2, alive)];
    group.give('a');
    group.give('a');
    await Promise.all(waits);
    // The group still runs 2 and the tree 2: two more groups fill the tree to 8 with `other` and the root.
    for (let k = 0; k < 2; k++) expect(other.take('a', 2, alive)).toBeUndefined();
    for (let k = 0; k < 2; k++) expect(root.take('a', 2, alive)).toBeUndefined();
    const third = root.group();
    for (let k = 0; k < 2; k++) expect(third.take('a', 2, alive)).toBeUndefined();
    expect(() => root.group().take('a', 2, alive)).toThrow(ObservedRefusal);
  });
});

import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../runtime/core/errors.js';
import { HANDLE_KEY, HandleTable, MAX_HANDLES } from '../../../runtime/labels/handles.js';
import { makeLabel } from '../../../runtime/labels/label.js';

describe('HandleTable', () => {
  it('keeps a value with its label behind an opaque random id', () => {
    const table = new HandleTable();
    const a = table.create({ text: 'hi' }, makeLabel(['web']));
    const b = table.create({ text: 'hi' }, makeLabel(['web']));
    expect(Object.keys(a)).toEqual([HANDLE_KEY]);
    expect(a[HANDLE_KEY]).toMatch(/^h_[A-Za-z0-9_-]{22}$/);
    expect(a[HANDLE_KEY]).not.toBe(b[HANDLE_KEY]);
    expect(table.resolve(a)).toEqual({ value: { text: 'hi' }, label: ['web'] });
  });

  it('refuses forged, foreign and malformed handles with E_BAD_ARG', () => {
    const mine = new HandleTable();
    const theirs = new HandleTable();
    const foreign = theirs.create(1, makeLabel([]));
    for (const ref of [foreign, { [HANDLE_KEY]: 'h_guess' }, { [HANDLE_KEY]: 1 }, 'h_x', null, {}]) {
      expect(() => mine.resolve(ref)).toThrow(KernelError);
    }
  });

  it('substitutes handles anywhere in arguments and joins only their labels', () => {
    const table = new HandleTable();
    const web = table.create('page', makeLabel(['web']));
    const mail = table.create('letter', makeLabel(['email']));
    expect(table.substitute({ a: 1, b: [2, { c: 3 }] })).toEqual({
      value: { a: 1, b: [2, { c: 3 }] },
      label: [],
      handles: [],
    });
    expect(table.substitute({ to: 'x', body: [web, { nested: mail }, web] })).toEqual({
      value: { to: 'x', body: ['page', { nested: 'letter' }, 'page'] },
      label: ['email', 'web'],
      // Each handle named, once, for the measure of what the arguments may stand for.
      handles: [
        { value: 'page', label: ['web'] },
        { value: 'letter', label: ['email'] },
      ],
    });
    // An object with more keys than $handle is data, not a handle.
    expect(table.substitute({ [HANDLE_KEY]: web[HANDLE_KEY], extra: 1 }).label).toEqual([]);
    expect(() => new HandleTable().substitute({ x: { [HANDLE_KEY]: 'h_forged' } })).toThrow(/not a handle/);
  });

  it("measures a handle's JSON length", () => {
    const table = new HandleTable();
    const ref = table.create({ text: 'x'.repeat(100) }, makeLabel([]));
    const [entry] = table.substitute([ref]).handles;
    expect(entry).toBeDefined();
    expect(table.jsonLength(entry!)).toBe(JSON.stringify({ text: 'x'.repeat(100) }).length);
  });

  // Red-team pass 42: the copy was the whole arguments, uncharged, whatever the handles' share of them.
  it('copies only the way to each handle and shares the rest with the arguments, which stay as they were', () => {
    const table = new HandleTable();
    const web = table.create('page', makeLabel(['web']));
    const args = { big: [{ x: 1 }, { y: 2 }], deep: { list: [0, web, 2], other: { z: 3 } } };
    const { value } = table.substitute(args) as { value: typeof args };
    expect(value).toEqual({ big: [{ x: 1 }, { y: 2 }], deep: { list: [0, 'page', 2], other: { z: 3 } } });
    expect(value.big).toBe(args.big);
    expect(value.deep.other).toBe(args.deep.other);
    expect(value.deep).not.toBe(args.deep);
    expect(args.deep.list[1]).toBe(web);
    // Arguments that mention a handle only as data come back as they are.
    const data = { [HANDLE_KEY]: 'not alone', extra: [1, 2] };
    expect(table.substitute(data).value).toBe(data);
  });

  it(`stops at ${MAX_HANDLES} handles with E_QUOTA`, () => {
    const table = new HandleTable();
    for (let i = 0; i < MAX_HANDLES; i++) table.create(i, makeLabel([]));
    expect(() => table.create(0, makeLabel([]))).toThrow(expect.objectContaining({ code: 'E_QUOTA' }));
  });
});

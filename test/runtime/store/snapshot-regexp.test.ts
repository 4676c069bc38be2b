import { describe, expect, it } from 'vitest';
import { parseSnapshotRegExp, SnapshotRegExp } from '../../../runtime/store/snapshot-regexp.js';

describe('SnapshotRegExp', () => {
  it('reads the text String(regexp) gives back into the same source and flags, and writes it again', () => {
    const unicodeSets = 'v'; // as a literal flag TypeScript refuses it below es2024
    for (const regexp of [/a.b/gi, /x/, /[\]/]+/u, /\//dgimsy, new RegExp('\n', unicodeSets), /(?:)/]) {
      const kept = parseSnapshotRegExp(String(regexp));
      expect(kept).toEqual(new SnapshotRegExp(regexp.source, regexp.flags));
      expect(String(kept)).toBe(String(regexp));
    }
  });

  it('keeps a pattern V8 would refuse, as written: nothing here compiles it', () => {
    expect(parseSnapshotRegExp('/(/')).toEqual(new SnapshotRegExp('(', ''));
    expect(parseSnapshotRegExp('/a/uv')).toEqual(new SnapshotRegExp('a', 'uv'));
  });

  it('refuses text that is not /source/flags with known flags, each once', () => {
    for (const text of ['a', '/a', 'a/', '/a/x', '/a/gg', '/a/G', 42, null, undefined]) {
      expect(parseSnapshotRegExp(text), String(text)).toBeUndefined();
    }
    // Flags are checked by their count first: a megabyte of them is refused at once.
    expect(parseSnapshotRegExp(`/a/${'g'.repeat(1 << 20)}`)).toBeUndefined();
  });

  it('is frozen, and its constructor names a bad argument', () => {
    const kept = new SnapshotRegExp('a', 'g');
    expect(Object.isFrozen(kept)).toBe(true);
    expect(kept).not.toBeInstanceOf(RegExp);
    expect(() => new SnapshotRegExp(1 as unknown as string, '')).toThrow(/source/);
    expect(() => new SnapshotRegExp('a', 'gg')).toThrow(/flags/);
  });
});

import superjson from 'superjson';
import { describe, expect, it } from 'vitest';
import { parseSnapshotRegExp, regexpsAsText, SnapshotRegExp } from '../../../runtime/store/snapshot-regexp.js';

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

describe('regexpsAsText', () => {
  // The same state twice: with RegExps, as superjson writes it, and with their text, as the kernel keeps it.
  const state = (regexp: (source: string, flags: string) => unknown) => {
    const cyclic: Record<string, unknown> = { r: regexp('c', 'y') };
    cyclic['self'] = cyclic;
    return {
      a: regexp('a.b', 'gi'),
      list: [regexp('x', ''), 1],
      map: new Map([[regexp('k', 'u'), regexp('v', 's')]]),
      set: new Set([regexp('s', 'd')]),
      cyclic,
    };
  };

  it('writes a SnapshotRegExp exactly as superjson writes the RegExp, cycles included', () => {
    const written = regexpsAsText.serialize(state((source, flags) => new SnapshotRegExp(source, flags)));
    expect(written).toEqual(superjson.serialize(state((source, flags) => new RegExp(source, flags))));
  });

  it("reads superjson's regexps as SnapshotRegExps, and every other type as superjson does", () => {
    const text = JSON.stringify(superjson.serialize(state((source, flags) => new RegExp(source, flags))));
    const read = regexpsAsText.deserialize(JSON.parse(text)) as ReturnType<typeof state>;
    expect(read.a).toEqual(new SnapshotRegExp('a.b', 'gi'));
    expect([...read.map.keys()][0]).toEqual(new SnapshotRegExp('k', 'u'));
    expect([...read.set][0]).toEqual(new SnapshotRegExp('s', 'd'));
    expect((read.cyclic as Record<string, unknown>)['self']).toBe(read.cyclic);
    expect(regexpsAsText.serialize(read)).toEqual(JSON.parse(text));
  });
});

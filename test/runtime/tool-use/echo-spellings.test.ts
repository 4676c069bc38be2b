import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  echoViews,
  locate,
  mergeSpans,
  replaceSpans,
  STEPS,
  spacesAsPlus,
  undo,
  unitSpans,
} from '../../../runtime/tool-use/echo-spellings.js';

const [BACKSLASH, HTML, PERCENT] = STEPS as [(typeof STEPS)[number], (typeof STEPS)[number], (typeof STEPS)[number]];

/** Texts dense in escapes, broken escapes and their near misses. */
const escapeRich = fc
  .array(
    fc.constantFrom(
      '\\',
      'u',
      'x',
      '0',
      '4',
      '1',
      'e',
      'E',
      '9',
      'D8',
      'DC',
      '%',
      '&',
      '#',
      ';',
      'amp',
      'lt',
      'X',
      '/',
      '"',
      'n',
      '+',
      ' ',
      'é',
      '😀',
      'C3',
      'A9',
      'F0',
      '9F',
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

describe('each step undoes what servers write', () => {
  it.each([
    ['PHP slash', BACKSLASH, 'a\\/b', 'a/b'],
    ['\\u escape', BACKSLASH, '\\u00e9\\u0026\\ud83d\\ude00', 'é&😀'],
    ['escaped backslash before u', BACKSLASH, '\\\\u0041', '\\u0041'],
    ['\\x and one-character escapes', BACKSLASH, '\\x41\\"\\n\\t\\q', 'A"\n\t\\q'],
    ['short \\u left alone', BACKSLASH, '\\u004 \\uZZZZ', '\\u004 \\uZZZZ'],
    ['HTML references', HTML, '&amp;&lt;&#39;&#x27;&quot;&#128512;', `&<''"😀`],
    [
      'HTML without a semicolon or past Unicode',
      HTML,
      '&amp &#1114112; &#x110000; &bogus;',
      '&amp &#1114112; &#x110000; &bogus;',
    ],
    ['percent in either case', PERCENT, '%c3%a9%C3%A9%2f%2F', 'éé//'],
    ['broken percent', PERCENT, '%zz%4 100%', '%zz%4 100%'],
    ['an invalid byte', PERCENT, 'a%E9b', 'a\ufffdb'],
  ])('%s', (_name, step, text, decoded) => {
    expect(undo(text, step)).toBe(decoded);
  });

  it('property: a percent run in pieces tiles its escapes and joins to its decoding (red-team pass 107)', () => {
    const bytes = fc.array(
      fc.constantFrom(
        0x41,
        0x80,
        0xbf,
        0xc0,
        0xc2,
        0xc3,
        0xa9,
        0xe0,
        0xe2,
        0x82,
        0xed,
        0xa0,
        0xf0,
        0x9f,
        0x98,
        0xf4,
        0xff,
      ),
      { minLength: 1, maxLength: 10 },
    );
    fc.assert(
      fc.property(bytes, (run) => {
        const spelled = run.map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
        const decoded = undo(spelled, PERCENT);
        const pieces = PERCENT.pieces(spelled, decoded);
        let covered = 0;
        for (const [, from, to] of pieces) {
          if (from !== covered || to <= from) return false;
          covered = to;
        }
        return covered === spelled.length && pieces.map(([text]) => text).join('') === decoded;
      }),
      { numRuns: 3000 },
    );
  });

  it('an invalid byte keeps the character after it out of its span', () => {
    const text = '%E2%82%41BC';
    expect(replaceSpans(text, locate(text, [PERCENT], ['ABC']), () => '[k]')).toBe('%E2%82[k]');
  });

  it('leaves a text without a trigger alone, and makes no view of it', () => {
    expect(echoViews('plain text, no escapes at all')).toEqual([]);
  });

  it('makes each distinct view of one or two steps once', () => {
    const views = echoViews('%5Cu0041 &amp;lt;').map(({ view }) => view);
    expect(views).toEqual(expect.arrayContaining(['\\u0041 &amp;lt;', 'A &amp;lt;', '%5Cu0041 &lt;', '%5Cu0041 <']));
    expect(new Set(views).size).toBe(views.length);
  });

  it('property: a long text is undone in a buffer exactly as its short pieces are by concatenation', () => {
    // A space ends every escape, so copies joined by spaces decode copy by copy; 300 copies of even a one-character
    // text pass the length where `undo` switches to its buffer (lone surrogates, astral characters and U+FFFD
    // included).
    fc.assert(
      fc.property(escapeRich, fc.constantFrom(...STEPS), (text, step) => {
        const copies = Array.from({ length: 300 }, () => `${text} `);
        const short = undo(`${text} `, step);
        expect(`${text} `.length).toBeLessThan(256);
        expect(undo(copies.join(''), step)).toBe(short.repeat(300));
      }),
    );
  });

  it('spells a secret with spaces as form-encoding would', () => {
    expect(spacesAsPlus('a b c')).toBe('a+b+c');
    expect(spacesAsPlus('abc')).toBeUndefined();
  });
});

describe('locate maps a match in a view back to the escapes that spell it', () => {
  it('property: each unit of a view comes from a span of the text that decodes to text holding it', () => {
    fc.assert(
      fc.property(escapeRich, fc.constantFrom(...STEPS), (text, step) => {
        const view = undo(text, step);
        const units = [...view].flatMap((_char, i) => i).concat([...Array(view.length).keys()]);
        const spans = unitSpans(text, step, units);
        let previous = 0;
        for (let unit = 0; unit < view.length; unit++) {
          const span = spans.get(unit);
          if (span === undefined) return false;
          const [from, to] = span;
          // In order, inside the text, and what the span decodes to holds the unit.
          if (from < previous || to > text.length || from >= to) return false;
          if (!undo(text.slice(from, to), step).includes(view[unit] ?? '')) return false;
          previous = from;
        }
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it('property: replacing what locate found leaves no view that spells the needle', () => {
    fc.assert(
      fc.property(escapeRich, fc.array(fc.constantFrom(...STEPS), { minLength: 1, maxLength: 2 }), (text, steps) => {
        const view = steps.reduce((out, step) => undo(out, step), text);
        if (view.length < 3) return true;
        const needle = view.slice(1, 3);
        const out = replaceSpans(
          text,
          mergeSpans(locate(text, steps, [needle]), () => 0),
          () => '[x]',
        );
        return !steps.reduce((out2, step) => undo(out2, step), out).includes(needle);
      }),
      { numRuns: 2000 },
    );
  });

  it('replaces only the escapes of the match', () => {
    const text = 'a\\u0026b\\/c';
    expect(locate(text, [BACKSLASH], ['&b'])).toEqual([{ start: 1, end: 8, needle: 0 }]);
    expect(replaceSpans(text, locate(text, [BACKSLASH], ['&b']), () => '#')).toBe('a#\\/c');
    // A 4-byte character is four escapes; its two UTF-16 units both map to all of them.
    expect(locate('x%F0%9F%98%80y', [PERCENT], ['😀'])).toEqual([{ start: 1, end: 13, needle: 0 }]);
    // Two steps: an HTML reference of a percent-escape.
    expect(locate('a&#37;41b', [HTML, PERCENT], ['A'])).toEqual([{ start: 1, end: 8, needle: 0 }]);
  });

  it('keeps the characters around an invalid byte out of its span (red-team pass 106)', () => {
    // Latin-1 `é` (%E9) is invalid UTF-8; the escapes of the rest of the run are characters of their own.
    const text = 'name=Jos%E9%26token%3Dk3y%26keep=1';
    expect(undo(text, PERCENT)).toBe('name=Jos\ufffd&token=k3y&keep=1');
    const spans = locate(text, [PERCENT], ['k3y']);
    expect(replaceSpans(text, spans, () => '[k]')).toBe('name=Jos%E9%26token%3D[k]%26keep=1');
  });

  it('merges overlapping matches under the best-ranked needle, so nothing of either is left', () => {
    const spans = mergeSpans(locate('abcdef', [], ['bcd', 'cde', 'ef']), (needle) => needle);
    expect(spans).toEqual([{ start: 1, end: 6, needle: 0 }]);
    expect(replaceSpans('abcdef', spans, (needle) => `<${needle}>`)).toBe('a<0>');
    expect(mergeSpans(locate('abcdef', [], ['bcd', 'cde']), (needle) => -needle)).toEqual([
      { start: 1, end: 5, needle: 1 },
    ]);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchResource, normalizeUrl, parseResource } from '../../../runtime/core/resource-match.js';
import { foldedSourcePatterns, foldedSpellings, foldPath } from '../../../runtime/labels/source-spellings.js';

describe('source-spellings', () => {
  it('folds a path segment by segment: case, parameters, escapes, trailing dots and spaces', () => {
    expect(foldedSpellings('https://mail.test/INBOX;v=1/%40Alice./%C3%84rzte%20')).toEqual([
      'https://mail.test/inbox/@alice/%C3%A4rzte',
    ]);
    // A segment left empty is dropped, as a server merging slashes sees it; a separator stays escaped.
    expect(foldedSpellings('https://mail.test/;x/inbox/a%3Fb/')).toEqual(['https://mail.test/inbox/a%3Fb']);
    expect(foldedSpellings('https://mail.test/')).toEqual(['https://mail.test/']);
  });

  it('adds the spelling without a format suffix', () => {
    expect(foldedSpellings('https://mail.test/inbox/1.JSON')).toEqual([
      'https://mail.test/inbox/1.json',
      'https://mail.test/inbox/1',
    ]);
    expect(foldedSpellings('https://mail.test/inbox.xml')).toEqual([
      'https://mail.test/inbox.xml',
      'https://mail.test/inbox',
    ]);
  });

  it('folds nothing but normal URLs and paths', () => {
    expect(foldedSpellings('Contacts')).toEqual([]);
    expect(foldedSpellings('https://mail.test/a#b')).toEqual([]);
    expect(foldedSpellings('ws/a')).toEqual([]);
  });

  it('folds a path as a case-insensitive file system sees it: case, NFC, trailing dots and spaces', () => {
    expect(foldedSpellings('/Workspace/A;b')).toEqual(['/workspace/a;b']);
    expect(foldedSpellings('/ws/INBOX./Page.TXT ')).toEqual(['/ws/inbox/page.txt']);
    // NFD and NFC spell one name; ß and SS fold alike; a name of dots alone is kept.
    expect(foldPath('/ws/Cafe\u0301')).toBe(foldPath('/ws/caf\u00e9'));
    expect(foldPath('/ws/STRASSE')).toBe(foldPath('/ws/stra\u00dfe'));
    expect(foldPath('/ws/STRA\u1e9eE')).toBe(foldPath('/ws/stra\u00dfe'));
    expect(foldPath('/ws/.../a')).toBe('/ws/.../a');
  });

  it('folds a pattern as resources are folded, and adds its index', () => {
    expect(foldedSourcePatterns('https://mail.test/Inbox/%40Me;x/**')).toEqual([
      'https://mail.test/inbox/@me/**',
      'https://mail.test/inbox/@me',
    ]);
    expect(foldedSourcePatterns('https://mail.test/inbox/*')).toEqual([
      'https://mail.test/inbox/*',
      'https://mail.test/inbox',
    ]);
    expect(foldedSourcePatterns('https://mail.test/inbox/1')).toEqual(['https://mail.test/inbox/1']);
    expect(foldedSourcePatterns('/Workspace/Inbox/**')).toEqual(['/workspace/inbox/**']);
    expect(foldedSourcePatterns('contacts')).toEqual([]);
  });

  it('every folded spelling is a resource in normal form, which patterns can match', () => {
    fc.assert(
      fc.property(fc.webUrl({ validSchemes: ['https'], withQueryParameters: true }), (url) => {
        const resource = normalizeUrl(url);
        if (resource === undefined) return;
        for (const spelling of foldedSpellings(resource)) expect(parseResource(spelling), spelling).toBeDefined();
      }),
    );
  });

  it('a path folds to a path in normal form, folds once, and keeps what a pattern matched', () => {
    // Letters whose case or normalization folds (é, É, ß, ẞ, a combining acute, the Kelvin sign), dots and spaces.
    const chars = [...'Aa0._ ~-', '\u00e9', '\u00c9', '\u00df', '\u1e9e', '\u0301', '\u212a'];
    const name = fc.array(fc.constantFrom(...chars), { minLength: 1, maxLength: 6 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 4 }), fc.nat(3), (names, cut) => {
        const path = `/ws/${names.join('/')}`;
        if (parseResource(path) === undefined) return;
        const [folded] = foldedSpellings(path);
        expect(folded !== undefined && parseResource(folded), folded).toBeTruthy();
        expect(foldPath(folded ?? '')).toBe(folded);
        const pattern = `/ws/${[...names.slice(0, Math.min(cut, names.length - 1)), '**'].join('/')}`;
        if (parseResource(pattern.replace('**', 'x')) === undefined || !matchResource(pattern, path)) return;
        expect(foldedSourcePatterns(pattern).some((form) => matchResource(form, folded ?? ''))).toBe(true);
      }),
    );
  });

  it('a resource matched by a pattern is matched by its folded pattern on its first folded spelling', () => {
    // Folding resources and patterns the same way keeps what matched (for patterns of literal segments and `**`).
    const segment = fc.stringMatching(/^[A-Za-z0-9._~@!$-]{1,8}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.nat(3), (segments, cut) => {
        const resource = normalizeUrl(`https://mail.test/${segments.join('/')}`);
        if (resource === undefined || !segments.every((s) => /[^.]$/.test(s))) return;
        const kept = segments.slice(0, Math.min(cut, segments.length - 1));
        const pattern = `https://mail.test/${[...kept, '**'].join('/')}`;
        if (!matchResource(pattern, resource)) return;
        const [first] = foldedSpellings(resource);
        expect(foldedSourcePatterns(pattern).some((form) => matchResource(form, first ?? ''))).toBe(true);
      }),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { checkModuleSource, MAX_REGEXP_LITERAL_UNITS, PROPERTY_ESCAPE_UNITS } from '../../isolates/code-check.js';

describe('checkModuleSource', () => {
  it('accepts a plain module, top-level await and import.meta', () => {
    expect(checkModuleSource('export default async function main(input) { return input; }')).toEqual({ ok: true });
    expect(checkModuleSource('await 1; export default () => import.meta')).toEqual({ ok: true });
    // A string or comment that mentions import( is not an import.
    expect(checkModuleSource('// import("x")\nexport default () => "import(\'fs\')"')).toEqual({ ok: true });
  });

  it.each([
    ['static import', 'import fs from "fs"; export default () => 1'],
    ['side-effect import', 'import "fs"; export default () => 1'],
    ['re-export', 'export * from "fs"'],
    ['named re-export', 'export { readFile } from "fs"'],
    ['dynamic import', 'export default async () => import("fs")'],
    ['dynamic import with a comment', 'export default async () => import /* x */ ("fs")'],
    ['nested dynamic import', 'export default () => [1].map(async () => { if (0) await import(`x`) })'],
  ])('refuses %s', (_name, code) => {
    const check = checkModuleSource(code);
    expect(check.ok).toBe(false);
  });

  it('refuses a regexp literal past the pattern cap, wherever it is, and accepts one at the cap', () => {
    const cap = MAX_REGEXP_LITERAL_UNITS;
    const refused = { ok: false, message: `a regular expression literal longer than ${cap} characters is refused` };
    expect(checkModuleSource(`export default () => /${'a'.repeat(cap + 1)}/`)).toEqual(refused);
    expect(
      checkModuleSource(`const f = () => { if (0) return [/${'a'.repeat(cap + 1)}/g]; }; export default f`),
    ).toEqual(refused);
    expect(checkModuleSource(`export default () => /${'a'.repeat(cap)}/u`)).toEqual({ ok: true });
    // Only literals count: the same text in a string (a RegExp built at run time is the prelude's to cap).
    expect(checkModuleSource(`export default () => "/${'a'.repeat(cap + 1)}/"`)).toEqual({ ok: true });
  });

  it('counts each Unicode property escape of a literal as PROPERTY_ESCAPE_UNITS characters', () => {
    const most = Math.floor(MAX_REGEXP_LITERAL_UNITS / PROPERTY_ESCAPE_UNITS) - 1;
    expect(checkModuleSource(`export default () => /${'\\p{L}'.repeat(most)}/u`)).toEqual({ ok: true });
    for (const property of ['\\p{L}', '\\P{L}', '\\p{RGI_Emoji}']) {
      const check = checkModuleSource(`export default () => /${property.repeat(most + 1)}/v`);
      expect(check, property).toEqual({ ok: false, message: expect.stringMatching(/property escapes .* is refused$/) });
    }
  });

  it('compiles no pattern while it parses: costly literals cost it no more than strings of the same size', () => {
    // Review 143: meriyah built each literal with `new RegExp`; 64 distinct literals like these held the kernel 14.3 s.
    const module = (quote: (i: number) => string) =>
      `${Array.from({ length: 6 }, (_, i) => `export const r${i} = ${quote(i)};`).join('\n')}\nexport default () => 0;`;
    const body = '[\\u{100}-\\u{1FFFE}]'.repeat(3000);
    const regexps = module((i) => `/${i}_${body}/iv`);
    const strings = module((i) => `'${i}_${body}'`);
    const time = (code: string) => {
      const started = performance.now();
      expect(checkModuleSource(code)).toEqual({ ok: true });
      return performance.now() - started;
    };
    time(strings);
    time(regexps);
    // Alternating, best of three each: the regexps cost about 0.6 s each before, against a few ms for the strings.
    const best = (code: string) => Math.min(time(code), time(code), time(code));
    expect(best(regexps)).toBeLessThan(5 * best(strings) + 20);
    // A pattern V8 refuses parses here; V8 reports it when it compiles the module in the isolate.
    expect(checkModuleSource('export default () => /(/')).toEqual({ ok: true });
    expect(globalThis.RegExp).toBe(/a/.constructor);
  });

  it('reports syntax errors with a position in the agent source only', () => {
    const check = checkModuleSource('export default () => {');
    expect(check).toEqual({ ok: false, message: expect.stringMatching(/^syntax error: .*\(1:\d+\)$/) });
    // The parse's stand-in for RegExp is gone after a failed parse too.
    expect(globalThis.RegExp).toBe(/a/.constructor);
  });
});

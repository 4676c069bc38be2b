// The lazily loaded guest parts (isolates/guest-libraries.ts): URL and URLSearchParams (whatwg-url),
// structuredClone (@ungap/structured-clone), and the sandbox's answer to the prelude's request for them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { GUEST_PARTS, guestPartSource, libraryReply } from '../../isolates/guest-libraries.js';
import { testKernel } from '../helpers/kernel.js';

let kernel: Kernel;
beforeAll(() => {
  kernel = testKernel({ limits: { cpu_ms: 5000, wall_ms: 10_000 } });
});
afterAll(async () => {
  await kernel.close();
});

async function value(code: string): Promise<unknown> {
  const result = await kernel.run({ code });
  expect(result.ok, JSON.stringify(result)).toBe(true);
  return result.ok ? result.value : undefined;
}

describe('URL and URLSearchParams', () => {
  it('parse and build URLs with search params the way model-written code does', async () => {
    const out = await value(`export default () => {
      const url = new URL('/search?q=old', 'https://Example.COM:443/a/b');
      url.searchParams.set('q', 'cats & dogs');
      url.searchParams.append('page', '2');
      const params = new URLSearchParams({ a: '1', b: 'x y' });
      params.sort();
      return {
        href: url.href,
        host: url.host,
        q: url.searchParams.get('q'),
        entries: [...url.searchParams],
        params: params.toString(),
        idna: new URL('https://bücher.example/').hostname,
        canParse: [URL.canParse('nope'), URL.canParse('http://x')],
        relative: (() => { try { new URL('/x'); return 'parsed'; } catch (e) { return e.constructor.name; } })(),
        json: JSON.stringify({ u: new URL('http://a/b') }),
      };
    }`);
    expect(out).toEqual({
      href: 'https://example.com/search?q=cats+%26+dogs&page=2',
      host: 'example.com',
      q: 'cats & dogs',
      entries: [
        ['q', 'cats & dogs'],
        ['page', '2'],
      ],
      params: 'a=1&b=x+y',
      idna: 'xn--bcher-kva.example',
      canParse: [false, true],
      relative: 'TypeError',
      json: '{"u":"http://a/b"}',
    });
  });

  it('matches Node on a set of tricky URLs', async () => {
    const inputs = [
      'HTTP://EXAMPLE.com/%7Efoo/../bar',
      'http://[::1]:8080/x',
      'file:///etc/passwd',
      'http://a/b?c#d e',
      'mailto:x@y',
    ];
    const out = await value(
      `export default () => ${JSON.stringify(inputs)}.map((s) => { const u = new URL(s); return [u.href, u.origin, u.pathname]; })`,
    );
    expect(out).toEqual(inputs.map((s) => [new URL(s).href, new URL(s).origin, new URL(s).pathname]));
  });
});

describe('structuredClone', () => {
  it('copies a Map of rich values deeply, keeps cycles, and refuses functions with DataCloneError', async () => {
    const out = await value(`export default () => {
      const inner = { when: new Date(0), re: /a+/gi, big: 10n, bytes: new Uint8Array([1, 2, 3]), set: new Set(['x']) };
      const source = new Map([['k', inner]]);
      inner.self = inner;
      const copy = structuredClone(source);
      const c = copy.get('k');
      let refused;
      try { structuredClone({ f() {} }); } catch (e) { refused = [e.name, e instanceof DOMException]; }
      return {
        isMap: copy instanceof Map,
        distinct: copy !== source && c !== inner,
        date: c.when instanceof Date && c.when.getTime() === 0,
        re: c.re instanceof RegExp && c.re.flags === 'gi',
        big: c.big === 10n,
        bytes: c.bytes instanceof Uint8Array && Array.from(c.bytes).join(),
        set: c.set instanceof Set && c.set.has('x'),
        cycle: c.self === c,
        refused,
      };
    }`);
    expect(out).toEqual({
      isMap: true,
      distinct: true,
      date: true,
      re: true,
      big: true,
      bytes: '1,2,3',
      set: true,
      cycle: true,
      refused: ['DataCloneError', true],
    });
  });
});

describe('the library request', () => {
  it('answers each lazy part with its source, and refuses anything else', () => {
    for (const [name, part] of Object.entries(GUEST_PARTS)) {
      const reply = libraryReply(JSON.stringify([name]));
      if (part.eager) expect(reply.startsWith('e'), name).toBe(true);
      else expect(JSON.parse(reply.slice(1))).toBe(guestPartSource(name));
    }
    for (const bad of ['["../prelude.cjs"]', '["toString"]', '["__proto__"]', '[]', 'not json', 42]) {
      expect(libraryReply(bad).startsWith('e["E_NOT_FOUND"'), String(bad)).toBe(true);
    }
  });

  it('a bundle binds the globals it names to guest parts, not to whatever the agent left on the global', async () => {
    const out = await value(`export default () => {
      globalThis.TextEncoder = class { encode() { throw new Error('agent encoder'); } };
      return new URL('https://example.com/é').pathname;
    }`);
    expect(out).toBe('/%C3%A9');
  });
});

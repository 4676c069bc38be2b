import { describe, expect, it } from 'vitest';
import {
  scrubTarget,
  scrubValue,
  scrubValueSliced,
  spelledIn,
  viewsOf,
} from '../../../runtime/tool-use/secret-scrub.js';

describe('scrubValue', () => {
  const key = scrubTarget('k3y/with&spaces here', '[key]');

  it('replaces known forms and decoded spellings alike, and leaves its input as it was', () => {
    const input = { a: ['k3y/with&spaces here', 'k3y%2Fwith%26spaces%20here'], 'k3y\\/with\\u0026spaces here': 1 };
    const copy = structuredClone(input);
    expect(scrubValue(input, [key])).toEqual({ value: { a: ['[key]', '[key]'], '[key]': 1 }, found: true });
    expect(input).toEqual(copy);
  });

  it('finds form-encoding spaces as `+` around other escapes', () => {
    expect(scrubValue('q=k3y%2fwith%26spaces+here&x=1', [key])).toEqual({ value: 'q=[key]&x=1', found: true });
  });

  it('replaces a longer secret before a shorter one inside it, whichever spelling each has', () => {
    const short = scrubTarget('inner-9', '[short]');
    const long = scrubTarget('outer inner-9 tail', '[long]');
    expect(scrubValue(['outer+inner-9+tail', 'inner%2D9'], [short, long]).value).toEqual(['[long]', '[short]']);
  });

  it('reports nothing and returns the value itself without a target or a match', () => {
    const value = { a: 'nothing here \\/ &amp; %41' };
    expect(scrubValue(value, [])).toEqual({ value, found: false });
    expect(scrubValue(value, [key])).toEqual({ value, found: false });
  });

  it('spelledIn finds the known forms in one-step views and the secret in two-step ones', () => {
    expect(spelledIn(viewsOf('x k3y%2Fwith%26spaces%20here'), key)).toBe(true);
    expect(spelledIn(viewsOf('x=k3y%252Fwith%2526spaces%2520here'), key)).toBe(true);
    expect(spelledIn(viewsOf('nothing'), key)).toBe(false);
  });

  it("a shorter secret's known form does not cut a longer secret's spelling in two (red-team pass 106)", () => {
    const client = scrubTarget('myclient', '[client]');
    const basic = scrubTarget('myclient:s3cr3t/pa55', '[basic]');
    for (const text of ['myclient:s3cr3t\\/pa55', 'myclient&#58;s3cr3t&#x2F;pa55', 'myclient%3as3cr3t%2fpa55']) {
      expect(scrubValue(`<${text}> myclient`, [client, basic]).value, text).toBe('<[basic]> [client]');
    }
  });

  it('finds base64 and base64url of a secret under one more layer of escaping (red-team pass 106)', () => {
    const token = scrubTarget('ghp_x?>~Qz?7kP>>9~', '[gh]');
    const base64 = Buffer.from('ghp_x?>~Qz?7kP>>9~').toString('base64');
    expect(base64).toMatch(/[+/]/);
    for (const text of [
      base64.replaceAll('/', '\\/'),
      encodeURIComponent(base64),
      encodeURIComponent(base64).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
      Buffer.from('ghp_x?>~Qz?7kP>>9~').toString('base64url'),
    ]) {
      expect(scrubValue(`state=${text}&x=1`, [token]), text).toEqual({ value: 'state=[gh]&x=1', found: true });
    }
  });

  it('finds base64 of a short secret at every offset among any neighbours (red-team pass 107)', () => {
    for (const secret of ['bob:1234', 'user:482913', 'bob:hunter2']) {
      const target = scrubTarget(secret, '[k]');
      for (const before of ['', 'x', 'xy', 'Basic ', 'user=']) {
        for (const after of ['', '!', '?\n', 'tail-data']) {
          const blob = Buffer.from(`${before}${secret}${after}`).toString('base64');
          const { value, found } = scrubValue(`Authorization: ${blob}`, [target]);
          expect(found, `${before}|${secret}|${after}`).toBe(true);
          // What is left beside the marker is at most the one character at each edge that neighbours share.
          const [left = '', right = ''] = value.slice('Authorization: '.length).split('[k]');
          const secretChars =
            Math.ceil(((before.length + secret.length) * 4) / 3) - Math.floor((before.length * 4) / 3);
          expect(left.length + right.length, `${before}|${secret}|${after}`).toBeLessThanOrEqual(
            blob.length - secretChars + 2,
          );
        }
      }
    }
  });

  it('refuses a secret with a lone surrogate with a TypeError', () => {
    expect(() => scrubTarget('ab\ud800cdefgh', '[k]')).toThrow(TypeError);
  });

  it('keeps an own __proto__ key, as an empty vault does (red-team pass 106)', () => {
    const value = JSON.parse('{"__proto__":{"polluted":1},"a":"k3y/with&spaces here"}') as object;
    const out = scrubValue(value, [key]).value;
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  it('refuses a secret its own replacement shows', () => {
    expect(() => scrubTarget('db-2024', '[vault:db-2024]')).toThrow(TypeError);
  });
});

describe('scrubValueSliced (red-team passes 109 to 112)', () => {
  const key = scrubTarget('hunter2!', '[key]');
  // 20,000 distinct strings of escapes (about 300 K characters), two of them spelling the secret.
  const large = (): Record<string, string[]> => {
    const items = Array.from({ length: 20_000 }, (_, i) => `%2${i % 10}\\u004${i % 7}&#${i};`);
    items[777] = 'hunter2%21';
    items[15_000] = '&#104;unter2!';
    return { items, 'k&#101;y': items.slice(0, 3) };
  };
  const counting = () => {
    let slices = 0;
    const meter = <R>(call: () => R): R => {
      slices++;
      return call();
    };
    return { meter, slices: () => slices };
  };

  it('scrubs a small value too after a turn of the event loop, whatever its size (red-team pass 111)', async () => {
    const value = { a: 'hunter2!', b: ['x'] };
    const { meter } = counting();
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    const sliced = scrubValueSliced(value, [key], { meter, stopped: () => false });
    expect(turned).toBe(false);
    expect(await sliced).toEqual(scrubValue(value, [key]));
    expect(turned).toBe(true);
    expect(await scrubValueSliced({ none: 1 }, [key], { meter, stopped: () => false })).toEqual({
      value: { none: 1 },
      found: false,
    });
  });

  it('scrubs a large value in metered slices with the event loop free between them, to what scrubValue gives', async () => {
    const value = large();
    const { meter, slices } = counting();
    let turns = 0;
    const tick = setInterval(() => turns++, 0);
    try {
      const done = await scrubValueSliced(value, [key], { meter, stopped: () => false });
      expect(done).toEqual(scrubValue(value, [key]));
      expect(done?.found).toBe(true);
      expect(done?.value['items']?.[777]).toBe('[key]');
    } finally {
      clearInterval(tick);
    }
    // The last slice rebuilds the value; every slice ran inside the meter and timers ran between them.
    expect(slices()).toBeGreaterThanOrEqual(2);
    expect(turns).toBeGreaterThanOrEqual(1);
  });

  it('gives undefined once its caller has stopped, and searches no further', async () => {
    const { meter, slices } = counting();
    expect(await scrubValueSliced(large(), [key], { meter, stopped: () => true })).toBeUndefined();
    expect(slices()).toBe(0);
  });
});

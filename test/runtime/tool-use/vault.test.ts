import { spawnSync } from 'node:child_process';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EMPTY_INJECTION, Vault, type VaultEntryOptions } from '../../../runtime/tool-use/vault.js';
import { ECHO_SPELLINGS, ONE_STEP_SPELLINGS } from '../../helpers/echo-spellings.js';

const API = 'https://api.example.com';
const HEADER: VaultEntryOptions = {
  bind: { action: 'net.http', resource: `${API}/**` },
  inject: { header: 'X-Api-Key' },
};
const SECRET = 'sk-live-Q7wP2xZ9mN4b';

function vaultWith(ref: string, secret: string, options: VaultEntryOptions): Vault {
  const vault = new Vault();
  vault.set(ref, secret, options);
  return vault;
}

/** Calls `set` and returns the TypeError it threw; fails when it did not throw one. */
function setError(ref: unknown, secret: unknown, options: unknown): TypeError {
  try {
    // Deliberately ill-typed: the host API must refuse what TypeScript would.
    new Vault().set(ref as string, secret as string, options as VaultEntryOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return error as TypeError;
  }
  throw new Error('expected set to throw');
}

describe('Vault.set validation', () => {
  it.each([
    ['empty', ''],
    ['a leading digit', '1github'],
    ['a space', 'git hub'],
    ['a slash', 'a/b'],
    ['a path traversal', '../etc'],
    ['a colon', 'vault:x'],
    ['a newline', 'gh\n'],
    ['65 characters', `a${'b'.repeat(64)}`],
    ['a non-string', 42],
    ['null', null],
  ])('refuses a ref with %s', (_what, ref) => {
    expect(setError(ref, SECRET, HEADER).message).toMatch(/^ref /);
  });

  it('accepts a 64-character ref with dots, dashes and underscores', () => {
    const ref = `a${'b.c-d_a'.repeat(9)}`;
    expect(ref.length).toBe(64);
    expect(
      vaultWith(ref, SECRET, HEADER)
        .list()
        .map((entry) => entry.ref),
    ).toEqual([ref]);
  });

  it.each([
    ['empty', ''],
    ['over 16 KiB', 'x'.repeat(16 * 1024 + 1)],
    ['a number', 12345],
    ['undefined', undefined],
  ])('refuses a secret that is %s', (_what, secret) => {
    expect(setError('gh', secret, HEADER).message).toMatch(/^secret /);
  });

  it.each([
    ['CR', 'abc\rdef'],
    ['LF', 'abc\ndef'],
    ['CRLF + a smuggled header', 'abc\r\nX-Injected: 1'],
    ['NUL', 'abc\u0000def'],
  ])('refuses a header secret with %s, without echoing it', (_what, secret) => {
    const error = setError('gh', secret, HEADER);
    expect(error.message).toMatch(/CR, LF or NUL/);
    expect(error.message).not.toContain('abc');
  });

  it.each([
    ['CR', 'abc\rdef'],
    ['LF', 'abc\ndef'],
    ['NUL', 'abc\u0000def'],
  ])('refuses a bearer secret with %s', (_what, secret) => {
    const error = setError('gh', secret, { bind: HEADER.bind, inject: { bearer: true } });
    expect(error.message).toMatch(/CR, LF or NUL/);
    expect(error.message).not.toContain('abc');
  });

  it('accepts CR/LF in a query secret (it is URL-encoded, it cannot split a request)', () => {
    const vault = vaultWith('q', 'abc\r\ndef', { bind: HEADER.bind, inject: { query: 'key' } });
    expect(vault.match('net.http', `${API}/x`).injection.query).toEqual({ key: 'abc\r\ndef' });
  });

  it('refuses a secret that a marker would show, and a ref whose marker holds a secret (passes 106 and 107)', () => {
    expect(setError('db-2024', 'db-2024', HEADER).message).toMatch(/marker/);
    expect(setError('vault', 'vault:v', HEADER).message).not.toContain('vault:v');
    const vault = vaultWith('b', 'Bz9-long-token', HEADER);
    expect(() => vault.set('a', 'vault:b', HEADER)).toThrow(/marker/);
    const withToken = vaultWith('t', 'tok-5', HEADER);
    expect(() => withToken.set('x-tok-5', 'other-secret-1', HEADER)).toThrow(TypeError);
    // The entry itself may be replaced under the same ref.
    withToken.set('t', 'tok-6', HEADER);
  });

  it('refuses a secret holding a lone surrogate, which no request could carry', () => {
    expect(setError('k', 'ab\ud800cdefgh', HEADER).message).toMatch(/surrogate/);
  });

  it('never puts the secret in any validation message', () => {
    const secret = 'NEVER-ECHO-ME-4242';
    const bad: unknown[] = [
      null,
      { bind: null, inject: { header: 'x' } },
      { bind: { action: 'Net Http', resource: `${API}/**` }, inject: { header: 'x' } },
      { bind: { action: 'net.http', resource: `${API}/?q=1` }, inject: { header: 'x' } },
      { bind: HEADER.bind, inject: { header: 'bad name' } },
      { bind: HEADER.bind, inject: { query: 'a&b' } },
      { bind: HEADER.bind, inject: { bearer: 'yes' } },
      { bind: HEADER.bind, inject: {} },
    ];
    for (const options of bad) expect(setError('gh', secret, options).message).not.toContain(secret);
  });

  it.each([
    ['not an object', 'net.http'],
    ['null', null],
  ])('refuses options that are %s', (_what, options) => {
    expect(setError('gh', SECRET, options).message).toBe('options must be an object');
  });

  it.each([
    ['missing', undefined],
    ['an invalid action', { action: 'net http', resource: `${API}/**` }],
    ['an empty action', { action: '', resource: `${API}/**` }],
    ['a non-string action', { action: 7, resource: `${API}/**` }],
  ])('refuses a binding with %s', (_what, bind) => {
    expect(setError('gh', SECRET, { bind, inject: { header: 'x' } }).message).toMatch(/^options\.bind\.action/);
  });

  it.each([
    ['empty', ''],
    ['a query', `${API}/v1?x=1`],
    ['a fragment', `${API}/v1#x`],
    ['a control character', `${API}/v1\n`],
    ['a backslash', `${API}\\v1`],
    ['a non-string', 42],
  ])('refuses a binding resource that is %s', (_what, resource) => {
    const error = setError('gh', SECRET, { bind: { action: 'net.http', resource }, inject: { header: 'x' } });
    expect(error.message).toMatch(/^options\.bind\.resource: /);
  });

  it.each([
    ['a space', 'X Api'],
    ['a colon', 'X-Api:'],
    ['CR/LF', 'X-Api\r\nInjected'],
    ['NUL', 'X\u0000'],
    ['a non-ASCII letter', 'X-Ápi'],
    ['empty', ''],
    ['over 128 characters', 'x'.repeat(129)],
  ])('refuses a header name with %s', (_what, header) => {
    expect(setError('gh', SECRET, { bind: HEADER.bind, inject: { header } }).message).toBe(
      'options.inject.header must be a header name',
    );
  });

  it.each([
    ['an ampersand', 'a&b'],
    ['an equals sign', 'a=b'],
    ['a space', 'a b'],
    ['a hash', 'a#'],
    ['empty', ''],
  ])('refuses a query name with %s', (_what, query) => {
    expect(setError('gh', SECRET, { bind: HEADER.bind, inject: { query } }).message).toBe(
      'options.inject.query must be a query parameter name',
    );
  });

  it.each([
    ['null', null],
    ['a string', 'header'],
    ['empty', {}],
    ['two ways', { header: 'x', query: 'y' }],
    ['bearer not true', { bearer: 1 }],
    ['an unknown way', { cookie: 'sid' }],
  ])('refuses an injection that is %s', (_what, inject) => {
    expect(setError('gh', SECRET, { bind: HEADER.bind, inject }).message).toMatch(/^options\.inject/);
  });

  it('replaces the entry of an existing ref', () => {
    const vault = vaultWith('gh', 'OLD-SECRET-1111', HEADER);
    vault.set('gh', 'NEW-SECRET-2222', { bind: HEADER.bind, inject: { bearer: true } });
    expect(vault.list()).toEqual([{ ref: 'gh', bind: HEADER.bind, inject: { bearer: true } }]);
    expect(vault.match('net.http', `${API}/x`).injection.headers).toEqual({ authorization: 'Bearer NEW-SECRET-2222' });
    // The old value is no longer a secret the vault knows, the new one is.
    expect(vault.redact('NEW-SECRET-2222')).toBe('[vault:gh]');
  });

  it('copies the binding, so the caller cannot rebind an entry after set', () => {
    const bind = { action: 'net.http', resource: `${API}/**` };
    const inject = { header: 'x-key' };
    const vault = vaultWith('gh', SECRET, { bind, inject });
    bind.resource = 'https://evil.example/**';
    inject.header = 'x-other';
    expect(vault.match('net.http', 'https://evil.example/x').refs).toEqual([]);
    expect(vault.match('net.http', `${API}/x`).injection.headers).toEqual({ 'x-key': SECRET });
  });

  it('delete removes an entry; empty reports whether any is left', () => {
    const vault = vaultWith('gh', SECRET, HEADER);
    expect(vault.empty).toBe(false);
    expect(vault.delete('gh')).toBe(true);
    expect(vault.delete('gh')).toBe(false);
    expect(vault.empty).toBe(true);
    expect(vault.match('net.http', `${API}/x`)).toEqual({ injection: EMPTY_INJECTION, refs: [] });
  });
});

describe('Vault never shows its secrets to the host either', () => {
  it('list, JSON and inspect carry refs and bindings, never secrets', () => {
    const vault = vaultWith('gh', SECRET, HEADER);
    vault.set('bearer', 'BEARER-SECRET-9876', { bind: HEADER.bind, inject: { bearer: true } });
    const views = [JSON.stringify(vault.list()), JSON.stringify(vault), inspect(vault, { showHidden: true, depth: 9 })];
    for (const view of views) {
      expect(view).not.toContain(SECRET);
      expect(view).not.toContain('BEARER-SECRET-9876');
    }
    expect(vault.list().map((entry) => entry.ref)).toEqual(['gh', 'bearer']);
  });
});

describe('Vault.match', () => {
  const vault = new Vault();
  vault.set('header', 'HEADER-SECRET-0001', HEADER);
  vault.set('bearer', 'BEARER-SECRET-0002', {
    bind: { action: 'net.http', resource: `${API}/v1/**` },
    inject: { bearer: true },
  });
  vault.set('query', 'QUERY-SECRET-0003', {
    bind: { action: 'net.*', resource: 'https://maps.example.com/geo' },
    inject: { query: 'key' },
  });
  vault.set('mcp', 'MCP-SECRET-0004', {
    bind: { action: 'tool:*', resource: 'github/**' },
    inject: { header: 'X-Token' },
  });

  it('injects every entry whose action and resource patterns match', () => {
    expect(vault.match('net.http', `${API}/v1/repos`)).toEqual({
      injection: {
        headers: { 'x-api-key': 'HEADER-SECRET-0001', authorization: 'Bearer BEARER-SECRET-0002' },
        query: {},
      },
      refs: ['header', 'bearer'],
    });
    expect(vault.match('net.http', `${API}/v2/repos`)).toEqual({
      injection: { headers: { 'x-api-key': 'HEADER-SECRET-0001' }, query: {} },
      refs: ['header'],
    });
    expect(vault.match('net.fetch', 'https://maps.example.com/geo')).toEqual({
      injection: { headers: {}, query: { key: 'QUERY-SECRET-0003' } },
      refs: ['query'],
    });
    expect(vault.match('tool:search', 'github/issues')).toEqual({
      injection: { headers: { 'x-token': 'MCP-SECRET-0004' }, query: {} },
      refs: ['mcp'],
    });
  });

  it.each([
    ['another action', 'fs.read', `${API}/v1/repos`],
    ['an action that only shares a prefix', 'net.httpx', `${API}/v1/repos`],
    ['another host', 'net.http', 'https://evil.example.com/v1/repos'],
    ['a host that extends the bound one', 'net.http', 'https://api.example.com.evil.example/v1/repos'],
    ['another port', 'net.http', 'https://api.example.com:8443/v1/repos'],
    ['another scheme', 'net.http', 'http://api.example.com/v1/repos'],
    ['the bare origin (** needs a segment)', 'net.http', API],
    ['a path that is not in normal form', 'net.http', `${API}/v1/../admin`],
    ['a URL with credentials', 'net.http', 'https://user:pw@api.example.com/v1/repos'],
    ['a path resource', 'net.http', '/v1/repos'],
    ['a sibling of an exact pattern', 'net.fetch', 'https://maps.example.com/geo2'],
    ['a child of an exact pattern', 'net.fetch', 'https://maps.example.com/geo/x'],
    ['a name outside the pattern', 'tool:search', 'gitlab/issues'],
    ['a malformed action', 'net http', `${API}/v1/repos`],
  ])('injects nothing for %s', (_what, action, resource) => {
    const { injection, refs } = vault.match(action, resource);
    expect(refs).toEqual([]);
    expect(injection).toBe(EMPTY_INJECTION);
  });

  it('ignores the query when matching a URL (it is not part of the pattern)', () => {
    expect(vault.match('net.fetch', 'https://maps.example.com/geo?key=attacker').refs).toEqual(['query']);
  });

  it('returns frozen injections the tool cannot edit for the next call', () => {
    const { injection } = vault.match('net.http', `${API}/v1/repos`);
    expect(Object.isFrozen(injection)).toBe(true);
    expect(Object.isFrozen(injection.headers)).toBe(true);
    expect(Object.isFrozen(injection.query)).toBe(true);
    expect(Object.isFrozen(EMPTY_INJECTION.headers)).toBe(true);
  });

  it('an empty vault matches nothing', () => {
    expect(new Vault().match('net.http', `${API}/x`)).toEqual({ injection: EMPTY_INJECTION, refs: [] });
  });
});

describe('Vault.redact', () => {
  it('replaces secrets in nested strings, arrays and object keys, at any depth', () => {
    const vault = vaultWith('gh', SECRET, HEADER);
    const input = {
      status: 200,
      ok: true,
      none: null,
      headers: { 'x-echo': `key=${SECRET}`, [`x-${SECRET}`]: 'name' },
      list: [SECRET, [`a${SECRET}b${SECRET}`, 7, { deep: { deeper: [SECRET] } }]],
    };
    expect(vault.redact(input)).toEqual({
      status: 200,
      ok: true,
      none: null,
      headers: { 'x-echo': 'key=[vault:gh]', 'x-[vault:gh]': 'name' },
      list: ['[vault:gh]', ['a[vault:gh]b[vault:gh]', 7, { deep: { deeper: ['[vault:gh]'] } }]],
    });
    expect(JSON.stringify(vault.redact(input))).not.toContain(SECRET);
  });

  it('does not change its input', () => {
    const vault = vaultWith('gh', SECRET, HEADER);
    const input = { a: [SECRET] };
    vault.redact(input);
    expect(input).toEqual({ a: [SECRET] });
  });

  it('returns the value itself when the vault is empty, and leaves other values as they are', () => {
    const value = { a: 'SOMETHING' };
    expect(new Vault().redact(value)).toBe(value);
    const vault = vaultWith('gh', SECRET, HEADER);
    expect(vault.redact(42)).toBe(42);
    expect(vault.redact(undefined)).toBeUndefined();
    expect(vault.redact('no secret here')).toBe('no secret here');
  });

  it('replaces the URL-encoded, form-encoded, JSON-escaped and base64 forms of a secret', () => {
    // Every character that encodes differently in one of the forms a server may echo a secret in.
    const secret = `tok en/+=?&~!*'()"\\é`;
    const vault = vaultWith('q', secret, { bind: HEADER.bind, inject: { query: 'key' } });
    const forms = {
      raw: secret,
      uri: encodeURIComponent(secret),
      form: new URLSearchParams({ key: secret }).toString().slice(4),
      json: JSON.stringify(secret).slice(1, -1),
      base64: Buffer.from(secret).toString('base64'),
    };
    for (const [name, form] of Object.entries(forms)) {
      expect(vault.redact(`<${form}>`), name).toBe('<[vault:q]>');
    }
  });

  it('replaces base64 of the secret (and of its escaped forms) at every byte alignment inside a longer blob', () => {
    const secret = 'sk-"Align\\Me~Core-42';
    const vault = vaultWith('gh', secret, HEADER);
    for (const form of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]) {
      for (const pad of ['', 'x', 'xy', 'xyz']) {
        const blob = Buffer.from(`${pad}{"key":"${form}","n":1}`).toString('base64');
        const redacted = vault.redact({ body_base64: blob }).body_base64;
        expect(redacted, `${form} after ${pad.length}`).toContain('[vault:gh]');
        // Whatever is left decodes to at most a few bytes at either edge of the secret.
        expect(Buffer.from(redacted.replace(/\[vault:gh\]/g, ''), 'base64').toString('latin1')).not.toContain('Core');
      }
    }
  });

  it('redacts a longer secret before a shorter one it contains, so no part of it survives', () => {
    const vault = new Vault();
    vault.set('short', 'hunter2-pass', HEADER);
    vault.set('long', 'admin:hunter2-pass:tail-9f3k', { bind: HEADER.bind, inject: { bearer: true } });
    expect(vault.redact('x admin:hunter2-pass:tail-9f3k y hunter2-pass')).toBe('x [vault:long] y [vault:short]');
  });

  it('redacts every entry, not only the ones bound to a call', () => {
    const vault = vaultWith('gh', SECRET, HEADER);
    vault.set('other', 'OTHER-SECRET-5555', {
      bind: { action: 'fs.read', resource: '/x/**' },
      inject: { bearer: true },
    });
    expect(vault.redact([SECRET, 'OTHER-SECRET-5555'])).toEqual(['[vault:gh]', '[vault:other]']);
  });
});

describe('Vault.carries', () => {
  const secret = `tok "en'~é`;
  const vault = vaultWith('q', secret, { bind: HEADER.bind, inject: { query: 'key' } });

  it.each([
    ['raw', `https://x.example/a?k=${secret}`],
    ['as encodeURIComponent writes it', `https://x.example/a?k=${encodeURIComponent(secret)}`],
    ['as a URL parser re-encodes it', new URL(`https://x.example/a?k=${encodeURIComponent(secret)}`).href],
    ['as a URL parser encodes it raw', new URL(`https://x.example/a?k=${secret}`).href],
    ['in a path', new URL(`https://x.example/${encodeURIComponent(secret)}`).href],
    ['form-encoded', `https://x.example/a?${new URLSearchParams({ k: secret })}`],
    ['with lower-case escapes', `https://x.example/a?k=${encodeURIComponent(secret).toLowerCase()}`],
  ])('finds a secret %s', (_what, url) => {
    expect(vault.carries(url)).toBe(true);
  });

  it('property: finds any secret percent-encoded between any text, each character escaped or not', () => {
    const noEscape = fc.string().filter((text) => !text.includes('%'));
    fc.assert(
      fc.property(
        noEscape,
        fc.string({ minLength: 8 }).filter((text) => !text.includes('%')),
        noEscape,
        fc.array(fc.boolean()),
        (pre, key, post, raw) => {
          const own = vaultWith('p', key, { bind: HEADER.bind, inject: { query: 'key' } });
          // Each character of the secret percent-encoded (as UTF-8) or left as it is, in any mix. (A secret with a
          // literal '%' left unescaped, or next to one, is not what any encoder writes: a decoder reads an escape.)
          const encoded = [...key]
            .map((char, i) => (raw[i % (raw.length || 1)] ? char : encodeURIComponent(char)))
            .join('');
          return own.carries(`${pre}${encoded}${post}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('finds nothing in a clean URL, with malformed escapes, or in an empty vault', () => {
    expect(vault.carries('https://x.example/a?k=tok%20en')).toBe(false);
    expect(vault.carries('https://x.example/%zz%4?%E9')).toBe(false);
    expect(new Vault().carries(`https://x.example/a?k=${secret}`)).toBe(false);
  });
});

describe('Vault.scrub labels what it touched (red-team passes 46 and 47)', () => {
  it('adds `secret` when it replaced anything, and nothing otherwise', () => {
    const vault = vaultWith('key', SECRET, HEADER);
    expect(vault.scrub({ text: `got ${SECRET}` })).toEqual({ value: { text: 'got [vault:key]' }, label: ['secret'] });
    expect(vault.scrub({ text: 'nothing here' })).toEqual({ value: { text: 'nothing here' }, label: [] });
    expect(vault.scrub({ [`k${SECRET}`]: 1 })).toEqual({ value: { 'k[vault:key]': 1 }, label: ['secret'] });
    expect(new Vault().scrub(SECRET)).toEqual({ value: SECRET, label: [] });
  });

  it('carried names the refs a text carries, in any form redact replaces or percent-encoded', () => {
    const vault = vaultWith('key', SECRET, HEADER);
    vault.set('pin', '7315', HEADER);
    expect(vault.carried(`x=${SECRET}`)).toEqual(['key']);
    expect(vault.carried('x=%37%33%31%35')).toEqual(['pin']);
    expect(vault.carried(Buffer.from(`  ${SECRET}`).toString('base64'))).toEqual(['key']);
    expect(vault.carried('nothing')).toEqual([]);
  });

  it('carriedIn looks at every string of a value, keys included, at any depth', () => {
    const vault = vaultWith('pin', '7315', HEADER);
    expect(vault.carriedIn({ a: [1, { b: ['0000', '7315'] }] })).toBe(true);
    expect(vault.carriedIn({ a: { '7315': 1 } })).toBe(true);
    expect(vault.carriedIn({ a: ['0000', 7315] })).toBe(false);
    expect(new Vault().carriedIn('7315')).toBe(false);
  });

  it('scrubSliced answers as scrub does, after a turn of the event loop', async () => {
    const vault = vaultWith('key', SECRET, HEADER);
    const slicing = { meter: <R>(call: () => R): R => call(), stopped: () => false };
    const items = Array.from({ length: 8000 }, (_, i) => `item %2${i % 10} ${i} ${'x'.repeat(20)}`);
    const hit = { items: [...items, `got ${SECRET.replaceAll('-', '\\u002d')}`] };
    expect(await vault.scrubSliced({ a: `got ${SECRET}` }, slicing)).toEqual(vault.scrub({ a: `got ${SECRET}` }));
    const sliced = vault.scrubSliced(hit, slicing);
    expect(sliced).toBeInstanceOf(Promise);
    expect(await sliced).toEqual(vault.scrub(hit));
    expect((await sliced)?.label).toEqual(['secret']);
    expect(vault.carriedIn(hit)).toBe(true);
    expect(vault.carriedIn({ items })).toBe(false);
    expect(new Vault().scrubSliced(hit, slicing)).toEqual({ value: hit, label: [] });
  });
});

describe('Vault.scrub finds a secret in any spelling a server echoes it in (red-team pass 105)', () => {
  // Characters each spelling writes differently: a slash (PHP), `&` and `<` (Go, HTML), quotes, a backslash,
  // non-ASCII inside and outside the BMP, `+` and a space (form-encoding).
  const secret = `tok/en&<"'\\é😀+ x`;
  const vault = vaultWith('q', secret, { bind: HEADER.bind, inject: { query: 'key' } });

  it.each(Object.entries(ECHO_SPELLINGS))(
    'replaces only the escapes that spell it, as %s writes it',
    (_name, spell) => {
      const body = `{"note":"a\\/b \\u0026 %2f","echo":"${spell(secret)}","n":1}`;
      const { value, label } = vault.scrub(body);
      expect(label).toEqual(['secret']);
      // The rest of the text is as it was: a JSON body still parses, and its other escapes are untouched.
      expect(value).toBe(`{"note":"a\\/b \\u0026 %2f","echo":"[vault:q]","n":1}`);
      expect(vault.carries(body)).toBe(true);
    },
  );

  it('matches what python3 writes for the Python spellings', () => {
    const run = spawnSync(
      'python3',
      ['-c', 'import json,html,sys; s=sys.argv[1]; print(json.dumps(s)[1:-1]); print(html.escape(s))', secret],
      { encoding: 'utf8' },
    );
    // python3 is on every machine the tests run on (README): its absence is a failure, not a pass.
    expect(run.status, run.stderr).toBe(0);
    const [json, html] = run.stdout.split('\n');
    expect(json).toBe(ECHO_SPELLINGS.python?.(secret));
    expect(html).toBe(ECHO_SPELLINGS.html?.(secret));
  });

  it('leaves a text that only resembles a spelled secret as it is, unlabelled', () => {
    for (const text of [
      'tok\\/en\\u0026',
      'tok/en&amp;&lt;',
      '%74%6F%6B',
      secret.slice(1),
      `\\${secret.slice(0, 5)}`,
    ]) {
      expect(vault.scrub(text), text).toEqual({ value: text, label: [] });
    }
  });

  it('replaces every occurrence, in keys too, and each secret under its own ref', () => {
    vault.set('pin', '7315', HEADER);
    const php = ECHO_SPELLINGS.php?.(secret) ?? '';
    const { value, label } = vault.scrub({ [`k ${php}`]: [`${php}|&#55;&#51;&#49;&#53;|${php}`] });
    expect(value).toEqual({ 'k [vault:q]': ['[vault:q]|[vault:pin]|[vault:q]'] });
    expect(label).toEqual(['secret']);
    vault.delete('pin');
  });

  it('property: no spelling of one or two steps, between any plain text, survives a scrub', () => {
    // Two one-step spellings in a row, or one of any: at most the two steps a view undoes.
    const one = fc.constantFrom(...ONE_STEP_SPELLINGS);
    const spellings = fc.oneof(
      fc.array(one, { minLength: 1, maxLength: 2 }),
      fc.constantFrom(...Object.values(ECHO_SPELLINGS)).map((spell) => [spell]),
    );
    const plain = fc.stringMatching(/^[A-Za-z0-9 .,:;-]{0,20}$/);
    fc.assert(
      fc.property(
        fc.string({ minLength: 6, maxLength: 24, unit: 'binary' }),
        plain,
        plain,
        spellings,
        (key, pre, post, steps) => {
          // The plain text around it must not hold the secret itself (a CI run drew "String" between "" and "String").
          fc.pre(`${pre}${key}${post}`.split(key).length === 2);
          const own = vaultWith('p', key, { bind: HEADER.bind, inject: { query: 'key' } });
          const spelled = steps.reduce((text, spell) => spell(text), key);
          const { value, label } = own.scrub(`${pre}${spelled}${post}`);
          return label.includes('secret') && value.startsWith(pre) && value.endsWith(post) && !own.carries(value);
        },
      ),
      { numRuns: 400 },
    );
  });
});

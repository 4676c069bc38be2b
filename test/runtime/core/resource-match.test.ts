import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { Minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';
import {
  actionPatternCovers,
  compileResourcePattern,
  isActionName,
  isActionPattern,
  isGlob,
  MAX_GLOBSTARS,
  MAX_MATCH_WORK,
  MAX_REQUESTED_GLOB_LENGTH,
  MAX_RESOURCE_LENGTH,
  matchAction,
  matchResource,
  matchResourceAtOrBelow,
  normalizePath,
  normalizeUrl,
  parseResource,
  resourceCoverCost,
  resourceKind,
  resourcePatternCovers,
  resourcePatternError,
  resourceTestCost,
} from '../../../runtime/core/resource-match.js';

// The options resource-match.ts documents; the differential property below checks its fast paths against them.
const MINIMATCH = {
  dot: true,
  nobrace: true,
  noext: true,
  nonegate: true,
  nocomment: true,
  platform: 'linux',
} as const;

describe('actions', () => {
  it('matches exact names, prefixes with their separator, and *', () => {
    expect(matchAction('fs.read', 'fs.read')).toBe(true);
    expect(matchAction('fs.read', 'fs.write')).toBe(false);
    expect(matchAction('fs.*', 'fs.read')).toBe(true);
    expect(matchAction('fs.*', 'fs.read.deep')).toBe(true);
    expect(matchAction('fs.*', 'fsx')).toBe(false);
    expect(matchAction('fs.*', 'fs:read')).toBe(false);
    expect(matchAction('tool:*', 'tool:search')).toBe(true);
    expect(matchAction('tool:*', 'tools:search')).toBe(false);
    expect(matchAction('*', 'proc.exec')).toBe(true);
  });

  it('refuses malformed names and patterns', () => {
    for (const bad of ['', 'fs.', '.fs', 'fs..read', 'fs read', 'fs.read*', 'f*s', '**', 'fs/read', 'a'.repeat(129)]) {
      expect(isActionName(bad)).toBe(false);
    }
    for (const bad of ['', 'fs*', 'fs.**', '*.read', 'fs.*.x', ' *', '*:*']) expect(isActionPattern(bad)).toBe(false);
    expect(matchAction('fs.*', 'fs.read*')).toBe(false);
    expect(matchAction('fs.read', 'fs.read\n')).toBe(false);
  });

  it('action cover is exact: http_get does not cover shell_exec', () => {
    expect(actionPatternCovers('*', 'shell_exec')).toBe(true);
    expect(actionPatternCovers('http_get', 'shell_exec')).toBe(false);
    expect(actionPatternCovers('tool:*', 'tool:search')).toBe(true);
    expect(actionPatternCovers('tool:*', '*')).toBe(false);
    expect(actionPatternCovers('fs.*', 'fs.read.*')).toBe(true);
    expect(actionPatternCovers('fs.read', 'fs.*')).toBe(false);
  });

  it('property: if the parent covers the child, every action the child allows the parent allows', () => {
    const word = fc.constantFrom('fs', 'read', 'net', 'http', 'tool', 'x');
    const name = fc
      .tuple(word, fc.array(fc.tuple(fc.constantFrom('.', ':'), word), { maxLength: 2 }))
      .map(([first, rest]) => first + rest.map(([sep, w]) => sep + w).join(''));
    const pattern = fc.oneof(
      name,
      fc.constant('*'),
      fc.tuple(name, fc.constantFrom('.*', ':*')).map(([n, s]) => n + s),
    );
    fc.assert(
      fc.property(pattern, pattern, name, (parent, child, action) => {
        if (actionPatternCovers(parent, child) && matchAction(child, action)) {
          expect(matchAction(parent, action)).toBe(true);
        }
      }),
    );
  });
});

describe('path resources', () => {
  it('** spans segments below its base, * and ? stay within one segment', () => {
    expect(matchResource('/workspace/**', '/workspace/a.txt')).toBe(true);
    expect(matchResource('/workspace/**', '/workspace/a/b/c.txt')).toBe(true);
    expect(matchResource('/workspace/**', '/workspace/.env')).toBe(true);
    expect(matchResource('/workspace/**', '/workspace')).toBe(false);
    expect(matchResource('/workspace/**', '/workspacex/a')).toBe(false);
    expect(matchResource('/workspace/*', '/workspace/a')).toBe(true);
    expect(matchResource('/workspace/*', '/workspace/a/b')).toBe(false);
    expect(matchResource('/workspace/*.txt', '/workspace/a/b.txt')).toBe(false);
    expect(matchResource('/workspace/a?b', '/workspace/a/b')).toBe(false);
    expect(matchResource('/workspace/a?b', '/workspace/axb')).toBe(true);
    expect(matchResource('/workspace/**/b', '/workspace/b')).toBe(true);
    expect(matchResource('/workspace/out/report.md', '/workspace/out/report.md')).toBe(true);
    expect(matchResource('/workspace/out/report.md', '/workspace/out/report.mdx')).toBe(false);
    expect(matchResource('/', '/')).toBe(true);
    expect(matchResource('/**', '/etc/passwd')).toBe(true);
  });

  it('attack: .. can never climb out of the base, whatever the spelling', () => {
    for (const path of [
      '/workspace/../secret',
      '/workspace/out/../../x',
      '/workspace/./../secret',
      '/workspace/..',
      '/workspace/.',
      '/workspace//secret',
      '/workspace/a/',
      '/workspace\\..\\secret',
      '/workspace/a\\..\\..\\secret',
      '/workspace/a\u0000/../../secret',
      '/workspace/a\n',
    ]) {
      expect(parseResource(path), path).toBeUndefined();
      expect(matchResource('/workspace/**', path), path).toBe(false);
      expect(matchResource('/**', path), path).toBe(false);
    }
  });

  it('attack: percent-encoding means nothing in a file path (a literal name inside the base)', () => {
    expect(matchResource('/workspace/*', '/workspace/..%2fsecret')).toBe(true);
    expect(matchResource('/secret', '/workspace/..%2fsecret')).toBe(false);
  });

  it('normalizeUrl gives one spelling per server and path, or none (red-team pass 105)', () => {
    expect(normalizeUrl('http://mail.corp.test.:8080/inbox')).toBeUndefined();
    expect(normalizeUrl('http://[::ffff:127.0.0.1]/inbox')).toBeUndefined();
    expect(normalizeUrl('http://[::FFFF:7f00:1]/inbox')).toBeUndefined();
    expect(normalizeUrl('http://[::1]/inbox')).toBe('http://[::1]/inbox');
    expect(normalizeUrl('http://a.test/%69nbox/1')).toBe('http://a.test/inbox/1');
    expect(normalizeUrl('http://a.test/inbo%78/%7e')).toBe('http://a.test/inbox/~');
    expect(normalizeUrl('http://a.test/a%c3%a9?q=%2f%41&r=%7E')).toBe('http://a.test/a%C3%A9?q=%2FA&r=~');
    expect(normalizeUrl('http://a.test/?')).toBe('http://a.test/?');
  });

  it('normalizePath resolves lexically for tools and refuses what it cannot represent', () => {
    expect(normalizePath('/workspace/../secret')).toBe('/secret');
    expect(normalizePath('/workspace/out/../../x')).toBe('/x');
    expect(normalizePath('/../../x')).toBe('/x');
    expect(normalizePath('/a/./b//c/')).toBe('/a/b/c');
    expect(normalizePath('/')).toBe('/');
    expect(normalizePath('relative/x')).toBeUndefined();
    expect(normalizePath('/a\u0000b')).toBeUndefined();
    expect(normalizePath('/a\\b')).toBeUndefined();
    expect(normalizePath(42)).toBeUndefined();
    // Lone surrogates (written as U+FFFD by the file system), not a well-formed pair or U+FFFD itself.
    expect(normalizePath('/pin\uD800')).toBeUndefined();
    expect(normalizePath('/\uDC00pin')).toBeUndefined();
    expect(normalizePath('/pin\uD83D\uDE00')).toBe('/pin\uD83D\uDE00');
    expect(normalizePath('/pin\uFFFD')).toBe('/pin\uFFFD');
  });

  it('property: normalizePath output is accepted as is, and never contains a dot segment', () => {
    const segment = fc.constantFrom('a', 'b', '.', '..', '', '.a', '...', 'x y');
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 12 }), (segments) => {
        const normal = normalizePath(`/${segments.join('/')}`)!;
        expect(parseResource(normal)?.text).toBe(normal);
        expect(normalizePath(normal)).toBe(normal);
        expect(normal.split('/').slice(1)).not.toContain('..');
      }),
    );
  });

  it('refuses invalid patterns with a reason', () => {
    for (const bad of [
      '',
      '/workspace/../**',
      '/workspace/./x',
      '/workspace//x',
      '/workspace/',
      '/a/b**',
      '/a/**x/c',
      '/a\\b',
      '/a\u0007',
      `/${Array(MAX_GLOBSTARS + 1)
        .fill('**')
        .join('/')}`,
      `/${'a'.repeat(1025)}`,
      'https://api.example.com/**?x=1',
      'https://api.example.com/#x',
      'https://user@api.example.com/**',
      'HTTPS://api.example.com/**',
      'https://API.example.com/**',
      'https://api.example.com:443/**',
      'https://api.example.com/a/../b',
      'https://api.example.com/a%2fb/**',
      'ftp://api.example.com/**',
      'name//x',
      '../x',
    ]) {
      expect(resourcePatternError(bad), bad).toBeTypeOf('string');
      expect(compileResourcePattern(bad), bad).toBeUndefined();
    }
    expect(resourcePatternError('HTTPS://API.example.com/**')).toContain('https://api.example.com/**');
  });
});

describe('URL resources', () => {
  const api = 'https://api.example.com/**';

  it('matches scheme and host exactly and globs the pathname only', () => {
    expect(matchResource(api, 'https://api.example.com/v1/users')).toBe(true);
    expect(matchResource(api, 'https://api.example.com/')).toBe(true);
    expect(matchResource(api, 'https://api.example.com/v1/users?id=1&next=/admin')).toBe(true);
    expect(matchResource('https://api.example.com/v1/*', 'https://api.example.com/v1/users')).toBe(true);
    expect(matchResource('https://api.example.com/v1/*', 'https://api.example.com/v1/users/1')).toBe(false);
    expect(matchResource('https://api.example.com:8443/**', 'https://api.example.com:8443/x')).toBe(true);
    expect(resourceKind('https://api.example.com/x')).toBe('url');
  });

  it('attack: userinfo, lookalike hosts, other schemes and ports are refused', () => {
    for (const url of [
      'https://api.example.com@evil.com/',
      'https://api.example.com:443@evil.com/',
      'https://api.example.com.evil.com/',
      'https://evil.com/?https://api.example.com/',
      'https://evil.com/https://api.example.com/',
      'https://evil.com/#https://api.example.com/',
      'http://api.example.com/x',
      'wss://api.example.com/x',
      'https://api.example.com:8443/x',
      'https://api.example.com./x',
      'https://user:pass@api.example.com/x',
      'https://api.example.com/x#fragment',
    ]) {
      expect(matchResource(api, url), url).toBe(false);
    }
  });

  it('attack: non-canonical spellings are refused; normalizeUrl makes the canonical form, which then matches', () => {
    for (const [url, canonical] of [
      ['https://API.EXAMPLE.COM/x', 'https://api.example.com/x'],
      ['https://api.example.com:443/x', 'https://api.example.com/x'],
      ['HTTPS://api.example.com/x', 'https://api.example.com/x'],
      ['https://api.example.com', 'https://api.example.com/'],
      ['https://api%2eexample.com/x', 'https://api.example.com/x'],
      ['https://api.example.com/x#frag', 'https://api.example.com/x'],
    ] as const) {
      expect(matchResource(api, url), url).toBe(false);
      expect(normalizeUrl(url)).toBe(canonical);
      expect(matchResource(api, canonical)).toBe(true);
    }
    expect(normalizeUrl('https://bücher.example/x')).toBe('https://xn--bcher-kva.example/x');
    expect(normalizeUrl('http://0x7f.1/')).toBe('http://127.0.0.1/');
  });

  it('attack: dot segments and encoded separators cannot escape a path prefix', () => {
    const v1 = 'https://api.example.com/v1/**';
    for (const url of [
      'https://api.example.com/v1/../admin',
      'https://api.example.com/v1/%2e%2e/admin',
      'https://api.example.com/v1/.%2E/admin',
      'https://api.example.com/v1/..%2fadmin',
      'https://api.example.com/v1/..%2Fadmin',
      'https://api.example.com/v1/..%5cadmin',
      'https://api.example.com/v1/%252e%252e%252fadmin',
      'https://api.example.com/v1/..;/admin',
      'https://api.example.com/v1/.;/x',
      'https://api.example.com/v1//x',
      'https://api.example.com/v1\\..\\admin',
      'https://api.example.com/v1/%00',
      'https://api.example.com/admin?/v1/x',
      'https://api.example.com/admin#/v1/x',
      'https://api.exa\tmple.com/v1/x',
    ]) {
      expect(matchResource(v1, url), url).toBe(false);
      const normal = normalizeUrl(url);
      if (normal !== undefined) expect(matchResource(v1, normal), `${url} -> ${normal}`).toBe(false);
    }
  });

  it('normalizeUrl refuses what cannot be a safe request target', () => {
    for (const url of [
      'ftp://x.example/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'https://user@x.example/',
      'https://x.example/a%2fb',
      'not a url',
      'https://x.example/\u0000',
    ]) {
      expect(normalizeUrl(url), url).toBeUndefined();
    }
  });
});

describe('URL host globs (agent_os_kernel: `https://**`, `https://*.example.com/**`)', () => {
  it('`https://**` is every host on the default HTTPS port, any path; nothing else', () => {
    expect(resourcePatternError('https://**')).toBeUndefined();
    for (const url of [
      'https://api.example.com/',
      'https://api.example.com/v1/x?q=1',
      'https://127.0.0.1/',
      'https://[::1]/a',
      'https://xn--bcher-kva.example/',
    ]) {
      expect(matchResource('https://**', url), url).toBe(true);
    }
    for (const url of [
      'http://api.example.com/',
      'wss://api.example.com/',
      'https://api.example.com:8443/',
      'https://api.example.com:444/',
      'https://user@api.example.com/',
      'https://API.example.com/',
      '/https://api.example.com/',
      'https:api.example.com',
    ]) {
      expect(matchResource('https://**', url), url).toBe(false);
    }
    // Written without a path it means any path, exactly like `https://**/**`.
    expect(resourcePatternCovers('https://**', 'https://**/**')).toBe(true);
    expect(resourcePatternCovers('https://**/**', 'https://**')).toBe(true);
  });

  it('`*` is one whole host label, `**` any number of labels; the port is the one the pattern names', () => {
    const sub = 'https://*.example.com/**';
    expect(matchResource(sub, 'https://api.example.com/v1')).toBe(true);
    expect(matchResource(sub, 'https://api.example.com/')).toBe(true);
    expect(matchResource(sub, 'https://a.b.example.com/v1')).toBe(false);
    expect(matchResource(sub, 'https://example.com/v1')).toBe(false);
    expect(matchResource(sub, 'https://api.example.com:8443/v1')).toBe(false);
    expect(matchResource('https://*.example.com:8443/**', 'https://api.example.com:8443/v1')).toBe(true);
    expect(matchResource('https://*.example.com:8443/**', 'https://api.example.com/v1')).toBe(false);
    expect(matchResource('https://**.example.com/**', 'https://a.b.example.com/')).toBe(true);
    expect(matchResource('https://**.example.com/**', 'https://example.com/')).toBe(true);
    expect(matchResource('https://api-*.example.com/v1/*', 'https://api-eu.example.com/v1/x')).toBe(true);
    expect(matchResource('https://api-*.example.com/v1/*', 'https://api-eu.example.com/v2/x')).toBe(false);
    expect(matchResource('https://*.example.com', 'https://api.example.com/any/path')).toBe(true);
  });

  it('attack: userinfo, lookalike hosts and hosts hidden in the path, query or fragment never satisfy a host glob', () => {
    const sub = 'https://*.example.com/**';
    for (const url of [
      'https://api.example.com@evil.com/',
      'https://api.example.com:443@evil.com/',
      'https://evil.com#@api.example.com/',
      'https://evil.com\\@api.example.com/',
      'https://evil.com?@api.example.com/',
      'https://evil.com/api.example.com',
      'https://evil.com/?h=api.example.com',
      'https://api.example.com.evil.com/',
      'https://api.example.com%40evil.com/',
      'https://evil.com%2f.api.example.com/',
      'https://apiexample.com/',
      'https://api.example.com./',
      'https://api..example.com/',
    ]) {
      expect(matchResource(sub, url), url).toBe(false);
      const normal = normalizeUrl(url);
      if (normal !== undefined) expect(matchResource(sub, normal), `${url} -> ${normal}`).toBe(false);
    }
  });

  it('refuses malformed host globs with a reason', () => {
    for (const bad of [
      'https://a**b.example.com/**',
      'https://*..example.com/**',
      'https://*.EXAMPLE.com/**',
      'https://*.example.com:443/**',
      'https://*@example.com/**',
      'https://[*]/**',
      'https://*.example.com/**?q',
      'ftp://**',
      `https://${Array(MAX_GLOBSTARS + 1)
        .fill('**')
        .join('.')}/`,
    ]) {
      expect(resourcePatternError(bad), bad).toBeTypeOf('string');
    }
  });

  it('cover: a host glob covers narrower globs and literal hosts of the same scheme and port only', () => {
    expect(resourcePatternCovers('https://**', 'https://*.example.com/**')).toBe(true);
    expect(resourcePatternCovers('https://**', 'https://api.example.com/v1/**')).toBe(true);
    expect(resourcePatternCovers('https://*.example.com/**', 'https://api.example.com/v1/**')).toBe(true);
    expect(resourcePatternCovers('https://**.example.com/**', 'https://*.example.com/**')).toBe(true);
    expect(resourcePatternCovers('https://*.example.com/**', 'https://**.example.com/**')).toBe(false);
    expect(resourcePatternCovers('https://*.example.com/**', 'https://**')).toBe(false);
    expect(resourcePatternCovers('https://*.example.com/**', 'https://example.com/**')).toBe(false);
    expect(resourcePatternCovers('https://**', 'http://api.example.com/')).toBe(false);
    expect(resourcePatternCovers('https://**', 'https://api.example.com:8443/')).toBe(false);
    expect(resourcePatternCovers('https://api.example.com/**', 'https://*.example.com/**')).toBe(false);
    // A lone `**` host matches host names no other host glob does (red-team pass 41: a child `https://**` under
    // `https://**.**` was allowed `https://example.com./x`, which its parent refuses).
    expect(matchResource('https://**', 'https://example.com./x')).toBe(true);
    expect(matchResource('https://**.**', 'https://example.com./x')).toBe(false);
    expect(resourcePatternCovers('https://**.**', 'https://**')).toBe(false);
    expect(resourcePatternCovers('https://**.**/**', 'https://**/**')).toBe(false);
    expect(resourcePatternCovers('https://**', 'https://**.**')).toBe(true);
  });

  const scheme = fc.constantFrom('http', 'https', 'ws', 'wss');
  const port = fc.constantFrom('', '80', '443', '8443');
  const label = fc.constantFrom('a', 'b', 'api', 'example', 'com', 'x-y', 'xn--bcher-kva', '1');
  const host = fc
    .array(label, { minLength: 1, maxLength: 4 })
    .map((labels) => labels.join('.'))
    .filter((name) => normalizeUrl(`https://${name}/`) !== undefined);
  const globLabel = fc.constantFrom('*', '**', 'a', 'api', 'example', 'com', 'a*', '*i');
  const hostGlob = fc
    .array(globLabel, { minLength: 1, maxLength: 4 })
    .filter((labels) => labels.some((l) => l.includes('*')))
    .map((labels) => labels.join('.'));
  const path = fc.constantFrom('', '/', '/**', '/v1/*', '/a/b');
  const globPattern = fc
    .tuple(scheme, hostGlob, port, path)
    .map(([s, h, p, rest]) => ({ source: `${s}://${h}${p === '' ? '' : `:${p}`}${rest}`, scheme: s, port: p }))
    .filter((p) => compileResourcePattern(p.source) !== undefined);
  const userinfo = fc.constantFrom('', 'u@', 'u:p@', 'api.example.com@', 'a.example.com:443@', ':@');
  const target = fc
    .tuple(
      scheme,
      userinfo,
      host,
      port,
      fc.constantFrom('/', '/v1/x', '/a/b', '/a.example.com'),
      fc.constantFrom('', '?x=https://a.example.com/'),
    )
    .map(([s, u, h, p, rest, q]) => `${s}://${u}${h}${p === '' ? '' : `:${p}`}${rest}${q}`);
  const defaultPort: Readonly<Record<string, string>> = { http: '80', https: '443', ws: '80', wss: '443' };

  it('property: a host glob never matches another scheme, a URL with userinfo, or another port than it names', () => {
    fc.assert(
      fc.property(globPattern, target, (pattern, raw) => {
        const normal = normalizeUrl(raw);
        for (const candidate of normal === undefined ? [raw] : [raw, normal]) {
          if (!matchResource(pattern.source, candidate)) continue;
          const url = new URL(candidate);
          expect(url.protocol).toBe(`${pattern.scheme}:`);
          expect(url.username).toBe('');
          expect(url.password).toBe('');
          // The pattern's port as the canonical URL spells it ('' for the scheme's default).
          const named = pattern.port === defaultPort[pattern.scheme] ? '' : pattern.port;
          expect(url.port).toBe(named);
        }
        const parsed = new URL(raw);
        if (parsed.username !== '' || parsed.password !== '') {
          expect(normal).toBeUndefined();
          expect(matchResource(pattern.source, raw)).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('property: host globs match label by label (differential with a recursive reference matcher)', () => {
    // `*` inside a label matches any run of characters of that label; `**` any number of whole labels, at least
    // one when it is the last label (minimatch's globstar, as for paths).
    const reference = (glob: readonly string[], labels: readonly string[]): boolean => {
      const [first, ...rest] = glob;
      if (first === undefined) return labels.length === 0;
      if (first === '**') {
        if (rest.length === 0) return labels.length >= 1;
        return labels.some((_, i) => reference(rest, labels.slice(i))) || reference(rest, []);
      }
      const label = labels[0];
      if (label === undefined) return false;
      return new RegExp(`^${first.replaceAll('*', '.*')}$`).test(label) && reference(rest, labels.slice(1));
    };
    fc.assert(
      fc.property(hostGlob, host, (glob, name) => {
        const pattern = `https://${glob}/**`;
        fc.pre(compileResourcePattern(pattern) !== undefined);
        // Matching is on the canonical host (`1` is the IPv4 address 0.0.0.1 to the URL parser).
        const url = normalizeUrl(`https://${name}/x`)!;
        expect(matchResource(pattern, url)).toBe(reference(glob.split('.'), new URL(url).hostname.split('.')));
      }),
      { numRuns: 3000 },
    );
  });

  const oddHostTarget = fc
    .tuple(scheme, fc.constantFrom('example.com.', 'a..b', '.', 'api.example.com.'), port)
    .map(([s, h, p]) => `${s}://${h}${p === '' ? '' : `:${p}`}/v1/x`);

  it('property: cover stays sound with host globs', () => {
    const anyPattern = fc.oneof(
      globPattern.map((p) => p.source),
      fc
        .tuple(scheme, host, port, path)
        .map(([s, h, p, rest]) => `${s}://${h}${p === '' ? '' : `:${p}`}${rest === '' ? '/' : rest}`),
    );
    fc.assert(
      // Host names only a lone `**` matches (empty labels, a trailing dot) among the targets.
      fc.property(
        anyPattern,
        anyPattern,
        fc.array(fc.oneof(target, oddHostTarget), { maxLength: 6 }),
        (parent, child, urls) => {
          fc.pre(compileResourcePattern(parent) !== undefined && compileResourcePattern(child) !== undefined);
          if (!resourcePatternCovers(parent, child)) return;
          for (const raw of urls) {
            const url = normalizeUrl(raw);
            if (url !== undefined && matchResource(child, url)) {
              expect(matchResource(parent, url), `${parent} ⊇ ${child} at ${url}`).toBe(true);
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('name resources', () => {
  it('matches exactly or by glob, segment-wise', () => {
    expect(matchResource('git', 'git')).toBe(true);
    expect(matchResource('git', 'gitx')).toBe(false);
    expect(matchResource('git', '/usr/bin/git')).toBe(false);
    expect(matchResource('scholar/search', 'scholar/search')).toBe(true);
    expect(matchResource('my_server/**', 'my_server/some_tool')).toBe(true);
    expect(matchResource('my_server/**', 'my_server')).toBe(false);
    expect(matchResource('my_server/**', 'other/some_tool')).toBe(false);
    expect(matchResource('gpt-*', 'gpt-4o')).toBe(true);
    expect(matchResource('gpt-*', 'gpt-4o/x')).toBe(false);
  });

  it('attack: dot segments, kinds and separators', () => {
    expect(matchResource('my_server/**', 'my_server/../other/tool')).toBe(false);
    expect(matchResource('*', '/etc/passwd')).toBe(false);
    expect(matchResource('*', 'https://evil.com/')).toBe(false);
    expect(matchResource('**', 'a/b')).toBe(true);
    expect(matchResource('git', 'git\u0000')).toBe(false);
    expect(matchResource('git', 'git/')).toBe(false);
    for (const sneaky of ['https:evil.com', 'HTTP:evil.com/x', 'https:/evil.com', 'wss:x']) {
      expect(matchResource('**', sneaky), sneaky).toBe(false);
      expect(resourcePatternError(sneaky), sneaky).toBeTypeOf('string');
    }
    expect(matchResource('**', 'mailto:x')).toBe(true);
  });
});

describe('limits and pathological input', () => {
  it('refuses over-long resources', () => {
    expect(parseResource(`/${'a'.repeat(MAX_RESOURCE_LENGTH)}`)).toBeUndefined();
    expect(parseResource('')).toBeUndefined();
    expect(parseResource(undefined)).toBeUndefined();
  });

  it('parses the same string to the same answer however often and after the parse cache overflows; results are frozen', () => {
    const inputs = ['/a/b', 'https://example.com/x', 'notes', '/a/../b', 'HTTPS://Example.com', 'x'.repeat(600)];
    const first = inputs.map((r) => parseResource(r));
    for (let i = 0; i < 3000; i += 1) parseResource(`/fill/${i}`);
    for (let round = 0; round < 3; round += 1) expect(inputs.map((r) => parseResource(r))).toEqual(first);
    expect(first[0]).toMatchObject({ kind: 'path', text: '/a/b' });
    expect(first[3]).toBeUndefined();
    expect(first[4]).toBeUndefined();
    expect(Object.isFrozen(parseResource('/a/b'))).toBe(true);
  });

  it('many globstars against long paths finish (minimatch memoizes; more than 8 are refused)', () => {
    const longPath = `/${Array(2000).fill('b').join('/')}`;
    const alternating = `/${Array(MAX_GLOBSTARS).fill('**/x*').join('/')}/a`;
    const allGlobstars = `/${Array(MAX_GLOBSTARS).fill('**').join('/')}/a`;
    const starry = `/${Array(20).fill('*a*a*a*a*a*a').join('/')}`;
    expect(matchResource(alternating, longPath)).toBe(false);
    expect(matchResource(alternating, `/${Array(1000).fill('xb').join('/')}/a`)).toBe(true);
    expect(matchResource(allGlobstars, longPath)).toBe(false);
    expect(matchResource(allGlobstars, `${longPath}/a`)).toBe(true);
    expect(
      matchResource(
        starry,
        `/${Array(20)
          .fill(`${'a'.repeat(150)}b`)
          .join('/')}`,
      ),
    ).toBe(false);
    expect(matchResource(`/${Array(40).fill('**').join('/')}/a`, longPath)).toBe(false);
    expect(resourcePatternCovers(allGlobstars, alternating)).toBe(true);
  });

  it('the literal and `<literal>/**` fast paths agree with minimatch (differential)', () => {
    const segment = fc.constantFrom('a', 'b', 'ab', '.a', '.', 'x.y', '**');
    const pathSegment = fc.constantFrom('a', 'b', 'ab', '.a', 'x.y', 'c');
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.array(pathSegment, { minLength: 1, maxLength: 6 }),
        (patternSegments, pathSegments) => {
          const pattern = `/${patternSegments.join('/')}`;
          const compiled = compileResourcePattern(pattern);
          if (compiled === undefined) return;
          const path = `/${pathSegments.join('/')}`;
          const expected = new Minimatch(pattern, MINIMATCH).match(path);
          expect(matchResource(pattern, path)).toBe(expected);
          const url = `https://h.example${path}`;
          expect(matchResource(`https://h.example${pattern}`, url)).toBe(expected);
          // A URL may end in `/`: minimatch lets `/a` match `/a/`; a literal pattern deliberately does not.
          expect(matchResource(`https://h.example${pattern}`, `${url}/`)).toBe(
            !compiled.literal && new Minimatch(pattern, MINIMATCH).match(`${path}/`),
          );
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('resource pattern cover', () => {
  it('examples', () => {
    expect(resourcePatternCovers('/workspace/**', '/workspace/out/**')).toBe(true);
    expect(resourcePatternCovers('/workspace/**', '/workspace/out/a.txt')).toBe(true);
    expect(resourcePatternCovers('/workspace/**', '/workspace/*/x')).toBe(true);
    expect(resourcePatternCovers('/workspace/out/**', '/workspace/**')).toBe(false);
    expect(resourcePatternCovers('/workspace/**', '/workspace')).toBe(false);
    expect(resourcePatternCovers('/workspace/**', '/**')).toBe(false);
    expect(resourcePatternCovers('/workspace/*', '/workspace/**')).toBe(false);
    expect(resourcePatternCovers('/workspace/*', '/workspace/a*')).toBe(true);
    expect(resourcePatternCovers('/a/**/b', '/a/b')).toBe(true);
    expect(resourcePatternCovers('https://api.example.com/**', 'https://api.example.com/v1/**')).toBe(true);
    expect(resourcePatternCovers('https://api.example.com/**', 'https://evil.com/v1/**')).toBe(false);
    expect(resourcePatternCovers('https://api.example.com/**', 'http://api.example.com/v1')).toBe(false);
    expect(resourcePatternCovers('git', 'git')).toBe(true);
    expect(resourcePatternCovers('git', '*')).toBe(false);
    expect(resourcePatternCovers('*', 'git')).toBe(true);
    expect(resourcePatternCovers('/**', 'git')).toBe(false);
  });

  it('property: cover is sound (a covered child never matches what the parent does not)', () => {
    const segment = fc.constantFrom('a', 'b', '*', '**', 'a*', '?', '[ab]', '.a');
    const pattern = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
    const path = fc.array(fc.constantFrom('a', 'b', 'ab', 'c', '.a'), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(pattern, pattern, fc.array(path, { minLength: 1, maxLength: 8 }), (parent, child, paths) => {
        fc.pre(compileResourcePattern(parent) !== undefined && compileResourcePattern(child) !== undefined);
        if (!resourcePatternCovers(parent, child)) return;
        for (const segments of paths) {
          const resource = `/${segments.join('/')}`;
          if (matchResource(child, resource))
            expect(matchResource(parent, resource), `${parent} ⊇ ${child}`).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('matching at or below a resource', () => {
  it('matches the resource itself or any resource a continuation of it can reach', () => {
    expect(matchResourceAtOrBelow('/w/inbox/**', '/w/inbox')).toBe(true);
    expect(matchResourceAtOrBelow('/w/inbox/**', '/w')).toBe(true);
    expect(matchResourceAtOrBelow('/w/inbox/**', '/w/inbox/a.eml')).toBe(true);
    expect(matchResourceAtOrBelow('/w/inbox/**', '/w/out')).toBe(false);
    expect(matchResourceAtOrBelow('/w/*/secret.txt', '/w/x')).toBe(true);
    expect(matchResourceAtOrBelow('/w/*/secret.txt', '/w/x/y')).toBe(false);
    expect(matchResourceAtOrBelow('/w/**/k', '/w/a/b/c')).toBe(true);
    expect(matchResourceAtOrBelow('/w/a.txt', '/w')).toBe(true);
    expect(matchResourceAtOrBelow('/w/a.txt', '/v')).toBe(false);
    expect(matchResourceAtOrBelow('https://h.example/a/**', 'https://h.example/a')).toBe(true);
    expect(matchResourceAtOrBelow('https://h.example/a/**', 'https://other.example/a')).toBe(false);
    expect(matchResourceAtOrBelow('/w/**', 'git')).toBe(false);
    expect(matchResourceAtOrBelow('not a [pattern', '/w')).toBe(false);
  });

  it('property: exact against matching every continuation of up to four segments', () => {
    const segment = fc.constantFrom('a', 'b', '*', '**', 'a*', '?', '[ab]');
    const pattern = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
    const letters = ['a', 'b', 'ab', 'c'];
    const path = fc.array(fc.constantFrom(...letters), { minLength: 1, maxLength: 5 });
    // Every glob above matches one of the letters, and a pattern of n segments needs at most n more.
    const continuations: string[] = [''];
    for (let length = 1, layer = ['']; length <= 4; length++) {
      layer = layer.flatMap((prefix) => letters.map((letter) => `${prefix}/${letter}`));
      continuations.push(...layer);
    }
    fc.assert(
      fc.property(pattern, path, (glob, segments) => {
        fc.pre(compileResourcePattern(glob) !== undefined);
        const resource = `/${segments.join('/')}`;
        const expected = continuations.some((rest) => matchResource(glob, resource + rest));
        expect(matchResourceAtOrBelow(glob, resource), `${glob} at or below ${resource}`).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('glob walk cost (red-team pass 58: agent-written globs)', () => {
  const target = (text: string) => parseResource(text)!;

  it('only minimatch-walked patterns are marked as walking', () => {
    expect(compileResourcePattern('/ws/a.txt')!.walks).toBe(false);
    expect(compileResourcePattern('/ws/**')!.walks).toBe(false);
    expect(compileResourcePattern('https://example.com/v1/**')!.walks).toBe(false);
    expect(compileResourcePattern('/ws/*.txt')!.walks).toBe(true);
    expect(compileResourcePattern('/ws/**/x')!.walks).toBe(true);
    expect(compileResourcePattern('https://*.example.com/a')!.walks).toBe(true);
  });

  it('a string comparison costs 1, a walk |pattern| x |text|', () => {
    const long = `/ws/${'a'.repeat(1000)}`;
    expect(resourceTestCost(compileResourcePattern('/ws/**')!, target(long))).toBe(1);
    const glob = `/ws/*${'a'.repeat(249)}b*`;
    expect(resourceTestCost(compileResourcePattern(glob)!, target(long))).toBeGreaterThanOrEqual(
      glob.length * long.length,
    );
    expect(resourceCoverCost('/ws/**', long)).toBe(6 + long.length);
    expect(resourceCoverCost(glob, long)).toBeGreaterThanOrEqual(glob.length * long.length);
    expect(resourceCoverCost(glob, glob)).toBe(1);
    expect(resourceCoverCost('not a//pattern', long)).toBe(1);
  });

  it('the bounds fit together: one walk of a requested glob against the longest resource fits the budget', () => {
    const glob = `/ws/*${'a'.repeat(MAX_REQUESTED_GLOB_LENGTH - 7)}b*`;
    const longest = `/ws/${'a'.repeat(MAX_RESOURCE_LENGTH - 4)}`;
    expect(resourceTestCost(compileResourcePattern(glob)!, target(longest))).toBeLessThan(MAX_MATCH_WORK);
  });

  it('isGlob tells globs from literals', () => {
    expect(isGlob('/ws/a')).toBe(false);
    expect(isGlob('/ws/*')).toBe(true);
    expect(isGlob('/ws/a?')).toBe(true);
    expect(isGlob('/ws/[ab]')).toBe(true);
  });
});

describe('compiled pattern memory', () => {
  const gc = (): (() => void) => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  };
  const glob = (i: number, length: number) =>
    `/ws/${i.toString(36).padStart(6, '0')}${'*a'.repeat(length)}`.slice(0, length);

  it("each pattern's heldBytes is never below the heap it keeps, glob or not", () => {
    const collect = gc();
    const shapes: Record<string, (i: number) => string> = {
      literal: (i) => `/ws/${i.toString(36).padStart(6, '0')}${'a'.repeat(990)}`,
      prefix: (i) => `/ws/${i.toString(36).padStart(6, '0')}${'a'.repeat(240)}/**`,
      stars: (i) => glob(i, 256),
      questions: (i) => `/ws/${i.toString(36).padStart(6, '0')}${'?'.repeat(240)}`,
      hostGlob: (i) => `https://*.h${i}.test/${'*a'.repeat(110)}`,
      long: (i) => glob(i, 1000),
    };
    // Each shape's code paths run first, unmeasured: the heap their first use takes (bytecode, feedback, the cache's
    // table growing) is not any pattern's (CI under load once saw the first shape's 100 patterns 130 KB over).
    for (const [name, make] of Object.entries(shapes)) {
      for (let i = 0; i < 20; i++) compileResourcePattern(make(i + name.length * 1000 + 2e9));
    }
    for (const [name, make] of Object.entries(shapes)) {
      const kept: unknown[] = [];
      collect();
      const before = process.memoryUsage().heapUsed;
      let estimate = 0;
      for (let i = 0; i < 100; i++) {
        // Distinct per shape and run, so no pattern comes from the cache already compiled.
        const pattern = compileResourcePattern(make(i + name.length * 1000 + Math.floor(Math.random() * 1e9)))!;
        estimate += pattern.heldBytes;
        kept.push(pattern);
      }
      collect();
      const grown = process.memoryUsage().heapUsed - before;
      expect(kept).toHaveLength(100);
      expect(grown, name).toBeLessThan(estimate);
    }
  });

  it('the process-wide cache keeps at most about 8 MiB of compiled patterns however many an agent asks for', () => {
    // Red-team pass 133: bounded only by count (4,096), it kept 72 MB of agents' 256-character globs after every
    // kernel in the process had closed.
    const collect = gc();
    collect();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1500; i++) expect(compileResourcePattern(glob(i + 5_000_000, 1000))).toBeDefined();
    collect();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(24 * 1024 * 1024);
  });
});

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, relative } from 'node:path';
import { decodePayload, encodeError, encodeValue } from '../syscalls/wire.js';

/**
 * The guest parts: the scripts that build the web-standard globals inside a realm (isolates/guest/*.cjs),
 * and the well-kept libraries some of them are (whatwg-url for URL, @ungap/structured-clone). Eager parts
 * are compiled into every realm with the prelude (see prelude.ts); the others are lazy: the guest asks for a
 * part's source the first time one of its globals is read, with one synchronous request (LOAD_LIBRARY, not a
 * syscall), and evaluates it with the eval the prelude captured. Only a string crosses: no host object ever
 * reaches the guest, and the request decides nothing (the names are fixed here; anything else is refused).
 *
 * Lazy loading keeps the realm as cheap as it was before the globals (README, "Benchmarks"): the URL parser
 * with its IDNA tables is ~340 KB of source and ~2 MB of heap once loaded, paid only by agents that use it.
 */

export interface GuestPart {
  /** Compiled into every realm with the prelude (it must exist before agent code runs). */
  readonly eager: boolean;
  /** A script in isolates/guest/ whose completion value is the part's factory `(kit) => exports`. */
  readonly file?: string;
  /** Or a CommonJS package from node_modules, bundled here into such a script. */
  readonly bundle?: BundleSpec;
}

interface BundleSpec {
  /** The package (or file in a package) whose exports the part's factory returns. */
  readonly entry: string;
  /**
   * Free variables the library reads from the global scope, bound instead to another part's export (or to
   * undefined), so that the library neither sees what agent code did to the global nor re-enters a lazy global.
   */
  readonly bind: Readonly<Record<string, readonly [part: string, name: string] | null>>;
}

/** Every guest part by name. The globals that each part provides are listed in syscalls/guest-globals.ts. */
export const GUEST_PARTS: Readonly<Record<string, GuestPart>> = {
  locale: { eager: true, file: 'locale.cjs' },
  timers: { eager: true, file: 'timers.cjs' },
  console: { eager: false, file: 'console.cjs' },
  encoding: { eager: false, file: 'encoding.cjs' },
  events: { eager: false, file: 'events.cjs' },
  crypto: { eager: false, file: 'crypto.cjs' },
  clone: { eager: false, file: 'clone.cjs' },
  fetch: { eager: false, file: 'fetch.cjs' },
  url: {
    eager: false,
    bundle: {
      entry: 'whatwg-url',
      bind: { TextEncoder: ['encoding', 'TextEncoder'], TextDecoder: ['encoding', 'TextDecoder'] },
    },
  },
  'structured-clone': {
    eager: false,
    bundle: { entry: '@ungap/structured-clone', bind: { structuredClone: null } },
  },
};

const sources = new Map<string, string>();

/** The source of a lazy part, as the guest evaluates it; undefined for an unknown or eager part. Cached. */
export function guestPartSource(name: string): string | undefined {
  const cached = sources.get(name);
  if (cached !== undefined) return cached;
  const part = Object.hasOwn(GUEST_PARTS, name) ? GUEST_PARTS[name] : undefined;
  if (part === undefined || part.eager) return undefined;
  const text =
    part.file !== undefined
      ? readFileSync(new URL(`./guest/${part.file}`, import.meta.url), 'utf8')
      : bundle(part.bundle as BundleSpec);
  // Names the part in the guest's stack traces instead of "eval at ...".
  const source = `${text}\n//# sourceURL=isokernel:${name}\n`;
  sources.set(name, source);
  return source;
}

// Encoded once per part: every agent's realm asks for the parts it uses, a few hundred KB of source each.
const replies = new Map<string, string>();

/**
 * The sandbox's answer to the prelude's LOAD_LIBRARY request: `["<part>"]` → the part's source as a reply
 * string (syscalls/wire.ts). Never throws; an unknown part is E_NOT_FOUND.
 */
export function libraryReply(payload: unknown): string {
  const decoded = decodePayload(payload, 1024);
  const name =
    decoded.ok && Array.isArray(decoded.value) && typeof decoded.value[0] === 'string' ? decoded.value[0] : undefined;
  try {
    const known = name === undefined ? undefined : replies.get(name);
    if (known !== undefined) return known;
    const source = name === undefined ? undefined : guestPartSource(name);
    if (name !== undefined && source !== undefined) {
      const reply = encodeValue(source);
      replies.set(name, reply);
      return reply;
    }
  } catch {
    return encodeError('E_INTERNAL', 'internal kernel error');
  }
  return encodeError('E_NOT_FOUND', 'no such guest library');
}

const REQUIRE = /\brequire\(\s*["']([^"']+)["']\s*\)/g;

/**
 * A CommonJS package and everything it requires, as one strict script whose completion value is
 * `(kit) => exports of the entry`. Modules are evaluated on first require, in the order the library asks
 * for them, each once. JSON modules are parsed with the kit's captured JSON.parse.
 */
function bundle(spec: BundleSpec): string {
  const resolveFrom = (from: string, specifier: string) => createRequire(from).resolve(specifier);
  const entry = resolveFrom(import.meta.url, spec.entry);
  const root = `${dirname(dirname(entry))}/`;
  const modules = new Map<string, { source: string; deps: Record<string, string> }>();
  const pending = [entry];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    if (modules.has(path)) continue;
    const source = readFileSync(path, 'utf8');
    const deps: Record<string, string> = {};
    if (!path.endsWith('.json')) {
      for (const match of source.matchAll(REQUIRE)) {
        const specifier = match[1] ?? '';
        const target = resolveFrom(path, specifier);
        deps[specifier] = target;
        pending.push(target);
      }
    }
    modules.set(path, { source, deps });
  }
  const id = (path: string) => JSON.stringify(relative(root, path));
  const bindings = Object.entries(spec.bind)
    .map(([name, from]) =>
      from === null
        ? `const ${name} = undefined;`
        : `const ${name} = kit.require(${JSON.stringify(from[0])})[${JSON.stringify(from[1])}];`,
    )
    .join('\n');
  const definitions = [...modules]
    .map(([path, { source, deps }]) => {
      const body = path.endsWith('.json') ? `module.exports = kit.p.JSONParse(${JSON.stringify(source)});` : source;
      const table = Object.entries(deps)
        .map(([specifier, target]) => `${JSON.stringify(specifier)}: ${id(target)}`)
        .join(', ');
      return `${id(path)}: [function (module, exports, require) {\n${body}\n}, { __proto__: null, ${table} }]`;
    })
    .join(',\n');
  return `'use strict';
(function bundle(kit) {
${bindings}
const definitions = { __proto__: null,
${definitions}
};
const cache = kit.p.create(null);
const load = (name) => {
  const hit = cache[name];
  if (hit !== undefined) return hit.exports;
  const definition = definitions[name];
  if (definition === undefined) throw new kit.p.Error('module not bundled: ' + name);
  const module = { exports: {} };
  cache[name] = module;
  kit.p.apply(definition[0], module.exports, [module, module.exports, (specifier) => load(definition[1][specifier])]);
  return module.exports;
};
return load(${id(entry)});
});`;
}

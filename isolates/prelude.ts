import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { GUEST_PARTS } from './guest-libraries.js';

/**
 * The guest prelude's source (isolates/guest/prelude.cjs, a plain script the linter and the type checker see)
 * and the names it shares with the host. The configuration built from the syscall and guest globals tables is
 * in prelude-config.ts: a sandbox host process receives it as a string and never loads the kernel's modules.
 *
 * The script a realm compiles is the prelude plus the eager guest parts (timers, the UTC clock and fixed
 * locale), joined here into one script so that one V8 code cache covers them; the other parts load on first
 * use (guest-libraries.ts). Each guest file is a strict script whose completion value is a function: joining
 * drops each file's own 'use strict' line (the joined script has one) and its final semicolon, and passes
 * the parts to the prelude as a null-prototype table.
 */

export const PRELUDE_FILENAME = 'isokernel:prelude';

/** The text of a guest script in isolates/guest/ (the build copies that folder into dist). */
export function guestFile(name: string): string {
  return readFileSync(new URL(`./guest/${name}`, import.meta.url), 'utf8');
}

/** A guest script's completion value as an expression. Throws Error if the file does not have the shape. */
function expressionOf(name: string): string {
  const source = guestFile(name);
  const body = source.replace(/^'use strict';$/m, '').trimEnd();
  if (body === source.trimEnd() || !body.endsWith(');')) {
    throw new Error(`isolates/guest/${name} must be a strict script ending in its factory expression`);
  }
  return body.slice(0, -1);
}

/** The guest parts joined into the prelude's script (the rest load on first use). */
export const EAGER_PARTS = Object.entries(GUEST_PARTS)
  .filter(([, part]) => part.eager)
  .map(([name]) => name);

/**
 * `source` without its comments, which every realm would otherwise hold in its heap (a realm keeps its
 * script's source for lazy compilation). Comment positions come from acorn, so code is never touched.
 * Throws Error if the result is not pure ASCII: one other character would make V8 store the whole source
 * as a two-byte string, doubling what every realm pays for it.
 */
function compact(source: string): string {
  // acorn is loaded here, not with this module: built, the prelude is read from the build's copy (PREBUILT_PRELUDE)
  // and neither the CLI nor a sandbox host should load a parser it never runs (≈ 0.2 MB of code at their start).
  const { parse } = createRequire(import.meta.url)('acorn') as typeof import('acorn');
  const comments: [number, number][] = [];
  parse(source, {
    ecmaVersion: 'latest',
    sourceType: 'script',
    onComment: (_block, _text, start, end) => {
      comments.push([start, end]);
    },
  });
  let out = '';
  let at = 0;
  for (const [start, end] of comments) {
    out += `${source.slice(at, start)} `;
    at = end;
  }
  out += source.slice(at);
  // Indentation goes too, unless a template literal spans lines (its text would change).
  let multilineTemplate = false;
  parse(out, {
    ecmaVersion: 'latest',
    sourceType: 'script',
    onToken: (token) => {
      if (token.type.label === 'template' && out.slice(token.start, token.end).includes('\n')) multilineTemplate = true;
    },
  });
  const lines = out.split('\n').map((line) => (multilineTemplate ? line.trimEnd() : line.trim()));
  const text = lines.filter((line) => line !== '').join('\n');
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f)
      throw new Error('the prelude and its eager parts must be ASCII once comments are removed');
  }
  return text;
}

let preludeSource: string | undefined;

/**
 * The script every realm compiles; its completion value is a function of (enter, done, configJson). Read from
 * the build's copy when there is one (PREBUILT_PRELUDE), built on first use otherwise (from source): a kernel
 * whose agents all run in sandbox hosts never needs it.
 */
export function getPreludeSource(): string {
  preludeSource ??= prebuiltPrelude() ?? buildPreludeSource();
  return preludeSource;
}

/**
 * The build writes the prelude's script beside the guest scripts (scripts/copy-guest.mjs): building it takes two
 * acorn passes (≈ 0.1 s, more in a process that just started), which every sandbox host would otherwise pay
 * before its first realm, on the path of the first run (cli.start.run_hello, bench/cli.bench.ts). Not a .cjs
 * file, so hosts run from source (host-spawn.ts copies only those) always build their own.
 */
export const PREBUILT_PRELUDE = 'prelude.compact.js';

function prebuiltPrelude(): string | undefined {
  try {
    return guestFile(PREBUILT_PRELUDE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The prelude and its eager parts joined into one script, without comments (see compact). */
export function buildPreludeSource(): string {
  return compact(`'use strict';
((prelude, parts) => (enter, done, configJson) => prelude(enter, done, configJson, parts))(
${expressionOf('prelude.cjs')},
{ __proto__: null,
${EAGER_PARTS.map((name) => `${JSON.stringify(name)}: ${expressionOf(GUEST_PARTS[name]?.file ?? '')}`).join(',\n')}
});
`);
}

/**
 * Globals that exist in a bare V8 context but are not part of what agents may use (V8's console is replaced).
 * FinalizationRegistry's cleanup callbacks are the one way V8 starts agent code by itself, from a task a garbage
 * collection posts: an agent that forced a collection just after its end had a callback start a built-in that
 * ignores termination after its isolate was confirmed idle, on a host then given to another tenant (red-team
 * pass 74).
 */
export const REMOVED_GLOBALS = [
  'WebAssembly',
  'SharedArrayBuffer',
  'Atomics',
  'FinalizationRegistry',
  'console',
] as const;

/** The prelude's request for superjson (not a syscall: the sandbox answers it, see guest-superjson.ts). */
export const LOAD_SUPERJSON = 'isokernel.superjson';

/**
 * The prelude's request for a guest part's source (not a syscall: the sandbox answers it synchronously with
 * text it holds, see guest-libraries.ts; it decides nothing and touches nothing).
 */
export const LOAD_LIBRARY = 'isokernel.library';

import { createRequire } from 'node:module';

// meriyah (0.27 MB of code) is loaded by the processes that check agent code, not by every process that imports
// this module: a CLI `run` in the process tier loads the inline launcher's modules but checks nothing itself
// (cli.start.run_hello, bench/cli.bench.ts). Those that check load it ahead of their first agent
// (loadCodeChecker), not on its path. Its CommonJS build is the same code as its ESM one.
let meriyah: typeof import('meriyah') | undefined;

function parser(): typeof import('meriyah') {
  meriyah ??= createRequire(import.meta.url)('meriyah') as typeof import('meriyah');
  return meriyah;
}

/** Loads the parser now; a sandbox host and the inline launcher do so before their first agent arrives. */
export function loadCodeChecker(): void {
  parser();
}

export type CodeCheck = { ok: true } | { ok: false; message: string };

/**
 * Checks agent source before any of it runs: it must parse as an ES module, import nothing, statically or with
 * `import()`, and hold no regexp literal longer than MAX_REGEXP_LITERAL_UNITS (property escapes weighed,
 * PROPERTY_ESCAPE_UNITS); nothing here compiles a pattern (InertRegExp). V8
 * compiles the module again afterwards; this pass exists because V8 only reports static imports, and a dynamic
 * import must fail the run before agent code starts. (`import()` reached through eval or Function is refused at
 * run time by the isolate, which has no module loader.) Never throws.
 *
 * The parse does no scope analysis (meriyah with `lexical: false`), so its cost is linear in the size of the
 * source: a parser that checks redeclarations scope by scope (acorn) is quadratic in the bindings of one
 * scope, and 120k `let`s in 1 MiB held the host for 17.7 s (issue 12, item 4). Redeclarations are V8's to
 * report when it compiles the module. The walk over the tree is iterative, so nesting cannot overflow it.
 */
export function checkModuleSource(code: string): CodeCheck {
  const { parseModule } = parser();
  let program: ReturnType<typeof parseModule>;
  try {
    program = withInertRegExp(() => parseModule(code, { next: true, lexical: false }));
  } catch (error) {
    return { ok: false, message: syntaxMessage(error) };
  }
  for (const node of program.body) {
    if (node.type === 'ImportDeclaration') return { ok: false, message: 'import declarations are not allowed' };
    if ((node.type === 'ExportNamedDeclaration' || node.type === 'ExportAllDeclaration') && node.source) {
      return { ok: false, message: 're-exports from other modules are not allowed' };
    }
  }
  const refused = refusedNode(program);
  return refused === null ? { ok: true } : { ok: false, message: refused };
}

/**
 * The longest regexp literal a module may hold, in UTF-16 units of its body: the same cap the guest prelude puts on
 * a pattern built at run time (MAX_PATTERN_UNITS in isolates/guest/prelude.cjs). V8 compiles a regexp with memory taken
 * outside every heap limit and never checks for termination on the way, so a literal the cap did not bound took an
 * inline kernel at memory_mb 1024 to 1.28 GB over 25 s, still growing after the agent was reported E_QUOTA
 * (SECURITY.md, H6).
 */
export const MAX_REGEXP_LITERAL_UNITS = 64 * 1024;

/**
 * What each Unicode property escape (`\p{…}`, `\P{…}`) of a literal counts towards MAX_REGEXP_LITERAL_UNITS, as in the
 * prelude (PROPERTY_ESCAPE_UNITS): V8's parse expands the property, about 1 MB for a `\p{RGI_Emoji}` under the v flag,
 * so 4,681 of them within the length cap took the inline kernel to 4.3 GB (red-team pass 142).
 */
export const PROPERTY_ESCAPE_UNITS = 2048;

/**
 * What the parser builds for a regexp literal while it parses agent code. meriyah checks each literal by building it
 * with the global `RegExp` (`validate` in meriyah.cjs, its only use of it), and V8's parse of a pattern takes memory
 * outside every heap limit and stops for nothing: distinct literals of 65,000 characters of `[\u{100}-\u{1FFFE}]`
 * under `iv` cost about 0.2 s each (64 held the inline kernel's loop 14.3 s), 2,000,000 `\W` under `iu` took it from
 * 118 to 1008 MB before the literal's length was ever checked, and 4,681 `\p{RGI_Emoji}` under `v` 4.3 GB (reviews
 * 142 and 143). So the parse runs with this stand-in as `RegExp` (it is synchronous: nothing else runs meanwhile),
 * the literals are measured on the tree, and V8 compiles them in the isolate, where a bad pattern is its syntax error.
 */
class InertRegExp {}

function withInertRegExp<T>(parse: () => T): T {
  const intrinsic = globalThis.RegExp;
  globalThis.RegExp = InertRegExp as unknown as RegExpConstructor;
  try {
    return parse();
  } finally {
    globalThis.RegExp = intrinsic;
  }
}

// PROPERTY_ESCAPE_UNITS for each `\p{` or `\P{` in `text`.
function escapeUnits(text: string): number {
  let escapes = 0;
  for (const needle of ['\\p{', '\\P{']) {
    for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) escapes++;
  }
  return PROPERTY_ESCAPE_UNITS * escapes;
}

// What the module holds that is refused (a dynamic import, an oversized regexp literal), or null.
function refusedNode(root: object): string | null {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    const node = value as { type?: unknown; regex?: { pattern?: unknown } };
    if (node.type === 'ImportExpression') return 'dynamic import() is not allowed';
    const pattern = node.type === 'Literal' ? node.regex?.pattern : undefined;
    if (typeof pattern === 'string' && pattern.length > MAX_REGEXP_LITERAL_UNITS) {
      return `a regular expression literal longer than ${MAX_REGEXP_LITERAL_UNITS} characters is refused`;
    }
    if (typeof pattern === 'string' && pattern.length + escapeUnits(pattern) > MAX_REGEXP_LITERAL_UNITS) {
      return `a regular expression literal with more Unicode property escapes than ${MAX_REGEXP_LITERAL_UNITS} characters allow (each counts ${PROPERTY_ESCAPE_UNITS}) is refused`;
    }
    for (const key in value) stack.push((value as Record<string, unknown>)[key]);
  }
  return null;
}

// The parser's message names a position in the agent's own source, nothing of the host: "[1:21-1:22]:
// Unexpected token" becomes "syntax error: Unexpected token (1:21)". A stack overflow on absurd nesting is a
// syntax error too (V8 would refuse the module the same way).
function syntaxMessage(error: unknown): string {
  const parsed = error as { description?: unknown; loc?: { start?: { line?: unknown; column?: unknown } } };
  const line = parsed?.loc?.start?.line;
  const column = parsed?.loc?.start?.column;
  if (error instanceof SyntaxError && typeof parsed.description === 'string') {
    const where = typeof line === 'number' && typeof column === 'number' ? ` (${line}:${column})` : '';
    return `syntax error: ${parsed.description}${where}`.slice(0, 300);
  }
  if (error instanceof RangeError) return 'syntax error: the module nests too deeply';
  return 'syntax error: unparseable';
}

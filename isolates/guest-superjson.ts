import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import type ivm from 'isolated-vm';

/**
 * superjson inside a guest realm, so `sys.snapshot(state)` keeps an agent's Dates, Maps, Sets, BigInts,
 * RegExps, undefined and NaN: the guest serializes with superjson into JSON plus type annotations (still only
 * a string crosses), and the host deserializes with its own copy and validates the result like any payload.
 *
 * Loaded on first use (`sys.snapshot` / `sys.restored`), not with every realm: compiling it costs about as
 * much as creating the realm. The library's ES modules are read once per process from node_modules and
 * compiled into the realm asynchronously while the agent awaits (V8's code cache after the first time). The
 * guest-side encoder is not a security boundary: the state is whatever the agent chooses to pass anyway, and
 * an agent that poisons prototypes can only garble its own state, which the host then refuses.
 */
interface ModuleFile {
  readonly path: string;
  readonly source: string;
  /** Resolved paths of its imports, by specifier. */
  readonly imports: ReadonlyMap<string, string>;
  cache: ivm.ExternalCopy<ArrayBuffer> | undefined;
}

/** The global the prelude reads superjson's module namespace from (and deletes). */
export const SUPERJSON_GLOBAL = '__isokernel_superjson';

const IMPORT = /\b(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]/g;

let graph: { entry: string; files: Map<string, ModuleFile> } | undefined;

// superjson tests `payload instanceof URL`; a bare V8 context has no URL, so the module gets a local stand-in
// that nothing is an instance of (rather than a fake global every agent would see).
const URL_SHIM = "const URL = typeof globalThis.URL === 'function' ? globalThis.URL : class {};\n";

// The module graph from superjson's entry point: relative imports resolve against the importing file, bare
// ones (copy-anything) the way Node resolves them from that file.
function loadGraph(): { entry: string; files: Map<string, ModuleFile> } {
  if (graph !== undefined) return graph;
  const entry = createRequire(import.meta.url).resolve('superjson');
  const files = new Map<string, ModuleFile>();
  const pending = [entry];
  for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
    if (files.has(path)) continue;
    const source = readFileSync(path, 'utf8');
    const imports = new Map<string, string>();
    for (const match of source.matchAll(IMPORT)) {
      const specifier = match[1] ?? '';
      const target = specifier.startsWith('.')
        ? resolve(dirname(path), specifier)
        : createRequire(path).resolve(specifier);
      imports.set(specifier, target);
      pending.push(target);
    }
    const shimmed = /\binstanceof URL\b/.test(source) ? URL_SHIM + source : source;
    files.set(path, { path, source: shimmed, imports, cache: undefined });
  }
  graph = { entry, files };
  return graph;
}

/**
 * Compiles, links and evaluates superjson in `context` and leaves its namespace on the global object under
 * SUPERJSON_GLOBAL, where the prelude picks it up (and deletes it). Rejects with what isolated-vm throws.
 */
export async function loadSuperjson(isolate: ivm.Isolate, context: ivm.Context): Promise<void> {
  const { entry, files } = loadGraph();
  const compiled = new Map<string, ivm.Module>();
  const fileOf = new Map<ivm.Module, ModuleFile>();
  for (const file of files.values()) {
    const filename = `isokernel:superjson/${file.path.split('/node_modules/').at(-1) ?? 'module.js'}`;
    const module =
      file.cache === undefined
        ? await isolate.compileModule(file.source, { filename, produceCachedData: true })
        : await isolate.compileModule(file.source, { filename, cachedData: file.cache });
    const produced = (module as { cachedData?: ivm.ExternalCopy<ArrayBuffer> }).cachedData;
    if (file.cache === undefined && produced !== undefined) file.cache = produced;
    compiled.set(file.path, module);
    fileOf.set(module, file);
  }
  const root = compiled.get(entry);
  if (root === undefined) throw new Error('superjson entry missing');
  await root.instantiate(context, (specifier, referrer) => {
    const target = fileOf.get(referrer)?.imports.get(specifier);
    const module = target === undefined ? undefined : compiled.get(target);
    if (module === undefined) throw new Error(`unresolved import ${specifier}`);
    return module;
  });
  await root.evaluate();
  await context.global.set(SUPERJSON_GLOBAL, root.namespace.derefInto());
}

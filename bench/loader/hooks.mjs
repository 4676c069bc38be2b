// Module hooks for the benchmark suites: TypeScript is turned into JavaScript by esbuild with no other change,
// as tsc does for dist/. tsx (the tests' loader) also keeps function names by wrapping every function it
// creates in a `__name(...)` call; on the syscall path, where closures are made per call, that measured about
// a third of the kernel's cost, which no user of the built package pays.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

// Node 20 cannot run TypeScript at all, so every .ts file is ours to compile (a peer's sources too).
const isTypeScript = (url) => url.startsWith('file:') && url.endsWith('.ts');

// The sources import each other as './x.js' (NodeNext); the file on disk is './x.ts'.
export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const relative = specifier.startsWith('.') || specifier.startsWith('file:');
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !relative || !specifier.endsWith('.js')) throw error;
    return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
  }
}

export async function load(url, context, nextLoad) {
  if (!isTypeScript(url)) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const { code } = await transform(await readFile(file, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: `node${process.versions.node}`,
    sourcemap: 'inline',
    sourcefile: file,
  });
  return { format: 'module', source: code, shortCircuit: true };
}

// Builds native/build/proc-sandbox, the helper the proc tool runs programs through (tools/proc-sandbox.ts), from
// native/proc-sandbox.c with the first C or C++ compiler found. Run by `npm run build` and at install. Never
// fails the install: without Linux or a compiler the helper is absent and the proc tool's `sandbox: auto`
// runs programs unconfined (`required` refuses to start), as README says.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../native/proc-sandbox.c', import.meta.url));
const outDir = fileURLToPath(new URL('../native/build/', import.meta.url));
const output = `${outDir}proc-sandbox`;

if (process.platform !== 'linux') {
  console.warn('isokernel: the proc sandbox needs Linux (Landlock); programs will run unconfined');
  process.exit(0);
}
mkdirSync(outDir, { recursive: true });
const partial = `${output}.${process.pid}`;
const compilers = [
  ['cc', []],
  ['gcc', []],
  ['g++', ['-x', 'c++']],
  ['c++', ['-x', 'c++']],
];
for (const [compiler, language] of compilers) {
  try {
    execFileSync(compiler, [...language, '-O2', '-Wall', '-o', partial, source], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Renamed into place so a concurrent reader never runs a half-written file.
    renameSync(partial, output);
    process.exit(0);
  } catch {
    rmSync(partial, { force: true });
  }
}
console.warn('isokernel: no C compiler built the proc sandbox; programs will run unconfined (`sandbox: auto`)');

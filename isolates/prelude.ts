import { readFileSync } from 'node:fs';

/**
 * The guest prelude's source (isolates/guest/prelude.cjs, a plain script the linter and the type checker see)
 * and the names it shares with the host. The configuration built from the syscall table is in
 * prelude-config.ts: a sandbox host process receives it as a string and never loads the kernel's modules.
 */

export const PRELUDE_FILENAME = 'isokernel:prelude';

/** The prelude's text, read once from beside this module (the build copies isolates/guest/ into dist). */
export const PRELUDE_SOURCE = readFileSync(new URL('./guest/prelude.cjs', import.meta.url), 'utf8');

/** Globals that exist in a bare V8 context but are not part of what agents may use. */
export const REMOVED_GLOBALS = ['WebAssembly', 'SharedArrayBuffer', 'Atomics', 'console'] as const;

/** The prelude's request for superjson (not a syscall: the sandbox answers it, see guest-superjson.ts). */
export const LOAD_SUPERJSON = 'isokernel.superjson';

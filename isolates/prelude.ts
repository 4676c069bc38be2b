import { readFileSync } from 'node:fs';
import { SYSCALLS } from '../syscalls/table.js';
import { SUPERJSON_GLOBAL } from './guest-superjson.js';

/**
 * The guest prelude's source (isolate./guest/prelude.cjs, a plain script the linter and the type checker see)
 * and the configuration the host hands it. The stubs come from the syscall table, so the prelude, the
 * table and the guest type declarations cannot drift apart.
 */

export const PRELUDE_FILENAME = 'isokernel:prelude';

/** The prelude's text, read once from beside this module (the build copies isolates/guest/ into dist). */
export const PRELUDE_SOURCE = readFileSync(new URL('./guest/prelude.cjs', import.meta.url), 'utf8');

/** Globals that exist in a bare V8 context but are not part of what agents may use. */
export const REMOVED_GLOBALS = ['WebAssembly', 'SharedArrayBuffer', 'Atomics', 'console'] as const;

/** The prelude's request for superjson (not a syscall: the sandbox answers it, see guest-superjson.ts). */
export const LOAD_SUPERJSON = 'isokernel.superjson';

/** The configuration the prelude function receives, as JSON text (the same for every realm). */
export const PRELUDE_CONFIG = JSON.stringify({
  removed: REMOVED_GLOBALS,
  stubs: [...SYSCALLS.values()].map(({ name, guest }) => ({
    name,
    params: guest.params,
    ...(guest.encoding === undefined ? {} : { encoding: guest.encoding }),
  })),
  superjson: { request: LOAD_SUPERJSON, global: SUPERJSON_GLOBAL },
});

import { SYSCALLS } from '../syscalls/table.js';
import { SUPERJSON_GLOBAL } from './guest-superjson.js';
import { LOAD_SUPERJSON, REMOVED_GLOBALS } from './prelude.js';

/**
 * The configuration the prelude function receives, as JSON text (the same for every realm). Its stubs come
 * from the syscall table, so the prelude, the table and the guest type declarations cannot drift apart. It is
 * a string on purpose: the kernel hands it to sandbox host processes, which never import the syscall table
 * (or anything else of the kernel's).
 */
export const PRELUDE_CONFIG = JSON.stringify({
  removed: REMOVED_GLOBALS,
  stubs: [...SYSCALLS.values()].map(({ name, guest }) => ({
    name,
    params: guest.params,
    ...(guest.encoding === undefined ? {} : { encoding: guest.encoding }),
  })),
  superjson: { request: LOAD_SUPERJSON, global: SUPERJSON_GLOBAL },
});

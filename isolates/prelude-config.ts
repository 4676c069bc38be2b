import { GUEST_GLOBALS } from '../syscalls/guest-globals.js';
import { SYSCALLS } from '../syscalls/table.js';
import { GUEST_PARTS } from './guest-libraries.js';
import { SUPERJSON_GLOBAL } from './guest-superjson.js';
import { EAGER_PARTS, LOAD_LIBRARY, LOAD_SUPERJSON, REMOVED_GLOBALS } from './prelude.js';

/**
 * The configuration the prelude function receives, as JSON text (the same for every realm). Its stubs come
 * from the syscall table (internal syscalls have none: only the guest parts call them) and its web globals
 * from the guest globals table (syscalls/guest-globals.ts), so the prelude, the tables and the guest type
 * declarations cannot drift apart. It is
 * a string on purpose: the kernel hands it to sandbox host processes, which never import the syscall table
 * (or anything else of the kernel's).
 */
export const PRELUDE_CONFIG = JSON.stringify({
  removed: REMOVED_GLOBALS,
  stubs: [...SYSCALLS.values()]
    .filter(({ guest }) => guest.internal !== true)
    .map(({ name, guest }) => ({
      name,
      params: guest.params,
      ...(guest.encoding === undefined ? {} : { encoding: guest.encoding }),
    })),
  superjson: { request: LOAD_SUPERJSON, global: SUPERJSON_GLOBAL },
  library: LOAD_LIBRARY,
  eager: EAGER_PARTS,
  lazy: GUEST_GLOBALS.filter(({ part }) => GUEST_PARTS[part]?.eager !== true).map(({ name, part }) => [name, part]),
});

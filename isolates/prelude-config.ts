import { DEFAULT_MAX_PAYLOAD_BYTES } from '../runtime/kernel-options.js';
import { GUEST_GLOBALS } from '../syscalls/guest-globals.js';
import { SYSCALLS } from '../syscalls/table.js';
import { GUEST_PARTS } from './guest-libraries.js';
import { SUPERJSON_GLOBAL } from './guest-superjson.js';
import { EAGER_PARTS, LOAD_LIBRARY, LOAD_SUPERJSON, REMOVED_GLOBALS } from './prelude.js';

/**
 * The configuration the prelude function receives, as JSON text (the same for every realm of a kernel). Its stubs
 * come from the syscall table (internal syscalls have none: only the guest parts call them) and its web globals
 * from the guest globals table (syscalls/guest-globals.ts), so the prelude, the tables and the guest type
 * declarations cannot drift apart. `maxPayloadBytes` is the kernel's payload cap: the prelude sends only the
 * length of a longer payload (or result), so the text never crosses into the kernel. It is a string on purpose:
 * the kernel hands it to sandbox host processes, which never import the syscall table (or anything else of the
 * kernel's). Throws RangeError when `maxPayloadBytes` is not a positive integer.
 */
export function preludeConfig(maxPayloadBytes: number): string {
  if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes <= 0) {
    throw new RangeError('maxPayloadBytes must be a positive integer');
  }
  return JSON.stringify({ ...PRELUDE_PARTS, maxPayloadBytes });
}

const PRELUDE_PARTS = {
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
};

/** The configuration of a kernel with the default payload cap (tests and tools that build realms directly). */
export const PRELUDE_CONFIG: string = preludeConfig(DEFAULT_MAX_PAYLOAD_BYTES);

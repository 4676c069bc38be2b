import { createContext, runInContext } from 'node:vm';
import { libraryReply } from '../../isolates/guest-libraries.js';
import { getPreludeSource, LOAD_LIBRARY, PRELUDE_FILENAME } from '../../isolates/prelude.js';
import { PRELUDE_CONFIG } from '../../isolates/prelude-config.js';
import { encodeError, encodeValue } from '../../syscalls/wire.js';

/**
 * The guest prelude in a Node `vm` context instead of an isolate, answering syscalls with `answer` rather
 * than a kernel: for the few tests that must feed the guest something the kernel makes random on purpose
 * (the crypto seed). Everything else is tested through a real kernel.
 */
export function guestInVm(answer: (syscall: string, args: unknown[]) => unknown): (code: string) => unknown {
  const context = createContext({});
  const prelude = runInContext(getPreludeSource(), context, { filename: PRELUDE_FILENAME }) as (
    ...args: unknown[]
  ) => unknown;
  const enter = (_id: number, syscall: string, payload: string): string => {
    if (syscall === LOAD_LIBRARY) return libraryReply(payload);
    try {
      return encodeValue(answer(syscall, JSON.parse(payload) as unknown[]));
    } catch {
      return encodeError('E_INTERNAL', 'no answer');
    }
  };
  prelude(enter, () => {}, PRELUDE_CONFIG);
  return (code) => runInContext(code, context);
}

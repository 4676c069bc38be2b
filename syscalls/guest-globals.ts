/**
 * The web-standard globals agent code sees besides `sys` (the WinterTC subset model-written code assumes),
 * by name, with the guest part that builds each (isolates/guest-libraries.ts lists the parts). The prelude
 * installs exactly these; guest/sys.d.ts declares exactly these (guest-declarations.ts); README lists exactly
 * these; tests check all three against this table and against what an agent actually finds on its global.
 */
export interface GuestGlobal {
  readonly name: string;
  /** The guest part that builds it. */
  readonly part: string;
  /** One line for README. */
  readonly doc: string;
}

export const GUEST_GLOBALS: readonly GuestGlobal[] = [
  {
    name: 'console',
    part: 'console',
    doc: 'log, info, warn, error, debug and friends → a bounded `log` event with the level',
  },
  { name: 'setTimeout', part: 'timers', doc: 'timers kept in the guest, woken by one kernel timer per agent' },
  { name: 'clearTimeout', part: 'timers', doc: 'cancels a timer' },
  { name: 'setInterval', part: 'timers', doc: 'a repeating timer (same rules as setTimeout)' },
  { name: 'clearInterval', part: 'timers', doc: 'cancels a repeating timer' },
  { name: 'queueMicrotask', part: 'timers', doc: 'runs a callback after the current task' },
  { name: 'performance', part: 'timers', doc: '`performance.now()`: ms since the agent started (1 ms resolution)' },
  { name: 'TextEncoder', part: 'encoding', doc: 'UTF-8 encoder' },
  { name: 'TextDecoder', part: 'encoding', doc: 'UTF-8 decoder (fatal, ignoreBOM, stream)' },
  { name: 'atob', part: 'encoding', doc: 'base64 to a binary string' },
  { name: 'btoa', part: 'encoding', doc: 'a binary string to base64' },
  { name: 'Event', part: 'events', doc: 'a plain event' },
  { name: 'EventTarget', part: 'events', doc: 'addEventListener / removeEventListener / dispatchEvent' },
  { name: 'DOMException', part: 'events', doc: 'errors with a name (AbortError, TimeoutError, DataCloneError, ...)' },
  { name: 'AbortController', part: 'events', doc: 'aborts fetches and anything listening to its signal' },
  { name: 'AbortSignal', part: 'events', doc: '`abort()`, `timeout(ms)`, `any(signals)`, `throwIfAborted()`' },
  { name: 'crypto', part: 'crypto', doc: '`getRandomValues`, `randomUUID` (ChaCha20 seeded once from the kernel)' },
  { name: 'URL', part: 'url', doc: 'the WHATWG URL parser (whatwg-url, loaded on first use)' },
  { name: 'URLSearchParams', part: 'url', doc: 'query strings (whatwg-url)' },
  { name: 'structuredClone', part: 'clone', doc: 'deep copy of Maps, Sets, Dates, typed arrays, cycles, ...' },
  { name: 'fetch', part: 'fetch', doc: 'HTTP through the `net.http` tool: same capability, labels, audit' },
  { name: 'Headers', part: 'fetch', doc: 'request and response headers' },
  { name: 'Request', part: 'fetch', doc: 'a request (string or bytes body)' },
  { name: 'Response', part: 'fetch', doc: 'a response: status, headers, text(), json(), arrayBuffer(), bytes()' },
];

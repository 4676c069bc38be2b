// Generated from the syscall table (syscalls/table.ts) and the guest globals (syscalls/guest-globals.ts)
// by `npm run generate`. Do not edit.
// What agent code sees inside an isokernel isolate: the frozen global `sys`, whose every call returns a
// promise that rejects with an Error whose `code` is one of the kernel's error codes, and the web globals
// below. Compile agent code against this file with `"lib": ["ES2022"]` and no DOM lib.

/** An opaque reference to a value the kernel keeps, with its own label. */
export interface Handle {
  readonly $handle: string;
}

/** A capability the agent holds (never token bytes). */
export interface CapabilityInfo {
  readonly id: string;
  readonly action: string;
  readonly resource: string;
  /** Fewest uses left on any link of the chain; null when unbounded. */
  readonly remainingUses: number | null;
  /** Earliest expiry of any link, ms since the epoch; null when none expires. */
  readonly expiresAt: number | null;
}

/** An attenuation of a capability the caller holds, for a child or a handoff receiver. */
export interface CapRequest {
  from?: string;
  action?: string;
  resource?: string;
  constraint?: Record<string, string | number | boolean>;
  max_uses?: number;
  expires_in_ms?: number;
}

/** A child agent: exactly one of `program` (registered by the host) and `code` (needs agent.spawn on inline). */
export interface SpawnRequest {
  program?: string;
  code?: string;
  input?: unknown;
  caps?: CapRequest[];
  budget?: Partial<Record<'cpu_ms' | 'wall_ms' | 'memory_mb' | 'tokens_in' | 'tokens_out' | 'cost_usd' | 'tool_calls' | 'children' | 'depth' | 'warn_at', number>>;
  namespace?: string;
  mounts?: { name: string; prefix?: string; mode: 'ro' | 'rw'; from?: string }[];
}

/** One audit record as `sys.audit` returns it. */
export interface AuditRecord {
  readonly seq: number;
  readonly kind: 'intent' | 'outcome';
  readonly agent: string;
  readonly syscall: string;
  readonly action: string;
  readonly resource: string | null;
  readonly [field: string]: unknown;
}

/** The agent's only way out of its isolate. */
export interface Sys {
  /** Calls a registered tool; with `{ handle: true }` the result stays in the kernel as an opaque handle. */
  tool(name: string, args?: unknown, options?: { handle?: boolean }): Promise<any>;
  /** A bounded log line, recorded in the audit log and delivered to the host. */
  log(...values: unknown[]): Promise<void>;
  /** The capabilities the agent holds (never token bytes). */
  caps(): Promise<CapabilityInfo[]>;
  /** The value a handle stands for; the agent's label rises by the handle's. */
  read(handle: Handle): Promise<any>;
  /** The agent's current context label (sorted tags); it only ever rises. */
  label(): Promise<string[]>;
  /** A new handle without `tags`; needs a `label.declassify` capability for each tag named. */
  declassify(handle: Handle, tags: string[]): Promise<Handle>;
  /** Starts a child agent; resolves to its id. */
  spawn(request: SpawnRequest): Promise<string>;
  /** A child's result once it ends; a failed child rejects with its code. */
  join(id: string, options?: { handle?: boolean }): Promise<any>;
  /** Ends a descendant and everything below it. */
  kill(id: string): Promise<void>;
  /** Runs a registered program as a child holding only the listed attenuations; resolves to its result. */
  handoff(request: { to: string; task?: unknown; caps?: CapRequest[] }): Promise<any>;
  /** Freezes the agent's state; resolves to its content id (SHA-256). */
  snapshot(state: unknown): Promise<string>;
  /** The state a restored agent was frozen with; undefined when not restored. */
  restored(): Promise<unknown>;
  /** Audit records of the agent's own namespace and its whole-namespace mounts. */
  audit(options?: { after?: number; limit?: number }): Promise<AuditRecord[]>;
  readonly mem: {
    /** A value of the agent's namespace memory (or a mount's); its label joins the agent's. */
    get(key: string, options?: { mount?: string; handle?: boolean }): Promise<any>;
    /** Stores a value with the agent's current label. */
    put(key: string, value: unknown, options?: { mount?: string }): Promise<void>;
    /** Keys under a prefix. */
    list(prefix: string, options?: { mount?: string }): Promise<string[]>;
    /** Deletes a key. */
    delete(key: string, options?: { mount?: string }): Promise<boolean>;
  };
}

declare global {
  const sys: Sys;
  type BufferSource = ArrayBuffer | ArrayBufferView;

  interface Console {
    log(...data: unknown[]): void;
    info(...data: unknown[]): void;
    warn(...data: unknown[]): void;
    error(...data: unknown[]): void;
    debug(...data: unknown[]): void;
    trace(...data: unknown[]): void;
    dir(item?: unknown): void;
    dirxml(...data: unknown[]): void;
    table(data?: unknown): void;
    assert(condition?: unknown, ...data: unknown[]): void;
    count(label?: string): void;
    countReset(label?: string): void;
    time(label?: string): void;
    timeLog(label?: string, ...data: unknown[]): void;
    timeEnd(label?: string): void;
    group(...data: unknown[]): void;
    groupCollapsed(...data: unknown[]): void;
    groupEnd(): void;
    clear(): void;
  }
  /** Console output goes to the host as a bounded `log` event with its level (never the host's console). */
  var console: Console;

  /** Runs `handler` after `timeout` ms (clamped to 0..2^31-1); timers pending when the agent ends never fire. */
  function setTimeout(handler: (...args: any[]) => void, timeout?: number, ...args: unknown[]): number;
  function clearTimeout(id: number | undefined): void;
  function setInterval(handler: (...args: any[]) => void, timeout?: number, ...args: unknown[]): number;
  function clearInterval(id: number | undefined): void;
  function queueMicrotask(callback: () => void): void;

  interface Performance {
    /** ms since the agent started, 1 ms resolution, never decreasing. */
    now(): number;
    readonly timeOrigin: number;
    toJSON(): { timeOrigin: number };
  }
  var performance: Performance;

  interface TextEncoderEncodeIntoResult {
    read: number;
    written: number;
  }
  class TextEncoder {
    readonly encoding: 'utf-8';
    encode(input?: string): Uint8Array;
    encodeInto(source: string, destination: Uint8Array): TextEncoderEncodeIntoResult;
  }
  /** UTF-8 only: any other label is a RangeError. */
  class TextDecoder {
    constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
    readonly encoding: 'utf-8';
    readonly fatal: boolean;
    readonly ignoreBOM: boolean;
    decode(input?: BufferSource, options?: { stream?: boolean }): string;
  }
  function atob(data: string): string;
  function btoa(data: string): string;

  class DOMException extends Error {
    constructor(message?: string, name?: string);
    readonly name: string;
    readonly code: number;
  }
  interface EventInit {
    bubbles?: boolean;
    cancelable?: boolean;
    composed?: boolean;
  }
  class Event {
    constructor(type: string, init?: EventInit);
    readonly type: string;
    readonly bubbles: boolean;
    readonly cancelable: boolean;
    readonly composed: boolean;
    readonly defaultPrevented: boolean;
    readonly target: EventTarget | null;
    readonly currentTarget: EventTarget | null;
    readonly eventPhase: number;
    readonly timeStamp: number;
    readonly isTrusted: boolean;
    preventDefault(): void;
    stopPropagation(): void;
    stopImmediatePropagation(): void;
    composedPath(): EventTarget[];
    static readonly NONE: 0;
    static readonly CAPTURING_PHASE: 1;
    static readonly AT_TARGET: 2;
    static readonly BUBBLING_PHASE: 3;
  }
  type EventListenerOrObject = ((event: Event) => void) | { handleEvent(event: Event): void };
  class EventTarget {
    addEventListener(
      type: string,
      listener: EventListenerOrObject | null,
      options?: boolean | { capture?: boolean; once?: boolean; signal?: AbortSignal },
    ): void;
    removeEventListener(type: string, listener: EventListenerOrObject | null, options?: boolean | { capture?: boolean }): void;
    /** A listener that throws ends the agent, as an uncaught exception would. */
    dispatchEvent(event: Event): boolean;
  }
  class AbortSignal extends EventTarget {
    private constructor();
    readonly aborted: boolean;
    readonly reason: unknown;
    onabort: ((event: Event) => void) | null;
    throwIfAborted(): void;
    static abort(reason?: unknown): AbortSignal;
    /** Aborts with a TimeoutError after `ms` (a guest timer: it counts against wall_ms like any other). */
    static timeout(ms: number): AbortSignal;
    static any(signals: Iterable<AbortSignal>): AbortSignal;
  }
  class AbortController {
    readonly signal: AbortSignal;
    abort(reason?: unknown): void;
  }

  interface Crypto {
    getRandomValues<T extends Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array>(array: T): T;
    randomUUID(): `${string}-${string}-${string}-${string}-${string}`;
  }
  /** A ChaCha20 generator seeded once per agent from the host's CSPRNG; no `crypto.subtle`. */
  var crypto: Crypto;

  class URLSearchParams {
    constructor(init?: string | URLSearchParams | Record<string, string> | Iterable<[string, string]>);
    readonly size: number;
    append(name: string, value: string): void;
    delete(name: string, value?: string): void;
    get(name: string): string | null;
    getAll(name: string): string[];
    has(name: string, value?: string): boolean;
    set(name: string, value: string): void;
    sort(): void;
    forEach(callback: (value: string, key: string, parent: URLSearchParams) => void, thisArg?: unknown): void;
    entries(): IterableIterator<[string, string]>;
    keys(): IterableIterator<string>;
    values(): IterableIterator<string>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
    toString(): string;
  }
  class URL {
    constructor(url: string | URL, base?: string | URL);
    static canParse(url: string | URL, base?: string | URL): boolean;
    static parse(url: string | URL, base?: string | URL): URL | null;
    href: string;
    readonly origin: string;
    protocol: string;
    username: string;
    password: string;
    host: string;
    hostname: string;
    port: string;
    pathname: string;
    search: string;
    readonly searchParams: URLSearchParams;
    hash: string;
    toString(): string;
    toJSON(): string;
  }

  /** Maps, Sets, Dates, RegExps, BigInts, errors, ArrayBuffers, typed arrays and cycles; a function is a DataCloneError. */
  function structuredClone<T>(value: T): T;

  type HeadersInit = Headers | Record<string, string> | Iterable<[string, string]>;
  class Headers {
    constructor(init?: HeadersInit);
    append(name: string, value: string): void;
    delete(name: string): void;
    get(name: string): string | null;
    getSetCookie(): string[];
    has(name: string): boolean;
    set(name: string, value: string): void;
    forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void;
    entries(): IterableIterator<[string, string]>;
    keys(): IterableIterator<string>;
    values(): IterableIterator<string>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
  }
  /** Strings, bytes and URLSearchParams; no streams, Blob or FormData. */
  type BodyInit = string | ArrayBuffer | ArrayBufferView | URLSearchParams;
  interface Body {
    /** Always null: bodies are read whole. */
    readonly body: null;
    readonly bodyUsed: boolean;
    text(): Promise<string>;
    json(): Promise<any>;
    arrayBuffer(): Promise<ArrayBuffer>;
    bytes(): Promise<Uint8Array>;
  }
  interface RequestInit {
    method?: string;
    headers?: HeadersInit;
    body?: BodyInit | null;
    signal?: AbortSignal | null;
    /** Only 'follow': the kernel follows redirects and re-authorizes every hop. */
    redirect?: 'follow';
  }
  interface Request extends Body {}
  class Request {
    constructor(input: string | URL | Request, init?: RequestInit);
    readonly url: string;
    readonly method: string;
    readonly headers: Headers;
    readonly signal: AbortSignal;
    readonly redirect: string;
    clone(): Request;
  }
  interface ResponseInit {
    status?: number;
    statusText?: string;
    headers?: HeadersInit;
  }
  interface Response extends Body {}
  class Response {
    constructor(body?: BodyInit | null, init?: ResponseInit);
    readonly type: 'basic' | 'default' | 'error';
    readonly url: string;
    readonly redirected: boolean;
    readonly status: number;
    readonly ok: boolean;
    readonly statusText: string;
    readonly headers: Headers;
    clone(): Response;
    static error(): Response;
    static redirect(url: string | URL, status?: number): Response;
    static json(data: unknown, init?: ResponseInit): Response;
  }
  /**
   * An HTTP request through the `net.http` tool: it needs a `net.http` capability for the URL, obeys the
   * tool's address, redirect, vault and size rules, and its result carries the `web` label. A refusal rejects
   * with the kernel's Error (`code`: E_CAP_DENIED, E_TAINT, ...).
   */
  function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
}

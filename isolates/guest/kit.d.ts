/**
 * Types shared by the guest scripts in this folder (they are plain scripts, type-checked with // @ts-check).
 * The prelude builds one `Kit` per realm before agent code runs and hands it to each guest part's factory.
 * Nothing here exists at run time outside the prelude's closure; agent code never sees a kit.
 */

/** What an intrinsic method becomes once uncurried: the receiver is the first argument. */
export type Uncurried<F> = F extends (this: infer T, ...args: infer A) => infer R ? (self: T, ...args: A) => R : never;

/**
 * Intrinsics captured before any agent code ran. Guest parts call these, never the live globals or
 * prototype methods, which agent code may have replaced by the time a shim runs.
 */
export interface Primordials {
  readonly global: typeof globalThis;
  readonly apply: typeof Reflect.apply;
  readonly construct: typeof Reflect.construct;
  readonly defineProperty: typeof Reflect.defineProperty;
  readonly getOwnPropertyDescriptor: typeof Reflect.getOwnPropertyDescriptor;
  readonly getPrototypeOf: typeof Reflect.getPrototypeOf;
  readonly setPrototypeOf: typeof Reflect.setPrototypeOf;
  readonly ownKeys: typeof Reflect.ownKeys;
  readonly create: typeof Object.create;
  readonly freeze: typeof Object.freeze;
  readonly is: typeof Object.is;
  readonly objectToString: Uncurried<typeof Object.prototype.toString>;
  readonly JSONParse: typeof JSON.parse;
  readonly JSONStringify: typeof JSON.stringify;
  readonly String: StringConstructor;
  readonly fromCharCode: typeof String.fromCharCode;
  readonly charCodeAt: Uncurried<typeof String.prototype.charCodeAt>;
  readonly codePointAt: Uncurried<typeof String.prototype.codePointAt>;
  readonly slice: Uncurried<typeof String.prototype.slice>;
  readonly indexOf: Uncurried<typeof String.prototype.indexOf>;
  readonly toLowerCase: Uncurried<typeof String.prototype.toLowerCase>;
  readonly toUpperCase: Uncurried<typeof String.prototype.toUpperCase>;
  readonly padStart: Uncurried<typeof String.prototype.padStart>;
  readonly regexpExec: Uncurried<typeof RegExp.prototype.exec>;
  readonly Number: NumberConstructor;
  readonly isFinite: typeof Number.isFinite;
  readonly isInteger: typeof Number.isInteger;
  readonly isNaN: typeof Number.isNaN;
  readonly numberToString: Uncurried<typeof Number.prototype.toString>;
  readonly floor: typeof Math.floor;
  readonly trunc: typeof Math.trunc;
  readonly min: typeof Math.min;
  readonly max: typeof Math.max;
  readonly isArray: typeof Array.isArray;
  readonly push: Uncurried<(this: unknown[], item: unknown) => number>;
  readonly pop: Uncurried<(this: unknown[]) => unknown>;
  readonly join: Uncurried<(this: unknown[], separator: string) => string>;
  readonly Map: MapConstructor;
  readonly mapGet: Uncurried<(this: Map<unknown, unknown>, key: unknown) => unknown>;
  readonly mapSet: Uncurried<(this: Map<unknown, unknown>, key: unknown, value: unknown) => Map<unknown, unknown>>;
  readonly mapHas: Uncurried<(this: Map<unknown, unknown>, key: unknown) => boolean>;
  readonly mapDelete: Uncurried<(this: Map<unknown, unknown>, key: unknown) => boolean>;
  readonly mapSize: (map: Map<unknown, unknown>) => number;
  readonly mapForEach: Uncurried<(this: Map<unknown, unknown>, fn: (value: unknown, key: unknown) => void) => void>;
  readonly setForEach: Uncurried<(this: Set<unknown>, fn: (value: unknown) => void) => void>;
  readonly setSize: (set: Set<unknown>) => number;
  readonly dateGetTime: (date: unknown) => number;
  readonly dateToISOString: (date: unknown) => string;
  readonly Promise: PromiseConstructor;
  readonly promiseThen: <T, R>(
    promise: Promise<T>,
    onFulfilled?: (value: T) => R,
    onRejected?: (reason: unknown) => R,
  ) => Promise<R>;
  readonly resolved: <T>(value: T) => Promise<Awaited<T>>;
  readonly rejected: (reason: unknown) => Promise<never>;
  readonly Error: ErrorConstructor;
  readonly TypeError: TypeErrorConstructor;
  readonly RangeError: RangeErrorConstructor;
  readonly SyntaxError: SyntaxErrorConstructor;
  readonly Uint8Array: Uint8ArrayConstructor;
  readonly ArrayBuffer: ArrayBufferConstructor;
  readonly isView: typeof ArrayBuffer.isView;
  readonly arrayBufferByteLength: (buffer: ArrayBuffer) => number;
  readonly arrayBufferSlice: Uncurried<typeof ArrayBuffer.prototype.slice>;
  /** %TypedArray%.prototype accessors: work on every typed array kind. */
  readonly typedArrayBuffer: (view: ArrayBufferView) => ArrayBufferLike;
  readonly typedArrayByteOffset: (view: ArrayBufferView) => number;
  readonly typedArrayByteLength: (view: ArrayBufferView) => number;
  readonly typedArrayName: (value: unknown) => string | undefined;
  readonly dataViewBuffer: (view: DataView) => ArrayBufferLike;
  readonly dataViewByteOffset: (view: DataView) => number;
  readonly dataViewByteLength: (view: DataView) => number;
  readonly uint8Set: Uncurried<(this: Uint8Array, source: ArrayLike<number>, offset?: number) => void>;
  readonly uint8Subarray: Uncurried<(this: Uint8Array, begin?: number, end?: number) => Uint8Array>;
  readonly uint8Slice: Uncurried<(this: Uint8Array, begin?: number, end?: number) => Uint8Array>;
  readonly now: typeof Date.now;
  readonly Symbol: SymbolConstructor;
  readonly SymbolIterator: typeof Symbol.iterator;
  readonly SymbolAsyncIterator: typeof Symbol.asyncIterator;
  readonly SymbolToStringTag: typeof Symbol.toStringTag;
  readonly SymbolToPrimitive: typeof Symbol.toPrimitive;
  readonly Date: DateConstructor;
  readonly Intl: typeof Intl;
}

/** What the prelude gives every guest part. */
export interface Kit {
  readonly p: Primordials;
  /** A syscall by name (internal ones included): a promise of its value, rejecting with a guest-realm Error. */
  // biome-ignore lint/suspicious/noExplicitAny: each syscall's value has its own shape; the parts are checked JavaScript
  call(syscall: string, args: unknown[]): Promise<any>;
  /**
   * A syscall the kernel answers at once (random), for the synchronous web APIs: its value, or it throws
   * the guest-realm Error. A syscall answered late counts as an internal error (its reply is dropped).
   */
  callSync(syscall: string, args: unknown[]): unknown;
  /** A syscall whose outcome nobody awaits (console): a refusal is swallowed, never an unhandled rejection. */
  send(syscall: string, args: unknown[]): void;
  /** A guest-realm Error carrying a kernel error code. */
  kernelError(code: string, message: string): Error;
  /** An error thrown by an agent callback that nothing else can report (a timer, a microtask): ends the agent. */
  uncaught(thrown: unknown): void;
  /** Another guest part's exports (loaded, and built, at most once per realm). Throws what loading throws. */
  // biome-ignore lint/suspicious/noExplicitAny: each part exports its own globals
  require(part: string): Record<string, any>;
  /** ms since the agent started (not since the realm was built), never decreasing. */
  elapsed(): number;
  /** Date.now() when the agent started. */
  timeOrigin(): number;
  /** A property descriptor with a null prototype (a planted Object.prototype.get cannot turn it into an accessor). */
  descriptor(fields: PropertyDescriptor): PropertyDescriptor;
  /** Defines non-enumerable, frozen-free methods and getters on a class prototype, like WebIDL does. */
  methods(target: object, members: Record<string, unknown>): void;
}

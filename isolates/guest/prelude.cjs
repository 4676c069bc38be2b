// @ts-check
/**
 * The guest prelude: the only kernel code that runs inside an agent's isolate. It runs before any agent
 * code, captures every intrinsic it needs, removes the globals agents must not have, and installs the
 * frozen `sys` object whose stubs it builds from the kernel's syscall table.
 *
 * This file is a script, not a module (hence .cjs): its completion value is the function below, which the host calls
 * once per realm with the two host callbacks and the configuration. The callbacks are arguments, so they
 * never appear on the global object; the function returns `[deliver, start]`, which the host keeps
 * References to. Nothing in the agent's reach points at them.
 *
 * Wire format (strings only, both directions):
 * - guest -> host: `enter(id, syscall, payload)` where payload is JSON text of the argument array (or its length
 *   past the payload cap, or 0 for arguments that cannot be encoded). It returns a reply at once, or "" when the
 *   reply will come later through `deliver(id, reply)`.
 * - host -> guest reply: "v" + JSON text of the value ("v" alone for undefined), or
 *   "e" + JSON text of [code, message].
 * - guest -> host result of main: `done(reply)` with the same reply encoding ("b" when there is no default
 *   export function); a failure carries only the agent's own message text.
 *
 * Why this shape: only strings cross, so no isolated-vm object or agent object ever reaches the host, and
 * the host never awaits a guest promise. Agent code can poison prototypes, but the prelude only calls
 * functions it captured up front through a captured Reflect.apply, and keeps its state in null-prototype
 * objects, so poisoning can only change what the agent itself observes.
 *
 * The web-standard globals (console, timers, URL, fetch, ...) are built by the other scripts in this folder,
 * each a strict script whose completion value is a factory taking the `kit` below (see isolates/prelude.ts):
 * the ones that must exist before agent code (timers, the UTC clock and fixed locale) arrive as `parts` and
 * run here; the rest are lazy globals, fetched as text from the host on first use (one synchronous request,
 * not a syscall) and evaluated with the `eval` captured here. The kit hands them only captured intrinsics
 * (`p`) and the syscall function; none of it is reachable from agent code.
 *
 * The file is a .cjs so that tools treat it as the script it is (its 'use strict' directive matters).
 */
'use strict';

/**
 * @typedef {{ name: string, params: string[], encoding?: 'superjson-argument' | 'superjson-result' }} Stub
 * @typedef {{
 *   removed: string[], stubs: Stub[], superjson: { request: string, global: string },
 *   library: string, eager: string[], lazy: [name: string, part: string][], maxPayloadBytes: number
 * }} PreludeConfig
 * @typedef {(id: number, syscall: string, payload: string | number) => string} Enter
 * @typedef {{ serialize(value: unknown): unknown, deserialize(wire: unknown): unknown }} Superjson
 * @typedef {import('./kit').Kit} Kit
 * @typedef {import('./kit').Primordials} Primordials
 * @typedef {(kit: Kit) => Record<string, unknown>} PartFactory
 */

(function prelude(
  /** @type {Enter} */ enter,
  /** @type {(reply: string) => void} */ done,
  /** @type {string} */ configJson,
  /** @type {Record<string, PartFactory>} */ parts,
) {
  /** @type {any} */
  const g = globalThis;
  /** @type {PreludeConfig} */
  const config = JSON.parse(configJson);
  for (const name of config.removed) delete g[name];
  // The eager parts, copied into a null-prototype table: a name planted on Object.prototype later must never
  // be taken for a part (its "factory" would be handed the kit).
  /** @type {Record<string, PartFactory>} */
  const eagerParts = Object.create(null);
  for (const name of Reflect.ownKeys(parts)) {
    eagerParts[/** @type {string} */ (name)] = /** @type {PartFactory} */ (parts[/** @type {string} */ (name)]);
  }
  const LIBRARY_REQUEST = config.library;

  const ReflectApply = Reflect.apply;
  const ReflectDefineProperty = Reflect.defineProperty;
  const ReflectGetOwnPropertyDescriptor = Reflect.getOwnPropertyDescriptor;
  const ReflectOwnKeys = Reflect.ownKeys;
  const ObjectCreate = Object.create;
  const ObjectFreeze = Object.freeze;
  const JSONParse = JSON.parse;
  const JSONStringify = JSON.stringify;
  const StringSlice = String.prototype.slice;
  const StringCtor = String;
  const PromiseCtor = Promise;
  const PromiseResolve = Promise.resolve;
  const PromiseReject = Promise.reject;
  const PromiseThen = Promise.prototype.then;
  const ErrorCtor = Error;
  const DateNow = Date.now;
  const IndirectEval = g.eval;
  const MAX_MESSAGE = 1000;

  // Property descriptors with a null prototype: a 'get' or 'set' planted on Object.prototype must not turn
  // them into accessors.
  /** @type {(fields: PropertyDescriptor) => PropertyDescriptor} */
  const descriptor = (fields) => /** @type {any} */ ({ __proto__: null, ...fields });

  /** @type {(s: string, from: number, to?: number) => string} */
  const slice = (s, from, to) => ReflectApply(StringSlice, s, [from, to]);

  /** @type {(fn: Function) => any} */
  const uncurry =
    (fn) =>
    (/** @type {unknown} */ self, /** @type {unknown[]} */ ...args) =>
      ReflectApply(fn, self, args);
  /** @type {(target: object, key: PropertyKey) => (self: any) => any} */
  const getter = (target, key) => uncurry(/** @type {Function} */ (ReflectGetOwnPropertyDescriptor(target, key)?.get));
  /** @type {any} */
  const TypedArrayPrototype = Reflect.getPrototypeOf(Uint8Array.prototype);
  const typedArrayTag = getter(TypedArrayPrototype, Symbol.toStringTag);

  const p = ObjectFreeze(
    /** @type {Primordials} */ ({
      __proto__: null,
      global: g,
      apply: ReflectApply,
      construct: Reflect.construct,
      defineProperty: ReflectDefineProperty,
      getOwnPropertyDescriptor: ReflectGetOwnPropertyDescriptor,
      getPrototypeOf: Reflect.getPrototypeOf,
      setPrototypeOf: Reflect.setPrototypeOf,
      ownKeys: ReflectOwnKeys,
      create: ObjectCreate,
      freeze: ObjectFreeze,
      is: Object.is,
      objectToString: uncurry(Object.prototype.toString),
      JSONParse,
      JSONStringify,
      String: StringCtor,
      fromCharCode: String.fromCharCode,
      charCodeAt: uncurry(String.prototype.charCodeAt),
      codePointAt: uncurry(String.prototype.codePointAt),
      slice: uncurry(StringSlice),
      indexOf: uncurry(String.prototype.indexOf),
      toLowerCase: uncurry(String.prototype.toLowerCase),
      toUpperCase: uncurry(String.prototype.toUpperCase),
      padStart: uncurry(String.prototype.padStart),
      regexpExec: uncurry(RegExp.prototype.exec),
      Number,
      isFinite: Number.isFinite,
      isInteger: Number.isInteger,
      isNaN: Number.isNaN,
      numberToString: uncurry(Number.prototype.toString),
      floor: Math.floor,
      trunc: Math.trunc,
      min: Math.min,
      max: Math.max,
      isArray: Array.isArray,
      push: uncurry(Array.prototype.push),
      pop: uncurry(Array.prototype.pop),
      join: uncurry(Array.prototype.join),
      Map,
      mapGet: uncurry(Map.prototype.get),
      mapSet: uncurry(Map.prototype.set),
      mapHas: uncurry(Map.prototype.has),
      mapDelete: uncurry(Map.prototype.delete),
      mapSize: getter(Map.prototype, 'size'),
      mapForEach: uncurry(Map.prototype.forEach),
      setForEach: uncurry(Set.prototype.forEach),
      setSize: getter(Set.prototype, 'size'),
      dateGetTime: uncurry(Date.prototype.getTime),
      dateToISOString: uncurry(Date.prototype.toISOString),
      Promise: PromiseCtor,
      promiseThen: /** @type {any} */ (uncurry(PromiseThen)),
      resolved: (/** @type {any} */ value) => ReflectApply(PromiseResolve, PromiseCtor, [value]),
      rejected: (reason) => ReflectApply(PromiseReject, PromiseCtor, [reason]),
      Error: ErrorCtor,
      TypeError,
      RangeError,
      SyntaxError,
      Uint8Array,
      ArrayBuffer,
      isView: ArrayBuffer.isView,
      arrayBufferByteLength: getter(ArrayBuffer.prototype, 'byteLength'),
      arrayBufferSlice: uncurry(ArrayBuffer.prototype.slice),
      typedArrayBuffer: getter(TypedArrayPrototype, 'buffer'),
      typedArrayByteOffset: getter(TypedArrayPrototype, 'byteOffset'),
      typedArrayByteLength: getter(TypedArrayPrototype, 'byteLength'),
      typedArrayName: (value) => typedArrayTag(value),
      dataViewBuffer: getter(DataView.prototype, 'buffer'),
      dataViewByteOffset: getter(DataView.prototype, 'byteOffset'),
      dataViewByteLength: getter(DataView.prototype, 'byteLength'),
      uint8Set: uncurry(TypedArrayPrototype.set),
      uint8Subarray: uncurry(TypedArrayPrototype.subarray),
      uint8Slice: uncurry(TypedArrayPrototype.slice),
      now: DateNow,
      Symbol,
      SymbolIterator: Symbol.iterator,
      SymbolAsyncIterator: Symbol.asyncIterator,
      SymbolToStringTag: Symbol.toStringTag,
      SymbolToPrimitive: Symbol.toPrimitive,
      Date,
      Intl,
    }),
  );

  // ------------------------------------------------------------------------------ compile-size caps

  // V8's parser and regexp compiler take their working memory from malloc, outside every V8 heap limit, and
  // never check for termination: one agent's `(0, eval)('{}'.repeat(24e6))` took the inline kernel's process to
  // 8.5 GB, still growing seconds after the agent was reported E_QUOTA, and `new RegExp('a|'.repeat(8e6) + 'a')`
  // to 4.6 GB (red-team pass 140; SECURITY.md, hole H6). isolated-vm refuses eval and Function sources only past
  // memoryLimit/8 characters, and RegExp sources never. So every way agent code hands V8 a string to compile is
  // measured here first, before V8 sees it: eval, Function and the async, generator and async generator
  // function constructors refuse code longer than MAX_CODE_UNITS (the parameters and body as
  // CreateDynamicFunction joins them), and RegExp, RegExp.prototype.compile and String.prototype.match, matchAll
  // and search (which build a regexp from a string with the intrinsic RegExp) refuse patterns longer than
  // MAX_PATTERN_UNITS, each with a RangeError; RegExp.prototype[Symbol.split] and [Symbol.matchAll] (whose
  // fallback species is the intrinsic) take only regexps. The kernel's code check refuses a module with a regexp literal past the
  // same cap (isolates/code-check.ts), and eval and the function constructors refuse code that may hold one
  // (holdsLongLiteral); the module itself is bounded by the 4 MiB source cap (MAX_CODE_BYTES).
  //
  // The wrappers are proxies of the intrinsics with null-prototype handlers (a trap planted on Object.prototype
  // is never consulted), so names, lengths, static properties, `prototype`, instanceof and subclassing stay
  // the intrinsics'. Every route to an intrinsic constructor is replaced: the global, the prototype's
  // `constructor`, and the [[Prototype]] of the async, generator and async generator constructors (the
  // intrinsic Function). Each trap turns the arguments into strings itself, once, measures them, and hands V8
  // only those strings, so agent code cannot change a source once it is measured (a regexp object passes as
  // itself: its source was set by a literal or through these same checks). `eval` becomes an
  // indirect eval (global scope, sloppy unless the code says 'use strict'): a direct eval is one only when its
  // callee is the intrinsic itself. The prelude keeps the intrinsic eval (IndirectEval) to itself.
  //
  // The price: replacing RegExp.prototype.constructor invalidates V8's RegExp species protector for the isolate,
  // which takes split, replace, match and matchAll with a regexp off their fast paths (on a 46 KB string: split
  // 15x, a global replace 12x, a global match 2.7x slower; exec and test unchanged). Left alone, it would hand
  // the intrinsic RegExp to every regexp (`/a/.constructor`).
  {
    const MAX_CODE_UNITS = 1024 * 1024;
    const MAX_PATTERN_UNITS = 64 * 1024;
    const ReflectConstruct = Reflect.construct;
    const ReflectGetPrototypeOf = Reflect.getPrototypeOf;
    const ReflectSetPrototypeOf = Reflect.setPrototypeOf;
    const ProxyCtor = Proxy;
    const RangeErrorCtor = RangeError;
    const TypeErrorCtor = TypeError;
    const StringIndexOf = String.prototype.indexOf;
    const StringCharCodeAt = String.prototype.charCodeAt;
    const SymbolMatch = Symbol.match;
    const SymbolMatchAll = Symbol.matchAll;
    const SymbolSearch = Symbol.search;
    const SymbolSplit = Symbol.split;
    const RegExpCtor = RegExp;
    const RegExpPrototype = RegExp.prototype;
    const RegExpCompile = RegExpPrototype.compile;
    const RegExpSplit = RegExpPrototype[Symbol.split];
    const RegExpMatchAll = RegExpPrototype[Symbol.matchAll];
    const RegExpSource = /** @type {Function} */ (ReflectGetOwnPropertyDescriptor(RegExpPrototype, 'source')?.get);
    const StringPrototype = String.prototype;
    const StringMatch = StringPrototype.match;
    const StringMatchAll = StringPrototype.matchAll;
    const StringSearch = StringPrototype.search;

    /** @type {(what: string, cap: number) => RangeError} */
    const refused = (what, cap) => new RangeErrorCtor(`${what} longer than ${cap} characters is refused`);
    // V8's parse of a Unicode property escape expands the property into its code points (under the v flag, its
    // strings too): about 1 MB of malloc and 1 ms for each `\p{RGI_Emoji}`, 14 characters, so 4,681 of them within
    // the length cap took the inline kernel to 4.3 GB after the agent's E_QUOTA (red-team pass 142). So a pattern's
    // `\p{` and `\P{` count PROPERTY_ESCAPE_UNITS characters each, and code handed to eval or a function
    // constructor may spell no more of them than one pattern may hold (counted anywhere in the code, strings and
    // comments too: a regexp literal in it is compiled as well). isolates/code-check.ts weighs a module's literals
    // the same way.
    const PROPERTY_ESCAPE_UNITS = 2048;
    /** @type {(text: string, needle: string) => number} */
    const countOf = (text, needle) => {
      let count = 0;
      let at = ReflectApply(StringIndexOf, text, [needle]);
      while (at !== -1) {
        count += 1;
        at = ReflectApply(StringIndexOf, text, [needle, at + needle.length]);
      }
      return count;
    };
    /** @type {(text: string) => number} */
    const escapeUnits = (text) => PROPERTY_ESCAPE_UNITS * (countOf(text, '\\p{') + countOf(text, '\\P{'));
    /** @type {(what: string) => RangeError} */
    const escapesRefused = (what) =>
      new RangeErrorCtor(
        `${what} with more Unicode property escapes than ${MAX_PATTERN_UNITS} characters allow (each counts ${PROPERTY_ESCAPE_UNITS}) is refused`,
      );
    // A regexp literal in code handed to eval or a function constructor is compiled too, and nothing parses that
    // code before V8 does: a 1 MiB literal took the inline kernel 120-400 MB past the agent's limit for 3-4 s the
    // watchdog could not interrupt (red-team pass 142). A literal never holds a line terminator and ends at the
    // first `/` outside a class and an escape, so, starting from every `/` (wherever a literal could start), this
    // follows the body as V8's scanner would and answers the longest one that closes: at least the longest literal
    // the code can hold, whatever is string, comment or division. A start whose run meets another's in the same
    // state has the same future, so each of the four states keeps only its earliest start. Code with no line past
    // the cap (the common case) is answered by the newline search alone.
    /** @type {(text: string) => boolean} */
    const holdsLongLiteral = (text) => {
      let from = 0;
      for (;;) {
        const at = ReflectApply(StringIndexOf, text, ['\n', from]);
        if ((at === -1 ? text.length : at) - from > MAX_PATTERN_UNITS + 2) break;
        if (at === -1) return false;
        from = at + 1;
      }
      // The earliest start of a candidate body in each state (-1: none): in the body, after a backslash, in a
      // class, after a backslash in a class.
      let body = -1;
      let escaped = -1;
      let inClass = -1;
      let classEscaped = -1;
      /** @type {(a: number, b: number) => number} */
      const earlier = (a, b) => (a === -1 || (b !== -1 && b < a) ? b : a);
      for (let i = 0; i < text.length; i++) {
        const c = ReflectApply(StringCharCodeAt, text, [i]);
        if (c === 10 || c === 13 || c === 0x2028 || c === 0x2029) {
          body = escaped = inClass = classEscaped = -1;
          continue;
        }
        let nextBody = escaped;
        let nextEscaped = -1;
        let nextClass = classEscaped;
        let nextClassEscaped = -1;
        if (body !== -1) {
          if (c === 47 /* / */) {
            if (i - body - 1 > MAX_PATTERN_UNITS) return true;
          } else if (c === 92 /* \ */) nextEscaped = body;
          else if (c === 91 /* [ */) nextClass = earlier(nextClass, body);
          else nextBody = earlier(nextBody, body);
        }
        if (inClass !== -1) {
          if (c === 92) nextClassEscaped = inClass;
          else if (c === 93 /* ] */) nextBody = earlier(nextBody, inClass);
          else nextClass = earlier(nextClass, inClass);
        }
        if (c === 47) nextBody = earlier(nextBody, i);
        body = nextBody;
        escaped = nextEscaped;
        inClass = nextClass;
        classEscaped = nextClassEscaped;
      }
      return false;
    };
    /** @type {(what: string) => RangeError} */
    const literalRefused = (what) =>
      new RangeErrorCtor(
        `${what} that may hold a regular expression literal longer than ${MAX_PATTERN_UNITS} characters is refused`,
      );

    // ToString, as the intrinsics apply it (a template literal throws TypeError for a symbol, as ToString does).
    /** @type {(value: unknown) => string} */
    const toText = (value) => `${value}`;
    /** @type {(value: unknown) => value is object} */
    const isObject = (value) => value !== null && (typeof value === 'object' || typeof value === 'function');
    // Replaces the value of an own data property, keeping its attributes.
    /** @type {(target: object, key: PropertyKey, value: unknown) => void} */
    const replaceValue = (target, key, value) => {
      const found = /** @type {PropertyDescriptor} */ (ReflectGetOwnPropertyDescriptor(target, key));
      if (!ReflectDefineProperty(target, key, descriptor({ ...found, value }))) {
        throw new ErrorCtor(`the prelude could not replace ${StringCtor(key)}`);
      }
    };

    // A proxy handler with a null prototype: only its own traps exist.
    /** @type {(fields: ProxyHandler<any>) => ProxyHandler<any>} */
    const traps = (fields) => /** @type {any} */ ({ __proto__: null, ...fields });

    // eval: only a string is code; anything else is returned as it is, as the intrinsic does.
    const evalProxy = new ProxyCtor(
      IndirectEval,
      traps({
        apply: (_target, _self, args) => {
          const code = args.length > 0 ? args[0] : undefined;
          if (typeof code === 'string') {
            if (code.length > MAX_CODE_UNITS) throw refused('eval: code', MAX_CODE_UNITS);
            if (escapeUnits(code) >= MAX_PATTERN_UNITS) throw escapesRefused('eval: code');
            if (holdsLongLiteral(code)) throw literalRefused('eval: code');
          }
          return IndirectEval(code);
        },
      }),
    );
    replaceValue(g, 'eval', evalProxy);

    // The function constructors. `args` is the trap's own fresh array: its elements are replaced by their
    // strings in place (own data properties, so no setter on Array.prototype runs), parameters first, body last.
    /** @type {(args: unknown[], name: string) => unknown[]} */
    const codeArgs = (args, name) => {
      const count = args.length;
      // The commas CreateDynamicFunction puts between the parameters.
      let length = count > 2 ? count - 2 : 0;
      let escapes = 0;
      for (let i = 0; i < count; i++) {
        const text = toText(args[i]);
        args[i] = text;
        length += text.length;
        if (length <= MAX_CODE_UNITS) escapes += escapeUnits(text);
      }
      if (length > MAX_CODE_UNITS) throw refused(`${name}: code`, MAX_CODE_UNITS);
      if (escapes >= MAX_PATTERN_UNITS) throw escapesRefused(`${name}: code`);
      // The parameters as CreateDynamicFunction joins them (with commas, on one line), then the body after a newline.
      let parameters = '';
      for (let i = 0; i < count - 1; i++)
        parameters = i === 0 ? /** @type {string} */ (args[i]) : `${parameters},${args[i]}`;
      if (holdsLongLiteral(parameters) || (count > 0 && holdsLongLiteral(/** @type {string} */ (args[count - 1])))) {
        throw literalRefused(`${name}: code`);
      }
      return args;
    };
    /** @type {(intrinsic: Function, name: string) => Function} */
    const wrapFunctionConstructor = (intrinsic, name) => {
      /** @type {Function} */
      const proxy = new ProxyCtor(
        intrinsic,
        traps({
          apply: (_target, _self, args) => ReflectConstruct(intrinsic, codeArgs(args, name), intrinsic),
          construct: (_target, args, newTarget) =>
            ReflectConstruct(intrinsic, codeArgs(args, name), newTarget === proxy ? intrinsic : newTarget),
        }),
      );
      replaceValue(intrinsic.prototype, 'constructor', proxy);
      return proxy;
    };
    const FunctionProxy = wrapFunctionConstructor(Function, 'Function');
    replaceValue(g, 'Function', FunctionProxy);
    const derived = [
      [ReflectGetPrototypeOf(async () => {}), 'AsyncFunction'],
      [ReflectGetPrototypeOf(function* () {}), 'GeneratorFunction'],
      [ReflectGetPrototypeOf(async function* () {}), 'AsyncGeneratorFunction'],
    ];
    for (let i = 0; i < derived.length; i++) {
      const [prototype, name] = /** @type {[any, string]} */ (derived[i]);
      const intrinsic = prototype.constructor;
      // Its [[Prototype]] is the intrinsic Function: one more route to it.
      ReflectSetPrototypeOf(intrinsic, FunctionProxy);
      wrapFunctionConstructor(intrinsic, name);
    }

    // A regexp's source (its [[OriginalSource]], escaped as the getter gives it: never shorter), or undefined
    // for a value that is not a regexp. RegExp.prototype is not one, though the getter answers for it.
    /** @type {(value: unknown) => string | undefined} */
    const sourceOf = (value) => {
      if (!isObject(value) || value === RegExpPrototype) return undefined;
      try {
        return ReflectApply(RegExpSource, value, []);
      } catch {
        return undefined;
      }
    };
    /** @type {(value: unknown) => boolean} */
    const isRegExp = (value) => {
      if (!isObject(value)) return false;
      const matcher = /** @type {any} */ (value)[SymbolMatch];
      if (matcher !== undefined) return !!matcher;
      return sourceOf(value) !== undefined;
    };
    /** @type {(text: string, name: string) => string} */
    const checkedPattern = (text, name) => {
      if (text.length > MAX_PATTERN_UNITS) throw refused(`${name}: regular expression pattern`, MAX_PATTERN_UNITS);
      if (text.length + escapeUnits(text) > MAX_PATTERN_UNITS)
        throw escapesRefused(`${name}: regular expression pattern`);
      return text;
    };
    /** @type {Function} */
    let RegExpProxy;
    // The RegExp constructor's steps up to RegExpInitialize (ECMA-262 22.2.4.1), with `newTarget` undefined for a
    // call without new. A regexp object passes as it is (its source is read from its internal slot, no agent code
    // between); anything else reaches the intrinsic as strings.
    /** @type {(args: unknown[], newTarget: Function | undefined) => RegExp} */
    const makeRegExp = (args, newTarget) => {
      /** @type {any} */
      const pattern = args.length > 0 ? args[0] : undefined;
      const flags = args.length > 1 ? args[1] : undefined;
      const patternIsRegExp = isRegExp(pattern);
      if (newTarget === undefined && patternIsRegExp && flags === undefined && pattern.constructor === RegExpProxy) {
        return pattern;
      }
      const target = newTarget === undefined || newTarget === RegExpProxy ? RegExpCtor : newTarget;
      const source = sourceOf(pattern);
      if (source !== undefined) {
        const flagsText = flags === undefined ? undefined : toText(flags);
        checkedPattern(/** @type {string} */ (sourceOf(pattern)), 'RegExp');
        return ReflectConstruct(RegExpCtor, [pattern, flagsText], target);
      }
      let rawSource = pattern;
      let rawFlags = flags;
      if (patternIsRegExp) {
        rawSource = pattern.source;
        if (flags === undefined) rawFlags = pattern.flags;
      }
      const text = checkedPattern(rawSource === undefined ? '' : toText(rawSource), 'RegExp');
      return ReflectConstruct(RegExpCtor, [text, rawFlags === undefined ? undefined : toText(rawFlags)], target);
    };
    RegExpProxy = new ProxyCtor(
      RegExpCtor,
      traps({
        apply: (_target, _self, args) => makeRegExp(args, undefined),
        construct: (_target, args, newTarget) => makeRegExp(args, newTarget),
      }),
    );
    replaceValue(g, 'RegExp', RegExpProxy);
    replaceValue(RegExpPrototype, 'constructor', RegExpProxy);

    const methods = {
      /** @type {(this: unknown, pattern: unknown, flags: unknown) => unknown} */
      compile(pattern, flags) {
        // Not a regexp: the intrinsic throws its TypeError.
        if (sourceOf(this) === undefined) return ReflectApply(RegExpCompile, this, [pattern, flags]);
        if (sourceOf(pattern) !== undefined) {
          checkedPattern(/** @type {string} */ (sourceOf(pattern)), 'RegExp.prototype.compile');
          return ReflectApply(RegExpCompile, this, [pattern, flags]);
        }
        const text = checkedPattern(pattern === undefined ? '' : toText(pattern), 'RegExp.prototype.compile');
        return ReflectApply(RegExpCompile, this, [text, flags === undefined ? undefined : toText(flags)]);
      },
      // String.prototype.match, matchAll and search (ECMA-262 22.1.3): an argument with its own method is used
      // as the intrinsic would; otherwise the intrinsic gets the receiver's and the pattern's strings.
      /** @type {(this: unknown, regexp: unknown) => unknown} */
      match(regexp) {
        if (this === undefined || this === null) return ReflectApply(StringMatch, this, [regexp]);
        if (regexp !== undefined && regexp !== null) {
          const matcher = /** @type {any} */ (regexp)[SymbolMatch];
          if (matcher !== undefined && matcher !== null) return ReflectApply(matcher, regexp, [this]);
        }
        const text = checkedPattern(regexp === undefined ? '' : toText(regexp), 'String.prototype.match');
        return ReflectApply(StringMatch, toText(this), [text]);
      },
      /** @type {(this: unknown, regexp: unknown) => unknown} */
      matchAll(regexp) {
        if (this === undefined || this === null) return ReflectApply(StringMatchAll, this, [regexp]);
        if (regexp !== undefined && regexp !== null) {
          if (isRegExp(regexp)) {
            const flags = /** @type {any} */ (regexp).flags;
            if (flags === undefined || flags === null || ReflectApply(StringIndexOf, toText(flags), ['g']) < 0) {
              throw new TypeErrorCtor('String.prototype.matchAll called with a non-global RegExp argument');
            }
          }
          const matcher = /** @type {any} */ (regexp)[SymbolMatchAll];
          if (matcher !== undefined && matcher !== null) return ReflectApply(matcher, regexp, [this]);
        }
        const text = checkedPattern(regexp === undefined ? '' : toText(regexp), 'String.prototype.matchAll');
        return ReflectApply(StringMatchAll, toText(this), [text]);
      },
      /** @type {(this: unknown, regexp: unknown) => unknown} */
      search(regexp) {
        if (this === undefined || this === null) return ReflectApply(StringSearch, this, [regexp]);
        if (regexp !== undefined && regexp !== null) {
          const searcher = /** @type {any} */ (regexp)[SymbolSearch];
          if (searcher !== undefined && searcher !== null) return ReflectApply(searcher, regexp, [this]);
        }
        const text = checkedPattern(regexp === undefined ? '' : toText(regexp), 'String.prototype.search');
        return ReflectApply(StringSearch, toText(this), [text]);
      },
    };
    // RegExp.prototype[Symbol.split] and [Symbol.matchAll] build their matcher with the receiver's species
    // constructor, and with the intrinsic RegExp when the receiver's `constructor`, or its species, is undefined
    // (SpeciesConstructor): called on a plain object, they handed the intrinsic that object's `source` or string,
    // of any length (review 146: 8e6 `a|` took the inline kernel to 3.2 GB). A regexp's source was measured when it
    // was made, so a regexp passes as it is; any other receiver is refused, which no honest code meets.
    /** @type {(name: string, intrinsic: Function, length: number) => Function} */
    const onRegExpsOnly = (name, intrinsic, length) => {
      // A method, as the intrinsic is: no prototype, and not a constructor.
      const { method } = {
        /** @type {(this: unknown, ...args: unknown[]) => unknown} */
        method(...args) {
          if (sourceOf(this) === undefined) {
            throw new TypeErrorCtor(`${name} called on a value that is not a regular expression is refused`);
          }
          return ReflectApply(intrinsic, this, args);
        },
      };
      ReflectDefineProperty(method, 'name', descriptor({ value: name.slice(16), configurable: true }));
      ReflectDefineProperty(method, 'length', descriptor({ value: length, configurable: true }));
      return method;
    };
    replaceValue(RegExpPrototype, SymbolSplit, onRegExpsOnly('RegExp.prototype[Symbol.split]', RegExpSplit, 2));
    replaceValue(
      RegExpPrototype,
      SymbolMatchAll,
      onRegExpsOnly('RegExp.prototype[Symbol.matchAll]', RegExpMatchAll, 1),
    );
    replaceValue(RegExpPrototype, 'compile', methods.compile);
    replaceValue(StringPrototype, 'match', methods.match);
    replaceValue(StringPrototype, 'matchAll', methods.matchAll);
    replaceValue(StringPrototype, 'search', methods.search);
  }

  // A planted accessor must not make defining `code` throw, which would leave a pending call unsettled.
  /** @type {(code: string, message: string) => Error} */
  const kernelError = (code, message) => {
    const error = new ErrorCtor(message);
    ReflectDefineProperty(error, 'code', descriptor({ value: code, enumerable: true, writable: false }));
    return error;
  };

  // JSON has no form for functions and symbols and would drop them silently; refuse them instead.
  /** @type {(key: string, value: unknown) => unknown} */
  const strictReplacer = (_key, value) => {
    const type = typeof value;
    if (type === 'function' || type === 'symbol') throw strictReplacer;
    return value;
  };
  // JSON text of the first `count` arguments of `list` (an absent one as null), serialized one argument at a
  // time so that a toJSON planted on Array.prototype cannot replace the envelope (the syscall's own argument
  // positions). Each argument is serialized exactly once; its getters and toJSON run here, in the agent's
  // realm. Only objects, and a BigInt through a planted BigInt.prototype.toJSON (the one primitive JSON asks for
  // toJSON), can put a function or symbol into the text, so only they pay for the replacer.
  /** @type {(list: unknown[], count: number) => string} */
  const encodeArgs = (list, count) => {
    let text = '[';
    for (let i = 0; i < count; i++) {
      const value = i < list.length ? list[i] : undefined;
      const type = typeof value;
      if (type === 'function' || type === 'symbol') throw strictReplacer;
      const plain =
        type === 'string' || type === 'number' || type === 'boolean' || value === undefined || value === null;
      const part = plain ? JSONStringify(value) : JSONStringify(value, strictReplacer);
      text += (i === 0 ? '' : ',') + (part === undefined ? 'null' : part);
    }
    return `${text}]`;
  };

  // The value a host reply carries; throws the guest-realm Error it reports, or E_INTERNAL when it is malformed.
  /** @type {(reply: unknown) => unknown} */
  const replyValue = (reply) => {
    /** @type {Error | undefined} */
    let error;
    if (typeof reply === 'string' && reply.length > 0) {
      try {
        if (reply[0] === 'v') return reply.length === 1 ? undefined : JSONParse(slice(reply, 1));
        if (reply[0] === 'e') {
          const info = JSONParse(slice(reply, 1));
          error = kernelError(StringCtor(info[0]), StringCtor(info[1]));
        }
      } catch {}
    }
    throw error ?? kernelError('E_INTERNAL', 'malformed kernel reply');
  };

  /** @type {(reply: unknown, resolve: (value: unknown) => void, reject: (error: unknown) => void) => void} */
  const settle = (reply, resolve, reject) => {
    let value;
    try {
      value = replyValue(reply);
    } catch (error) {
      reject(error);
      return;
    }
    resolve(value);
  };

  /** @type {Record<number, { resolve: (value: unknown) => void, reject: (error: unknown) => void }>} */
  const pending = ObjectCreate(null);
  let nextId = 1;

  // The kernel's payload cap in bytes. A payload longer than that in UTF-16 units is longer in UTF-8 bytes too,
  // and never crosses: its length does, and the kernel refuses the call as oversized. Carried whole, isolated-vm
  // copied it into the kernel's heap before anything could measure it (red-team pass 96: one 1 GB `sys.log` took
  // the inline kernel's heap from 34 MB to 3.1 GB).
  const maxPayloadChars = typeof config.maxPayloadBytes === 'number' ? config.maxPayloadBytes : 0;

  // A reply the host gave at once settles a promise made from it; only a late one needs stored resolvers.
  /** @type {(syscall: string, args: unknown[], count?: number) => Promise<any>} */
  const call = (syscall, args, count = args.length) => {
    let payload;
    try {
      payload = encodeArgs(args, count);
    } catch {
      payload = undefined;
    }
    if (typeof payload !== 'string')
      return refuseUnencodable(syscall, `sys.${syscall}: arguments must be JSON-serializable`);
    const id = nextId++;
    let reply;
    try {
      reply = enter(id, syscall, payload.length > maxPayloadChars ? payload.length : payload);
    } catch {
      return p.rejected(kernelError('E_KILLED', `sys.${syscall}: the agent has ended`));
    }
    if (reply === '') {
      return new PromiseCtor((resolve, reject) => {
        pending[id] = { resolve, reject };
      });
    }
    try {
      return p.resolved(replyValue(reply));
    } catch (error) {
      return p.rejected(error);
    }
  };

  // Arguments that cannot be encoded never cross as data, but the attempt does, as the length 0 (no payload is that
  // short): the kernel counts it against `syscalls` and records it. Refused here alone, 10,000 calls naming a URL
  // beside a BigInt left no record, no event and no count (red-team pass 151). The kernel's reply is not awaited:
  // the refusal is this realm's to word.
  /** @type {(syscall: string, message: string) => Promise<never>} */
  const refuseUnencodable = (syscall, message) => {
    try {
      enter(nextId++, syscall, 0);
    } catch {
      return p.rejected(kernelError('E_KILLED', `sys.${syscall}: the agent has ended`));
    }
    return p.rejected(kernelError('E_BAD_ARG', message));
  };

  /** @type {(id: number, reply: string) => void} */
  const deliver = (id, reply) => {
    const waiter = pending[id];
    if (waiter === undefined) return;
    delete pending[id];
    settle(reply, waiter.resolve, waiter.reject);
  };

  // Snapshot state crosses in superjson's form (JSON plus type annotations), loaded into the realm on first use.
  // superjson's module code runs on this realm's built-ins; if the agent has changed them, that code could
  // call agent functions and throw agent-made errors, which the host would then copy out of the isolate
  // (running their getters: hole H1). So the built-ins are fingerprinted below, before agent code exists, and
  // superjson is loaded only while the fingerprint still holds (issue 12, item 3).
  /** @type {Superjson | undefined} */
  let superjson;
  /** @type {() => boolean} */
  let builtinsIntact = () => true;
  /** @type {<T>(name: string, use: (lib: Superjson) => T) => Promise<T>} */
  const withSuperjson = (name, use) => {
    if (superjson === undefined && !builtinsIntact()) {
      return refuseUnencodable(name, 'snapshot state needs the built-ins unchanged until its first use');
    }
    const ready =
      superjson !== undefined
        ? ReflectApply(PromiseResolve, PromiseCtor, [undefined])
        : ReflectApply(PromiseThen, call(config.superjson.request, []), [
            () => {
              if (superjson === undefined) {
                const lib = g[config.superjson.global];
                delete g[config.superjson.global];
                superjson = { serialize: lib.serialize, deserialize: lib.deserialize };
              }
            },
          ]);
    return ReflectApply(PromiseThen, ready, [() => use(/** @type {Superjson} */ (superjson))]);
  };

  // A stub sends exactly params.length arguments (an absent one as null, never read from Array.prototype),
  // or all of them for a `...rest` parameter list.
  /** @type {(stub: Stub) => (...args: unknown[]) => Promise<unknown>} */
  const makeStub = (stub) => {
    const { name, params, encoding } = stub;
    const variadic = params.length === 1 && slice(/** @type {string} */ (params[0]), 0, 3) === '...';
    const arity = params.length;
    if (encoding === 'superjson-argument') {
      // Only the first argument (the state) crosses, in superjson's form. A state superjson refuses (a key named
      // `prototype` or `constructor`, its guard against prototype pollution; a getter that throws) is E_BAD_ARG, as
      // an argument JSON cannot encode is: superjson's own error carried no code.
      return (...args) =>
        withSuperjson(name, (lib) => {
          let wire;
          try {
            wire = lib.serialize(args.length > 0 ? args[0] : undefined);
          } catch {
            return refuseUnencodable(
              name,
              `sys.${name}: the state cannot be encoded (superjson refuses it; a key named prototype or constructor is one reason)`,
            );
          }
          return call(name, [wire]);
        });
    }
    if (encoding === 'superjson-result') {
      return (...args) =>
        withSuperjson(name, (lib) =>
          ReflectApply(PromiseThen, call(name, args, variadic ? args.length : arity), [
            (/** @type {unknown} */ wire) => (wire === null ? undefined : lib.deserialize(wire)),
          ]),
        );
    }
    return (...args) => call(name, args, variadic ? args.length : arity);
  };

  /** @type {(target: object, name: string, value: unknown) => void} */
  const define = (target, name, value) => {
    ObjectFreeze(value);
    ReflectDefineProperty(target, name, descriptor({ value, enumerable: true }));
  };
  const sys = ObjectCreate(null);
  /** @type {Record<string, object>} */
  const namespaces = ObjectCreate(null);
  for (const stub of config.stubs) {
    const dot = stub.name.indexOf('.');
    if (dot < 0) {
      define(sys, stub.name, makeStub(stub));
      continue;
    }
    const space = slice(stub.name, 0, dot);
    /** @type {object} */
    const target = namespaces[space] ?? ObjectCreate(null);
    namespaces[space] = target;
    define(target, slice(stub.name, dot + 1), makeStub(stub));
  }
  for (const space in namespaces) define(sys, space, /** @type {object} */ (namespaces[space]));
  ObjectFreeze(sys);
  ReflectDefineProperty(g, 'sys', { value: sys, writable: false, enumerable: false, configurable: false });

  // Reports the outcome of main exactly once.
  let finished = false;
  /** @type {(reply: string) => void} */
  const finish = (reply) => {
    if (finished) return;
    finished = true;
    done(reply);
  };
  /** @type {(value: unknown) => void} */
  const succeed = (value) => {
    let text;
    try {
      text = JSONStringify(value);
    } catch {
      finish(`e${JSONStringify('main returned a value that is not JSON-serializable')}`);
      return;
    }
    if (text === undefined) finish('v');
    // Past the cap, only its length crosses (as for a syscall's payload).
    else finish(text.length > maxPayloadChars ? `o${text.length}` : `v${text}`);
  };
  // The agent's own message, as plain text: any getter or toString it planted runs here, in its realm.
  /** @type {(thrown: any) => void} */
  const fail = (thrown) => {
    let message = 'agent threw a non-error value';
    try {
      const raw = thrown !== null && typeof thrown === 'object' ? thrown.message : thrown;
      if (raw !== undefined) message = slice(StringCtor(raw), 0, MAX_MESSAGE);
    } catch {}
    finish(`e${JSONStringify(typeof message === 'string' ? message : 'agent failed')}`);
  };

  // ------------------------------------------------------------------------------ the guest globals

  // The agent's clock starts when main is called, not when the realm was built (realms wait in a pool).
  let origin = DateNow();
  let lastElapsed = 0;
  /** @type {Record<string, Record<string, any>>} */
  const loaded = ObjectCreate(null);
  /** @type {Record<string, true>} */
  const loading = ObjectCreate(null);

  // A guest part's source, asked of the host synchronously (one string, not a syscall) and evaluated with
  // the eval captured above: its completion value is the part's factory.
  // The host's answer for each part, kept the moment it arrives: a part is asked of the host once per realm,
  // whatever fails after (its evaluation overflowing a nearly full stack, its factory throwing because the agent
  // broke a built-in it uses). A request is not a syscall, so nothing counted or charged the kernel's time encoding
  // ~340 KB per ask (red-team pass 96: 200 asks, 717 ms; review 99 kept a part from ever loading by reading it only
  // where its evaluation overflowed, 1,394 asks, 534 MB sent).
  /** @type {Record<string, string>} */
  const answers = ObjectCreate(null);
  // And its factory once evaluated, so a factory that throws is not evaluated again either.
  /** @type {Record<string, PartFactory>} */
  const factories = ObjectCreate(null);
  /** @type {(part: string) => PartFactory} */
  const fetchPart = (part) => {
    const eager = eagerParts[part];
    if (eager !== undefined) return eager;
    const known = factories[part];
    if (known !== undefined) return known;
    let reply = answers[part];
    if (reply === undefined) {
      try {
        reply = enter(nextId++, LIBRARY_REQUEST, JSONStringify([part]));
      } catch {
        throw kernelError('E_KILLED', 'the agent has ended');
      }
      answers[part] = reply;
    }
    /** @type {unknown} */
    let source;
    try {
      source = replyValue(reply);
    } catch {}
    if (typeof source !== 'string') throw kernelError('E_INTERNAL', `the guest library "${part}" is unavailable`);
    const factory = IndirectEval(source);
    if (typeof factory !== 'function') throw kernelError('E_INTERNAL', `the guest library "${part}" is malformed`);
    factories[part] = factory;
    return factory;
  };

  const kit = ObjectFreeze(
    /** @type {Kit} */ ({
      __proto__: null,
      p,
      call,
      send: (syscall, args) => {
        ReflectApply(PromiseThen, call(syscall, args), [undefined, () => {}]);
      },
      callSync: (syscall, args) => {
        let reply;
        try {
          reply = enter(nextId++, syscall, encodeArgs(args, args.length));
        } catch {
          throw kernelError('E_KILLED', `${syscall}: the agent has ended`);
        }
        return replyValue(reply === '' ? 'e["E_INTERNAL","internal kernel error"]' : reply);
      },
      kernelError,
      uncaught: fail,
      require: (part) => {
        const ready = loaded[part];
        if (ready !== undefined) return ready;
        if (loading[part] === true) throw kernelError('E_INTERNAL', `the guest library "${part}" requires itself`);
        loading[part] = true;
        try {
          const exports = fetchPart(part)(kit);
          loaded[part] = exports;
          return exports;
        } finally {
          delete loading[part];
        }
      },
      elapsed: () => {
        const elapsed = DateNow() - origin;
        if (elapsed > lastElapsed) lastElapsed = elapsed;
        return lastElapsed;
      },
      timeOrigin: () => origin,
      descriptor,
      methods: (target, members) => {
        const keys = ReflectOwnKeys(members);
        for (let i = 0; i < keys.length; i++) {
          const key = /** @type {PropertyKey} */ (keys[i]);
          const found = /** @type {PropertyDescriptor} */ (ReflectGetOwnPropertyDescriptor(members, key));
          found.enumerable = false;
          ReflectDefineProperty(target, key, descriptor(found));
        }
      },
    }),
  );

  // Web globals are writable, configurable and not enumerable (WebIDL). A lazy one is an accessor until
  // first read, like Node's own lazy globals: reading it loads its part and replaces it with the value.
  /** @type {(name: string, value: unknown) => void} */
  const defineGlobal = (name, value) => {
    ReflectDefineProperty(g, name, descriptor({ value, writable: true, enumerable: false, configurable: true }));
  };
  /** @type {Record<string, true>} */
  const webGlobals = ObjectCreate(null);
  for (let i = 0; i < config.eager.length; i++) {
    const exports = kit.require(/** @type {string} */ (config.eager[i]));
    const names = ReflectOwnKeys(exports);
    for (let j = 0; j < names.length; j++) {
      const name = /** @type {string} */ (names[j]);
      webGlobals[name] = true;
      defineGlobal(name, exports[name]);
    }
  }
  for (let i = 0; i < config.lazy.length; i++) {
    const [name, part] = /** @type {[string, string]} */ (config.lazy[i]);
    webGlobals[name] = true;
    ReflectDefineProperty(
      g,
      name,
      descriptor({
        get: () => {
          const value = kit.require(part)[name];
          defineGlobal(name, value);
          return value;
        },
        set: (/** @type {unknown} */ value) => defineGlobal(name, value),
        enumerable: false,
        configurable: true,
      }),
    );
  }

  // The fingerprint of the built-ins: every own property (key and value, getter, setter) and the prototype
  // link of the global object, of every object and function it holds, of their prototypes, and of the
  // iterator prototypes. Taken now, after the web globals are installed and before agent code; checked before
  // superjson is loaded. A new data global is not a change; a new accessor global is (a lookup superjson makes
  // could run it). A web global is the agent's to replace (WebIDL: writable, configurable) by a data property
  // or to delete, and a lazy one turns itself into a data property when first read: only an accessor other
  // than the kernel's own counts as a change there.
  {
    const ReflectOwnKeys = Reflect.ownKeys;
    const ReflectGetOwnPropertyDescriptor = Reflect.getOwnPropertyDescriptor;
    const ReflectGetPrototypeOf = Reflect.getPrototypeOf;
    // Object.is, not ===: the global NaN must equal itself.
    const ObjectIs = Object.is;
    // The fingerprint is one flat list: for each object its target, its prototype and its number of own
    // properties, then each property's key, value, getter and setter. It is read by index only, and has no
    // holes (every slot is written below), so no read reaches Array.prototype.
    //
    // Every realm takes it, before its agent exists, and an idle realm never collects the garbage that taking it
    // left (nothing allocates, so nothing triggers a collection): that garbage is resident memory for as long as
    // the agent lives (it was a third of an idle realm's heap). So taking it allocates little besides the list:
    // the list is sized before it is filled (not grown), and a data property is read without a descriptor
    // object: __lookupGetter__ and __lookupSetter__ both return undefined only for a data property (or an
    // accessor with neither), whose value Reflect.get reads without running agent code; any other property is
    // read with getOwnPropertyDescriptor, as the check below reads them (a test compares the two readings). This runs before agent code exists, on the
    // realm's untouched built-ins, and calls through call-bound copies, which allocate no argument lists.
    const prints = (() => {
      const FunctionCall = Function.prototype.call;
      const FunctionBind = Function.prototype.bind;
      /** @type {any} */
      const ObjectPrototype = Object.prototype;
      /** @type {(target: object, key: PropertyKey) => unknown} */
      const lookupGetter = ReflectApply(FunctionBind, FunctionCall, [ObjectPrototype.__lookupGetter__]);
      /** @type {(target: object, key: PropertyKey) => unknown} */
      const lookupSetter = ReflectApply(FunctionBind, FunctionCall, [ObjectPrototype.__lookupSetter__]);
      const ReflectGet = Reflect.get;
      /** @type {(target: object, key: PropertyKey) => boolean} */
      const isData = (target, key) =>
        lookupGetter(target, key) === undefined && lookupSetter(target, key) === undefined;
      // First the objects and their keys, in order: [target, keys, target, keys, ...]. An object already found
      // is skipped (a scan of the list: a hundred objects, and no set to allocate).
      /** @type {unknown[]} */
      const found = [];
      let objects = 0;
      let size = 0;
      /** @type {(target: unknown) => void} */
      const record = (target) => {
        if (target === null || (typeof target !== 'object' && typeof target !== 'function')) return;
        for (let i = 0; i < objects; i += 2) if (found[i] === target) return;
        const keys = ReflectOwnKeys(/** @type {object} */ (target));
        found[objects++] = target;
        found[objects++] = keys;
        size += 3 + 4 * keys.length;
      };
      const globalKeys = ReflectOwnKeys(g);
      record(g);
      for (let i = 0; i < globalKeys.length; i++) {
        const key = /** @type {PropertyKey} */ (globalKeys[i]);
        // The global's value for `key` as its descriptor has it (undefined for an accessor).
        const value = isData(g, key)
          ? ReflectGet(g, key)
          : /** @type {PropertyDescriptor} */ (ReflectGetOwnPropertyDescriptor(g, key)).value;
        if (value === sys) continue;
        record(value);
        if (typeof value === 'function') record(value.prototype);
        if (value !== null && (typeof value === 'object' || typeof value === 'function'))
          record(ReflectGetPrototypeOf(value));
      }
      const ArrayIterator = ReflectGetPrototypeOf([][Symbol.iterator]());
      record(ArrayIterator);
      record(ReflectGetPrototypeOf(/** @type {object} */ (ArrayIterator)));
      record(ReflectGetPrototypeOf(new Map()[Symbol.iterator]()));
      record(ReflectGetPrototypeOf(new Set()[Symbol.iterator]()));
      record(ReflectGetPrototypeOf(''[Symbol.iterator]()));
      // Then the list, every slot of it.
      const list = new Array(size);
      let at = 0;
      for (let i = 0; i < objects; i += 2) {
        const target = /** @type {object} */ (found[i]);
        const keys = /** @type {PropertyKey[]} */ (found[i + 1]);
        list[at++] = target;
        list[at++] = ReflectGetPrototypeOf(target);
        list[at++] = keys.length;
        for (let j = 0; j < keys.length; j++) {
          const key = /** @type {PropertyKey} */ (keys[j]);
          list[at++] = key;
          if (isData(target, key)) {
            // A data property, one the engine implements natively (its value read as the descriptor reads it), or
            // an accessor with neither getter nor setter (its value reads as undefined).
            list[at++] = ReflectGet(target, key);
            list[at++] = undefined;
            list[at++] = undefined;
          } else {
            // An accessor, or a property the engine implements natively, which the lookups walk past to an
            // accessor up the prototype chain (a sloppy function's 'caller'): the descriptor says which.
            const desc = /** @type {PropertyDescriptor} */ (ReflectGetOwnPropertyDescriptor(target, key));
            list[at++] = desc.value;
            list[at++] = desc.get;
            list[at++] = desc.set;
          }
        }
      }
      return list;
    })();
    const length = prints.length;
    builtinsIntact = () => {
      for (let at = 0; at < length; ) {
        const target = /** @type {object} */ (prints[at]);
        const proto = prints[at + 1];
        const count = /** @type {number} */ (prints[at + 2]);
        // The properties of this target are prints[first + 4 * i] (key), + 1 (value), + 2 (getter), + 3 (setter).
        const first = at + 3;
        at = first + 4 * count;
        if (ReflectGetPrototypeOf(target) !== proto) return false;
        const keys = ReflectOwnKeys(target);
        if (target === g) {
          // New globals: data properties are the agent's own; accessors are refused.
          for (let i = 0; i < keys.length; i++) {
            const desc = ReflectGetOwnPropertyDescriptor(g, /** @type {PropertyKey} */ (keys[i]));
            if (desc !== undefined && (desc.get !== undefined || desc.set !== undefined)) {
              let known = false;
              for (let j = 0; j < count; j++) if (prints[first + 4 * j] === keys[i]) known = true;
              if (!known) return false;
            }
          }
        } else if (keys.length !== count) {
          return false;
        }
        for (let i = 0; i < count; i++) {
          const key = /** @type {PropertyKey} */ (prints[first + 4 * i]);
          const value = prints[first + 4 * i + 1];
          const get = prints[first + 4 * i + 2];
          const set = prints[first + 4 * i + 3];
          const desc = ReflectGetOwnPropertyDescriptor(target, key);
          if (target === g && typeof key === 'string' && webGlobals[key] === true) {
            if (desc === undefined || (desc.get === undefined && desc.set === undefined)) continue;
            if (desc.get !== get || desc.set !== set) return false;
            continue;
          }
          if (desc === undefined || !ObjectIs(desc.value, value) || desc.get !== get || desc.set !== set) return false;
        }
      }
      return true;
    };
  }

  let started = false;
  /** @type {(namespace: any, inputJson: string) => void} */
  const start = (namespace, inputJson) => {
    if (started) return;
    started = true;
    origin = DateNow();
    let outcome;
    try {
      const main = namespace.default;
      if (typeof main !== 'function') {
        finish('b');
        return;
      }
      outcome = main(JSONParse(inputJson));
    } catch (thrown) {
      fail(thrown);
      return;
    }
    try {
      ReflectApply(PromiseThen, ReflectApply(PromiseResolve, PromiseCtor, [outcome]), [succeed, fail]);
    } catch (thrown) {
      fail(thrown);
    }
  };

  return [deliver, start];
});

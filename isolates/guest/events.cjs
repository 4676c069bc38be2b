// @ts-check
/**
 * Event, EventTarget, DOMException, AbortController and AbortSignal, inside the guest: what fetch and
 * model-written code need to cancel work (`AbortSignal.timeout(ms)`, `controller.abort()`).
 *
 * State lives in private fields, so a forged object (`Object.create(AbortSignal.prototype)`) is refused and
 * poisoning a prototype cannot reach another object's listeners. The fetch part subscribes through the
 * exported `onAbort` and `signalState` rather than through methods agent code may have replaced. A listener
 * that throws ends the agent with its message, as an uncaught exception in a listener ends a Node process.
 */
'use strict';

(function events(/** @type {import('./kit').Kit} */ kit) {
  const { p } = kit;

  /** @type {Record<string, number>} */
  const LEGACY_CODES = /** @type {any} */ ({
    __proto__: null,
    IndexSizeError: 1,
    HierarchyRequestError: 3,
    WrongDocumentError: 4,
    InvalidCharacterError: 5,
    NoModificationAllowedError: 7,
    NotFoundError: 8,
    NotSupportedError: 9,
    InvalidStateError: 11,
    SyntaxError: 12,
    InvalidModificationError: 13,
    NamespaceError: 14,
    InvalidAccessError: 15,
    TypeMismatchError: 17,
    SecurityError: 18,
    NetworkError: 19,
    AbortError: 20,
    URLMismatchError: 21,
    QuotaExceededError: 22,
    TimeoutError: 23,
    InvalidNodeTypeError: 24,
    DataCloneError: 25,
  });

  class DOMException extends p.Error {
    #name;
    /** @param {unknown} message @param {unknown} options */
    constructor(message = '', options = 'Error') {
      super(p.String(message));
      const name = options !== null && typeof options === 'object' ? /** @type {any} */ (options).name : options;
      this.#name = name === undefined ? 'Error' : p.String(name);
    }
    // Robust to a read before the field exists (V8 may format the stack header during construction).
    /** @override */
    get name() {
      return #name in this ? this.#name : 'Error';
    }
    get code() {
      return #name in this ? (LEGACY_CODES[this.#name] ?? 0) : 0;
    }
  }
  kit.methods(DOMException.prototype, { [p.SymbolToStringTag]: 'DOMException' });

  const NONE = 0;
  const AT_TARGET = 2;

  class Event {
    #type;
    #bubbles;
    #cancelable;
    #composed;
    #canceled = false;
    #stopped = false;
    /** @type {EventTarget | null} */
    #target = null;
    /** @type {EventTarget | null} */
    #current = null;
    #phase = NONE;
    #timeStamp = kit.elapsed();
    /** @param {unknown[]} args */
    constructor(...args) {
      if (args.length === 0) throw new p.TypeError('The "type" argument must be specified');
      const init = args[1];
      this.#type = p.String(args[0]);
      /** @type {any} */
      const options = init === undefined || init === null ? {} : init;
      this.#bubbles = !!options.bubbles;
      this.#cancelable = !!options.cancelable;
      this.#composed = !!options.composed;
    }
    get type() {
      return this.#type;
    }
    get bubbles() {
      return this.#bubbles;
    }
    get cancelable() {
      return this.#cancelable;
    }
    get composed() {
      return this.#composed;
    }
    get defaultPrevented() {
      return this.#canceled;
    }
    get returnValue() {
      return !this.#canceled;
    }
    get cancelBubble() {
      return this.#stopped;
    }
    get target() {
      return this.#target;
    }
    get srcElement() {
      return this.#target;
    }
    get currentTarget() {
      return this.#current;
    }
    get eventPhase() {
      return this.#phase;
    }
    get timeStamp() {
      return this.#timeStamp;
    }
    get isTrusted() {
      return false;
    }
    preventDefault() {
      if (this.#cancelable) this.#canceled = true;
    }
    stopPropagation() {}
    stopImmediatePropagation() {
      this.#stopped = true;
    }
    composedPath() {
      return this.#current === null ? [] : [this.#current];
    }
    /** @type {(event: Event, target: EventTarget | null, phase: number) => void} */
    static dispatching(event, target, phase) {
      event.#target ??= target;
      event.#current = target;
      event.#phase = phase;
      if (phase === NONE) event.#stopped = false;
    }
    /** @type {(event: unknown) => boolean} */
    static is(event) {
      return event !== null && typeof event === 'object' && #type in event;
    }
    /** @type {(event: Event) => boolean} */
    static stopped(event) {
      return event.#stopped;
    }
    /** @type {(event: Event) => { type: string, canceled: boolean }} */
    static info(event) {
      return /** @type {any} */ ({ __proto__: null, type: event.#type, canceled: event.#canceled });
    }
  }
  // Kept here and deleted from the class: agent code reaches Event, never these.
  const dispatching = Event.dispatching;
  const isEvent = Event.is;
  const stopped = Event.stopped;
  const eventInfo = Event.info;
  const STATICS = ['dispatching', 'is', 'stopped', 'info'];
  for (let i = 0; i < STATICS.length; i++) delete (/** @type {any} */ (Event)[/** @type {string} */ (STATICS[i])]);
  kit.methods(Event.prototype, { [p.SymbolToStringTag]: 'Event' });
  const PHASES = ['NONE', 'CAPTURING_PHASE', 'AT_TARGET', 'BUBBLING_PHASE'];
  for (let i = 0; i < PHASES.length; i++) {
    const name = /** @type {string} */ (PHASES[i]);
    p.defineProperty(Event, name, kit.descriptor({ value: i, enumerable: true }));
    p.defineProperty(Event.prototype, name, kit.descriptor({ value: i, enumerable: true }));
  }

  /** @typedef {{ callback: unknown, capture: boolean, once: boolean, removed: boolean }} Listener */

  class EventTarget {
    /** @type {Map<unknown, unknown>} type → Listener[] */
    #listeners = new p.Map();

    /** @param {unknown} type @param {unknown} callback @param {any} options */
    addEventListener(type, callback, options = undefined) {
      if (callback === null || callback === undefined) return;
      if (typeof callback !== 'function' && typeof callback !== 'object') {
        throw new p.TypeError('The "listener" argument must be a function or an object');
      }
      const name = p.String(type);
      const flags = typeof options === 'boolean' ? { capture: options } : (options ?? {});
      const capture = !!flags.capture;
      const once = !!flags.once;
      const signal = flags.signal;
      if (signal !== undefined && !isSignal(signal))
        throw new p.TypeError('The "signal" option must be an AbortSignal');
      if (signal !== undefined && signalState(signal)?.aborted === true) return;
      let list = /** @type {Listener[] | undefined} */ (p.mapGet(this.#listeners, name));
      if (list === undefined) {
        list = [];
        p.mapSet(this.#listeners, name, list);
      }
      for (let i = 0; i < list.length; i++) {
        const listener = /** @type {Listener} */ (list[i]);
        if (listener.callback === callback && listener.capture === capture) return;
      }
      /** @type {Listener} */
      const entry = /** @type {any} */ ({ __proto__: null, callback, capture, once, removed: false });
      p.push(list, entry);
      if (signal !== undefined) onAbort(signal, () => this.#remove(name, entry));
    }

    /** @param {unknown} type @param {unknown} callback @param {any} options */
    removeEventListener(type, callback, options = undefined) {
      const capture = typeof options === 'boolean' ? options : !!options?.capture;
      const list = /** @type {Listener[] | undefined} */ (p.mapGet(this.#listeners, p.String(type)));
      if (list === undefined) return;
      for (let i = 0; i < list.length; i++) {
        const listener = /** @type {Listener} */ (list[i]);
        if (listener.callback === callback && listener.capture === capture) {
          this.#remove(p.String(type), listener);
          return;
        }
      }
    }

    /** @param {unknown} event */
    dispatchEvent(event) {
      if (!isEvent(event)) throw new p.TypeError('The "event" argument must be an Event');
      const ev = /** @type {Event} */ (event);
      const { type } = eventInfo(ev);
      dispatching(ev, this, AT_TARGET);
      const list = /** @type {Listener[] | undefined} */ (p.mapGet(this.#listeners, type));
      /** @type {Listener[]} */
      const snapshot = [];
      if (list !== undefined) for (let i = 0; i < list.length; i++) p.push(snapshot, list[i]);
      // The `on<type>` handler attribute: AbortSignal's onabort is the only one here.
      const handler = type === 'abort' && isSignal(this) ? abortHandler(/** @type {any} */ (this)) : null;
      for (let i = 0; i < snapshot.length; i++) {
        const listener = /** @type {Listener} */ (snapshot[i]);
        if (listener.removed) continue;
        if (listener.once) this.#remove(type, listener);
        invoke(listener.callback, this, ev);
        if (stopped(ev)) break;
      }
      if (handler !== null && !stopped(ev)) invoke(handler, this, ev);
      dispatching(ev, null, NONE);
      return !eventInfo(ev).canceled;
    }

    /** @param {string} type @param {Listener} entry */
    #remove(type, entry) {
      entry.removed = true;
      const list = /** @type {Listener[] | undefined} */ (p.mapGet(this.#listeners, type));
      if (list === undefined) return;
      /** @type {Listener[]} */
      const keep = [];
      for (let i = 0; i < list.length; i++) if (list[i] !== entry) p.push(keep, list[i]);
      p.mapSet(this.#listeners, type, keep);
    }
  }
  kit.methods(EventTarget.prototype, { [p.SymbolToStringTag]: 'EventTarget' });
  const dispatchEvent = EventTarget.prototype.dispatchEvent;

  /** @type {(callback: unknown, target: object, event: Event) => void} */
  const invoke = (callback, target, event) => {
    try {
      if (typeof callback === 'function') p.apply(callback, target, [event]);
      else {
        const handle = /** @type {any} */ (callback).handleEvent;
        if (typeof handle === 'function') p.apply(handle, callback, [event]);
      }
    } catch (thrown) {
      kit.uncaught(thrown);
    }
  };

  const CREATE = p.Symbol('create');

  class AbortSignal extends EventTarget {
    #aborted = false;
    /** @type {unknown} */
    #reason = undefined;
    /** @type {unknown} */
    #onabort = null;
    /** @type {(() => void)[]} */
    #algorithms = [];

    /** @param {unknown} token */
    constructor(token = undefined) {
      if (token !== CREATE) throw new p.TypeError('Illegal constructor');
      super();
    }
    get aborted() {
      return this.#aborted;
    }
    get reason() {
      return this.#reason;
    }
    get onabort() {
      return this.#onabort;
    }
    set onabort(value) {
      this.#onabort = typeof value === 'function' || (value !== null && typeof value === 'object') ? value : null;
    }
    throwIfAborted() {
      if (this.#aborted) throw this.#reason;
    }
    /** @param {unknown} reason */
    static abort(reason = undefined) {
      const signal = new AbortSignal(CREATE);
      signal.#signalAbort(reason);
      return signal;
    }
    /** @param {unknown} ms */
    static timeout(ms) {
      const delay = p.Number(ms);
      if (!p.isFinite(delay) || delay < 0) throw new p.TypeError('The "ms" argument must be a non-negative number');
      const signal = new AbortSignal(CREATE);
      kit.require('timers').setTimeout(() => {
        signal.#signalAbort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      }, delay);
      return signal;
    }
    /** @param {unknown} signals */
    static any(signals) {
      /** @type {AbortSignal[]} */
      const list = [];
      for (const item of /** @type {Iterable<unknown>} */ (signals)) {
        if (!isSignal(item)) throw new p.TypeError('The "signals" argument must contain only AbortSignals');
        p.push(list, item);
      }
      const result = new AbortSignal(CREATE);
      for (let i = 0; i < list.length; i++) {
        const source = /** @type {AbortSignal} */ (list[i]);
        if (source.#aborted) {
          result.#signalAbort(source.#reason);
          return result;
        }
      }
      for (let i = 0; i < list.length; i++) {
        const source = /** @type {AbortSignal} */ (list[i]);
        p.push(source.#algorithms, () => result.#signalAbort(source.#reason));
      }
      return result;
    }
    /** @param {unknown} reason */
    #signalAbort(reason) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
      const algorithms = this.#algorithms;
      this.#algorithms = [];
      for (let i = 0; i < algorithms.length; i++) {
        try {
          /** @type {() => void} */ (algorithms[i])();
        } catch (thrown) {
          kit.uncaught(thrown);
        }
      }
      p.apply(dispatchEvent, this, [new Event('abort')]);
    }
    /** @type {(signal: unknown) => boolean} */
    static is(signal) {
      return signal !== null && typeof signal === 'object' && #aborted in signal;
    }
    /** @type {(signal: AbortSignal) => { aborted: boolean, reason: unknown }} */
    static state(signal) {
      return /** @type {any} */ ({ __proto__: null, aborted: signal.#aborted, reason: signal.#reason });
    }
    /** @type {(signal: AbortSignal, algorithm: () => void) => () => void} */
    static subscribe(signal, algorithm) {
      if (signal.#aborted) return () => {};
      p.push(signal.#algorithms, algorithm);
      return () => {
        /** @type {(() => void)[]} */
        const keep = [];
        for (let i = 0; i < signal.#algorithms.length; i++) {
          if (signal.#algorithms[i] !== algorithm) p.push(keep, signal.#algorithms[i]);
        }
        signal.#algorithms = keep;
      };
    }
    /** @type {(signal: AbortSignal, reason: unknown) => void} */
    static signal(signal, reason) {
      signal.#signalAbort(reason);
    }
    /** @type {(signal: AbortSignal) => unknown} */
    static handler(signal) {
      return signal.#onabort;
    }
  }
  const isSignal = AbortSignal.is;
  const stateOf = AbortSignal.state;
  const subscribe = AbortSignal.subscribe;
  const signalAbort = AbortSignal.signal;
  const abortHandler = AbortSignal.handler;
  const signalState = (/** @type {unknown} */ signal) =>
    isSignal(signal) ? stateOf(/** @type {AbortSignal} */ (signal)) : undefined;
  const onAbort = (/** @type {unknown} */ signal, /** @type {() => void} */ algorithm) =>
    subscribe(/** @type {AbortSignal} */ (signal), algorithm);
  const SIGNAL_STATICS = ['is', 'state', 'subscribe', 'signal', 'handler'];
  for (let i = 0; i < SIGNAL_STATICS.length; i++) {
    delete (/** @type {any} */ (AbortSignal)[/** @type {string} */ (SIGNAL_STATICS[i])]);
  }
  kit.methods(AbortSignal.prototype, { [p.SymbolToStringTag]: 'AbortSignal' });

  class AbortController {
    #signal = new AbortSignal(CREATE);
    get signal() {
      return this.#signal;
    }
    /** @param {unknown} reason */
    abort(reason = undefined) {
      signalAbort(this.#signal, reason);
    }
  }
  kit.methods(AbortController.prototype, { [p.SymbolToStringTag]: 'AbortController' });

  return {
    Event,
    EventTarget,
    DOMException,
    AbortController,
    AbortSignal,
    isSignal,
    signalState,
    onAbort,
    abortHandler,
  };
});

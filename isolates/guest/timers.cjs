// @ts-check
/**
 * setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask and performance.now, inside the guest.
 *
 * The timer queue lives here, in the agent's own heap (a binary heap ordered by deadline, then by creation),
 * and the kernel keeps exactly one host timer per agent: whenever the earliest deadline moves earlier than the
 * wake already asked for, the queue asks the kernel (the internal `wake` syscall, answered late) to wake it
 * then; a newer wake supersedes the older one. So a flood of timers costs the host one timer and one
 * syscall per batch, and every timer dies with the agent (the kernel cancels the wake when the agent ends:
 * timers still pending then never fire, and nothing keeps the host alive).
 *
 * Semantics follow the HTML timers: a delay is clamped to 0 .. 2^31-1 ms, nested timers (more than five
 * levels) wait at least 4 ms, callbacks run with the global as `this`, ids are positive integers shared by
 * both kinds. Timers that fall due together run in order within one wake; a microtask one of them queues
 * runs after that batch. At most MAX_TIMERS may be pending: one more is refused with an Error whose code
 * is E_QUOTA. A callback that throws ends the agent with its message (as an uncaught exception ends a
 * Node or Deno process); so does a wake the kernel refuses. Everything here uses only the intrinsics the
 * prelude captured, so agent code that poisons prototypes can at worst break its own timers.
 */
'use strict';

(function timers(/** @type {import('./kit').Kit} */ kit) {
  const { p } = kit;
  const MAX_TIMERS = 10_000;
  const MAX_DELAY = 2 ** 31 - 1;

  /**
   * @typedef {{ id: number, deadline: number, seq: number, callback: Function, args: unknown[],
   *   repeat: number, nesting: number, live: boolean, queued: boolean }} Timer
   */

  /** @type {Map<unknown, unknown>} */
  const live = new p.Map();
  /** @type {Timer[]} */
  const heap = [];
  let stale = 0;
  let nextId = 1;
  let nextSeq = 0;
  // The deadline the kernel has been asked to wake us at (Infinity: no wake pending).
  let armed = Number.POSITIVE_INFINITY;
  let generation = 0;
  let rearmQueued = false;
  // The nesting level of the timer callback running now (0 outside callbacks).
  let nesting = 0;
  const RESOLVED = p.resolved(undefined);

  /** @type {(a: Timer, b: Timer) => boolean} */
  const before = (a, b) => a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);

  /** @type {(i: number, j: number) => void} */
  const swap = (i, j) => {
    const t = /** @type {Timer} */ (heap[i]);
    heap[i] = /** @type {Timer} */ (heap[j]);
    heap[j] = t;
  };
  /** @type {(i: number) => void} */
  const siftUp = (i) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(/** @type {Timer} */ (heap[i]), /** @type {Timer} */ (heap[parent]))) return;
      swap(i, parent);
      i = parent;
    }
  };
  /** @type {(i: number) => void} */
  const siftDown = (i) => {
    const n = heap.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < n && before(/** @type {Timer} */ (heap[left]), /** @type {Timer} */ (heap[least]))) least = left;
      if (right < n && before(/** @type {Timer} */ (heap[right]), /** @type {Timer} */ (heap[least]))) least = right;
      if (least === i) return;
      swap(i, least);
      i = least;
    }
  };
  /** @type {(timer: Timer) => void} */
  const push = (timer) => {
    timer.queued = true;
    p.push(heap, timer);
    siftUp(heap.length - 1);
  };
  /** @type {() => Timer} */
  const popTop = () => {
    const top = /** @type {Timer} */ (heap[0]);
    const last = /** @type {Timer} */ (p.pop(heap));
    if (heap.length > 0) {
      heap[0] = last;
      siftDown(0);
    }
    top.queued = false;
    return top;
  };
  // The earliest live timer, dropping cleared ones from the top.
  /** @type {() => Timer | undefined} */
  const earliest = () => {
    while (heap.length > 0) {
      const top = /** @type {Timer} */ (heap[0]);
      if (top.live) return top;
      popTop();
      stale--;
    }
    return undefined;
  };
  // Cleared timers stay in the heap until they surface; rebuild it when they outnumber the live ones, so
  // setTimeout/clearTimeout in a loop cannot grow it without bound.
  const compact = () => {
    if (stale < 64 || stale * 2 < heap.length) return;
    /** @type {Timer[]} */
    const keep = [];
    for (let i = 0; i < heap.length; i++) {
      const timer = /** @type {Timer} */ (heap[i]);
      if (timer.live) p.push(keep, timer);
      else timer.queued = false;
    }
    heap.length = 0;
    for (let i = 0; i < keep.length; i++) p.push(heap, keep[i]);
    for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
    stale = 0;
  };

  // One re-arm per task at most: a loop creating a million timers asks the kernel once.
  const schedule = () => {
    if (rearmQueued) return;
    rearmQueued = true;
    p.promiseThen(RESOLVED, rearm);
  };
  const rearm = () => {
    rearmQueued = false;
    const next = earliest();
    // A wake at or before the earliest deadline is already pending; when it comes, the queue re-arms.
    if (next === undefined || next.deadline >= armed) return;
    armed = next.deadline;
    const mine = ++generation;
    p.promiseThen(
      kit.call('wake', [p.max(0, next.deadline - p.now())]),
      (/** @type {unknown} */ fired) => {
        if (mine !== generation || fired !== true) return;
        armed = Number.POSITIVE_INFINITY;
        runDue();
      },
      (/** @type {unknown} */ error) => {
        if (mine !== generation) return;
        armed = Number.POSITIVE_INFINITY;
        kit.uncaught(error);
      },
    );
  };

  const runDue = () => {
    const now = p.now();
    /** @type {Timer[]} */
    const due = [];
    for (let next = earliest(); next !== undefined && next.deadline <= now; next = earliest()) {
      p.push(due, popTop());
    }
    for (let i = 0; i < due.length; i++) {
      const timer = /** @type {Timer} */ (due[i]);
      // An earlier callback of this batch may have cleared it.
      if (!timer.live) continue;
      if (timer.repeat >= 0) {
        timer.nesting++;
        timer.deadline = p.now() + (timer.nesting > 5 && timer.repeat < 4 ? 4 : timer.repeat);
        timer.seq = nextSeq++;
        push(timer);
      } else {
        timer.live = false;
        p.mapDelete(live, timer.id);
      }
      nesting = timer.nesting;
      try {
        p.apply(timer.callback, p.global, timer.args);
      } catch (thrown) {
        kit.uncaught(thrown);
      } finally {
        nesting = 0;
      }
    }
    schedule();
  };

  /** @type {(callback: unknown, delay: unknown, args: unknown[], repeat: boolean) => number} */
  const add = (callback, delay, args, repeat) => {
    if (typeof callback !== 'function') throw new p.TypeError('The "callback" argument must be a function');
    // The delay is read first: its valueOf is agent code, which could add timers of its own between the count's
    // check and this one's insertion (red-team pass 134 held 25,000 past the bound of 10,000 that way).
    let ms = p.Number(delay);
    if (p.mapSize(live) >= MAX_TIMERS) {
      throw kit.kernelError('E_QUOTA', `too many pending timers (at most ${MAX_TIMERS})`);
    }
    if (!(ms > 0)) ms = 0;
    if (ms > MAX_DELAY) ms = MAX_DELAY;
    ms = p.trunc(ms);
    const level = nesting + 1;
    if (level > 5 && ms < 4) ms = 4;
    /** @type {Timer} */
    const timer = /** @type {any} */ ({
      __proto__: null,
      id: nextId++,
      deadline: p.now() + ms,
      seq: nextSeq++,
      callback,
      args,
      repeat: repeat ? ms : -1,
      nesting: level,
      live: true,
      queued: false,
    });
    p.mapSet(live, timer.id, timer);
    push(timer);
    schedule();
    return timer.id;
  };

  /** @type {(id: unknown) => void} */
  const clear = (id) => {
    if (typeof id !== 'number') return;
    const timer = /** @type {Timer | undefined} */ (p.mapGet(live, id));
    if (timer === undefined) return;
    timer.live = false;
    p.mapDelete(live, id);
    if (timer.queued) {
      stale++;
      compact();
    }
  };

  // Arrow functions have no prototype and cannot be constructed, like the web's timer functions.
  const setTimeout = (/** @type {unknown} */ callback, delay = 0, /** @type {unknown[]} */ ...args) =>
    add(callback, delay, args, false);
  const setInterval = (/** @type {unknown} */ callback, delay = 0, /** @type {unknown[]} */ ...args) =>
    add(callback, delay, args, true);
  const clearTimeout = (/** @type {unknown} */ id) => clear(id);
  const clearInterval = (/** @type {unknown} */ id) => clear(id);
  const queueMicrotask = (/** @type {unknown} */ callback) => {
    if (typeof callback !== 'function') throw new p.TypeError('The "callback" argument must be a function');
    p.promiseThen(RESOLVED, () => {
      try {
        p.apply(callback, undefined, []);
      } catch (thrown) {
        kit.uncaught(thrown);
      }
    });
  };

  // performance.now(): ms since the agent started, never decreasing, at the 1 ms resolution of Date.now
  // (coarse on purpose; timing channels are out of scope, but there is no reason to sharpen them).
  const performance = {};
  kit.methods(performance, {
    now: () => kit.elapsed(),
    get timeOrigin() {
      return kit.timeOrigin();
    },
    toJSON: () => ({ timeOrigin: kit.timeOrigin() }),
    [p.SymbolToStringTag]: 'Performance',
  });

  return { setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, performance };
});

import v8 from 'node:v8';
import type ivm from 'isolated-vm';

/**
 * How much of this process's memory outside the host heap the kernel can explain: what its own isolates grew by
 * between their heap readings, and what building and disposing isolates measurably moved.
 *
 * The watchdog charges a busy isolate with the process's memory growth outside any V8 heap (off-heap buffers V8
 * does not count). Resident memory is per process, so without this account that growth also held everything the
 * kernel did meanwhile: a burst of concurrent spawns, or of agents ending, ended innocent busy agents with a memory
 * E_QUOTA. The account is a running value; only its changes mean anything (the watchdog compares two readings).
 *
 * Building and disposing are credited with what resident memory measurably did while they ran, never with an
 * isolate's heap size: a new realm reuses pages earlier ones gave back, and a disposed isolate's pages mostly stay
 * with the allocator, so on Node 24 a realm's `total_physical_size` (2.75 MB) was up to 20 times the process growth
 * it caused. Crediting sizes over-explained builds (forgiving a busy agent's concurrent off-heap growth) and
 * over-debited disposals (charging busy agents with memory nobody allocated). Each event's credit is bounded by the
 * isolate's size, so an agent that grows during a build or a disposal is forgiven at most that much per event.
 * Growth the account cannot explain (an isolate's native overhead, the first realm's one-time process warm-up, real
 * off-heap allocations) is charged, so the estimate errs on the side of charging.
 */
const sizes = new Map<ivm.Isolate, number>();
let explained = 0;
/** The part of `explained` credited to builds. */
let built = 0;

/**
 * Heap of disposed isolates that has not gone back yet: isolated-vm frees it after `dispose` returns (a running
 * isolate's on its own thread, about 100 ms later on an idle machine, seconds under load). Falls of off-host memory
 * within `RELEASE_WINDOW_MS` of a disposal are debited from the account up to that heap, so they do not hide what
 * busy agents grow meanwhile. Unaccounted, the fall of one killed memory bomb's heap hid the next agent's growth
 * from the watchdog, and a Map bomb run right after a dictionary bomb reached V8's own limit (catastrophic OOM, the
 * host wedged; test/escape/memory-bombs.test.ts, in CI on Node 24); and a parent kept off-heap copies far past
 * its limit by killing children as they held heap (test/escape/kill-release-laundering.test.ts).
 */
interface Release {
  /**
   * The heap the account holds for the isolate (its last reading) and the off-heap memory the watchdog charged it
   * with: its fall forgives nobody.
   */
  recorded: number;
  /**
   * What the watchdog charged a busy isolate beyond its last reading. That growth was charged, as unexplained, to
   * every agent watched meanwhile, and may include their own growth; so as it falls it is handed to `forgive`,
   * which lowers the charge of those agents, as any fall did, and of nobody watched since.
   */
  unread: number;
  readonly forgive: (bytes: number) => void;
  readonly until: number;
}
const releases: Release[] = [];
const RELEASE_WINDOW_MS = 3000;
/** Off-host memory at the last reading the releases were settled against. */
let lastOutside: number | undefined;
/** All bytes ever debited as released heap: the watchdog counts back a busy agent's own shrink against these. */
let released = 0;

/**
 * Debits falls of off-host memory since the last reading to pending releases, newest first (a heap goes back soon
 * after its disposal; an older release still pending is mostly memory the allocator kept, and taking falls for it
 * first left a parent charged for its killed children's heaps: a benign parent ended E_QUOTA in CI), and within one
 * release its recorded heap before its unread growth, whose fall forgives someone.
 */
function settle(outside: number): void {
  const fall = lastOutside === undefined ? 0 : lastOutside - outside;
  lastOutside = outside;
  if (fall <= 0 || releases.length === 0) return;
  expire(performance.now());
  let left = fall;
  for (let i = releases.length - 1; i >= 0 && left > 0; i--) {
    const release = releases[i] as Release;
    const recorded = Math.min(left, release.recorded);
    const unread = Math.min(left - recorded, release.unread);
    release.recorded -= recorded;
    release.unread -= unread;
    left -= recorded + unread;
    explained -= recorded + unread;
    released += recorded + unread;
    if (unread > 0) release.forgive(unread);
  }
}

/** Drops releases past their window (they are pushed in time order). */
function expire(now: number): void {
  while (releases.length > 0 && (releases[0] as Release).until < now) releases.shift();
}

/** Off-host memory and the account at one moment: what the watchdog compares between two moments. */
export interface MemoryReading {
  readonly outside: number;
  readonly explained: number;
  /** Bytes debited as released heap so far (see `Release`). */
  readonly released: number;
}

export function readMemory(): MemoryReading {
  const outside = offHostMemory();
  settle(outside);
  return { outside, explained, released };
}

/**
 * Resident memory not explained by the host isolate's own heap: where other isolates' heaps and their off-heap
 * allocations show up. The host heap counts by its physical pages, not its committed size: a host GC that shrinks
 * the heap gives back fewer resident pages than it uncommits (10 MB of phantom growth under load otherwise).
 */
export function offHostMemory(): number {
  const heap = v8.getHeapStatistics();
  return process.memoryUsage.rss() - heap.total_physical_size - heap.external_memory;
}

/** The account's value in bytes (compare two readings). */
export function explainedMemory(): number {
  return explained;
}

/** Where a build started: taken before the isolate exists. */
export interface BuildMark {
  readonly outside: number;
  /** The account without builds' credits. */
  readonly measured: number;
}

export function markBuild(): BuildMark {
  const { outside } = readMemory();
  return { outside, measured: explained - built };
}

/**
 * Credits a built isolate with the unexplained growth seen since `mark`, at most its heap's physical size, and
 * records that size as its last reading.
 */
export function recordBuiltIsolate(isolate: ivm.Isolate, stats: ivm.HeapStatistics, mark: BuildMark): void {
  const bytes = stats.total_physical_size;
  const grown = readMemory().outside - mark.outside - (explained - built - mark.measured);
  const credit = Math.min(bytes, Math.max(0, grown));
  explained += credit;
  built += credit;
  sizes.set(isolate, bytes);
}

/**
 * Records `isolate`'s size from a heap reading taken while it was idle: its heap's physical size only, credited by
 * how much it changed since the last reading. External memory is not counted: an ArrayBuffer's backing store is
 * reported in full when it is allocated, but its pages become resident only when written, so an agent holding an
 * untouched 32 MB buffer would have credited the account with memory the process never grew by, forgiving an
 * ICU-copy attacker its charged off-heap bytes.
 */
export function recordIsolateSize(isolate: ivm.Isolate, stats: ivm.HeapStatistics): void {
  const bytes = stats.total_physical_size;
  explained += bytes - (sizes.get(isolate) ?? 0);
  sizes.set(isolate, bytes);
}

/** A busy isolate's growth beyond its last reading, and whom its fall forgives (see `Release`). */
export interface Unread {
  readonly bytes: number;
  readonly forgive: (bytes: number) => void;
}

/**
 * Disposes `isolate` and debits the account with the resident memory that measurably went back during the call,
 * at most its recorded heap and `offHeap`; the rest is expected back as a release (see `Release`), with `unread` if
 * the isolate was busy. `offHeap`: the memory outside its heap the watchdog charged it with (ICU copies, written
 * ArrayBuffers), which goes back with it: unexpected, its fall lowered the charge of every agent that ran meanwhile,
 * and a parent that killed children holding ICU copies kept 216 MB of its own under memory_mb 85 (red-team pass
 * 142). Memory left with the allocator, and a new isolate growing into those pages, still go unseen (SECURITY.md,
 * "Exact memory attribution": open).
 */
export function disposeIsolate(isolate: ivm.Isolate, unread?: Unread, offHeap = 0): void {
  const before = readMemory().outside;
  try {
    isolate.dispose();
  } catch {
    // Already disposed.
  }
  const after = offHostMemory();
  // What fell during the call is this isolate's, debited here, not a pending release's.
  lastOutside = after;
  const size = (sizes.get(isolate) ?? 0) + offHeap;
  sizes.delete(isolate);
  const fell = Math.max(0, before - after);
  const fellRecorded = Math.min(size, fell);
  const fellUnread = Math.min(unread?.bytes ?? 0, fell - fellRecorded);
  explained -= fellRecorded + fellUnread;
  if (fellUnread > 0) unread?.forgive(fellUnread);
  const recorded = size - fellRecorded;
  const bytes = (unread?.bytes ?? 0) - fellUnread;
  const now = performance.now();
  expire(now);
  if (recorded > 0 || bytes > 0) {
    releases.push({
      recorded,
      unread: bytes,
      forgive: unread?.forgive ?? (() => {}),
      until: now + RELEASE_WINDOW_MS,
    });
  }
}

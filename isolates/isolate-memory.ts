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
  return { outside: offHostMemory(), measured: explained - built };
}

/**
 * Credits a built isolate with the unexplained growth seen since `mark`, at most its heap's physical size, and
 * records that size as its last reading.
 */
export function recordBuiltIsolate(isolate: ivm.Isolate, stats: ivm.HeapStatistics, mark: BuildMark): void {
  const bytes = stats.total_physical_size;
  const grown = offHostMemory() - mark.outside - (explained - built - mark.measured);
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

/**
 * Disposes `isolate` and debits the account with the resident memory that measurably went back during the call,
 * at most its last recorded size. A running isolate's heap is freed later, on its own thread: that fall then shows
 * as memory given back and lowers the charge of every agent watched meanwhile (SECURITY.md, "Exact memory
 * attribution": open).
 */
export function disposeIsolate(isolate: ivm.Isolate): void {
  const before = offHostMemory();
  try {
    isolate.dispose();
  } catch {
    // Already disposed.
  }
  const size = sizes.get(isolate) ?? 0;
  sizes.delete(isolate);
  explained += Math.max(-size, Math.min(0, offHostMemory() - before));
}

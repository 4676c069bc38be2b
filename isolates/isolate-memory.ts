import type ivm from 'isolated-vm';

/**
 * What this process's isolates occupy by their last heap readings (physical heap bytes), summed.
 *
 * The watchdog charges a busy isolate with the process's memory growth outside any V8 heap (off-heap buffers V8
 * does not count). Resident memory is per process, so without this ledger that growth also held every other
 * isolate built or grown meanwhile: a burst of concurrent spawns ended innocent agents with a memory E_QUOTA.
 * Growth the ledger explains is not charged; what it cannot explain (an isolate's native overhead, ~0.25 MB, and
 * real off-heap allocations) still is, so the estimate errs on the side of charging.
 */
const sizes = new Map<ivm.Isolate, number>();
let total = 0;

/**
 * Records `isolate`'s size from a heap reading taken while it was idle: its heap's physical size only. External
 * memory is not counted: an ArrayBuffer's backing store is reported in full when it is allocated, but its pages
 * become resident only when written, so an agent holding an untouched 32 MB buffer would have credited the
 * ledger with memory the process never grew by, forgiving an ICU-copy attacker its charged off-heap bytes.
 */
export function recordIsolateSize(isolate: ivm.Isolate, stats: ivm.HeapStatistics): void {
  const bytes = stats.total_physical_size;
  total += bytes - (sizes.get(isolate) ?? 0);
  sizes.set(isolate, bytes);
}

/** Drops a disposed isolate from the ledger (its memory went back to the process). */
export function forgetIsolate(isolate: ivm.Isolate): void {
  total -= sizes.get(isolate) ?? 0;
  sizes.delete(isolate);
}

/** The ledger's total in bytes. */
export function knownIsolateBytes(): number {
  return total;
}

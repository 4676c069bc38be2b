import type ivm from 'isolated-vm';
import { type MemoryReading, readMemory, recordIsolateSize, type Unread } from './isolate-memory.js';

/** How often the watchdog samples every live isolate. */
export const DEFAULT_TICK_MS = 10;

export type LimitName = 'cpu' | 'wall' | 'memory';

/** What the watchdog needs from a running sandbox. */
export interface Watched {
  readonly isolate: ivm.Isolate;
  readonly cpuLimitMs: number;
  readonly wallDeadline: number;
  readonly memoryLimitBytes: number;
  /**
   * Called at most once per crossing; the sandbox ends itself. `shared`: the memory figure that crossed counts
   * growth of the process that no reading of this isolate explains, which other agents may have caused.
   */
  exceeded(limit: LimitName, shared?: boolean): void;
  /** The isolate was disposed by isolated-vm itself (its own memory limit). */
  lost(): void;
  /** The isolate's CPU time so far, reported every tick (the kernel charges it to every ancestor). */
  sampled(cpuMs: number): void;
  /**
   * Bytes the kernel holds for the agent outside its isolate (handles, buffered results, pending calls): counted
   * with the heap against the one limit, read at every comparison. Must not throw.
   */
  heldBytes(): number;
}

interface HeapState {
  /** Last exact heap reading (used + external), from a moment the isolate was idle. */
  exact: number;
  /** Process memory outside the host's own heap when `exact` was read. */
  anchor: number;
  /** The kernel's account of that memory at that moment (isolate-memory.ts): compared, never used alone. */
  known: number;
  /**
   * Process memory growth outside any V8 heap (ICU's and other malloc'd buffers, which V8 does not count)
   * that appeared while this isolate ran: charged to it on top of its heap, and never forgotten when the
   * isolate goes idle (issue 12, item 6).
   */
  offHeap: number;
  /** The physical size of the heap at the last exact reading. */
  physical: number;
  /**
   * Falls of process memory seen while the isolate was busy since the last exact reading, which the busy estimate
   * stopped counting from (see `#tick`).
   */
  forgotten: number;
  /** Bytes debited as released heap (isolate-memory.ts `Release`) when `exact` was read. */
  released: number;
  /** What the busy estimate charged beyond `exact` and `offHeap` at the last tick: 0 once the isolate is read. */
  unread: number;
  /**
   * CPU time at the last tick, and just after the last exact reading (which itself takes a little of the isolate's
   * time): did the isolate run in between?
   */
  cpu: number;
  cpuAtRead: number;
  /** When the last exact reading arrived (performance.now()). */
  readAt: number;
  pendingSince: number | undefined;
  peak: number;
  /** The largest exact reading: the isolate's own heap, which no other agent's memory moves. */
  ownPeak: number;
}

/**
 * How often an isolate that has not run since its last reading is read all the same, at most one such isolate a
 * tick (the one read longest ago). Not for its heap: isolated-vm frees a disposed isolate's handles into the host's
 * heap (its host callbacks, which reach the ended agent's session), and those of host-side Callback and Reference
 * objects a host GC collected, with tasks it queues on the host isolate without waking it (RemoteHandle's
 * DisposalTask, `handle_tasks`). They run when an isolated-vm call completes on the host thread, or a sync one
 * returns there; until then the handles keep what they reach. While every agent idles, these readings are the only
 * such calls: never made, 300 ended children of an idling parent kept 18-21 sessions in the kernel on Node 24 and
 * 181-186 on Node 20 (test/escape/ended-agent-retention.test.ts), for as long as the parent idled; one a tick at
 * most, they went as before. Every idle isolate read every 50 ms kept the loop 61-78% busy with 600 idle children of
 * one agent, uncharged; one reading a tick, 20-26%, as much as none at all (busy CI machine, Node 20 and 24).
 */
export const IDLE_READ_MS = 50;

/** Growth per reading below this is noise (compilation, allocator slack), not an agent's off-heap memory. */
const OFF_HEAP_NOISE_BYTES = 64 * 1024;

/**
 * Samples CPU time, wall time and heap of every live isolate on one host timer.
 *
 * Memory is the heap plus what the isolate made the process allocate outside any V8 heap (see HeapState
 * `offHeap`), compared with the limit together with what the kernel holds for the agent (`heldBytes`): one
 * figure, not two each up to the limit. Heap is the hard part on isolated-vm 5: heap statistics are only answered while the isolate is idle,
 * and growing a Map or a dictionary object to the isolate's limit raises a catastrophic OOM that wedges
 * it (and keeps the host alive forever). So while an isolate is busy, its heap is estimated as its last
 * exact reading plus the growth of process memory outside the host heap since that reading, less what the
 * kernel's account explains (isolate-memory.ts). The estimate errs towards over-counting (it charges every busy
 * isolate with all unexplained growth; the account forgives at most one isolate's heap per build or disposal),
 * and the isolate's V8 limit is set well above the agent's limit, so a growing agent is ended long before V8
 * gives up.
 */
export class Watchdog {
  readonly #watched = new Map<Watched, HeapState>();
  readonly #tickMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(tickMs = DEFAULT_TICK_MS) {
    this.#tickMs = tickMs;
  }

  add(target: Watched): void {
    const reading = readMemory();
    this.#watched.set(target, {
      exact: 0,
      anchor: reading.outside,
      known: reading.explained,
      offHeap: 0,
      physical: 0,
      forgotten: 0,
      released: reading.released,
      unread: 0,
      cpu: 0,
      cpuAtRead: -1,
      readAt: 0,
      pendingSince: undefined,
      peak: 0,
      ownPeak: 0,
    });
    this.#timer ??= setInterval(() => this.#tick(), this.#tickMs);
  }

  /**
   * Stops watching `target`. Returns its peak heap estimate in bytes (`peak`), the largest exact reading of its heap
   * (`ownPeak`), the memory outside its heap it is charged with (`offHeap`: `disposeIsolate` expects it back, so its
   * fall forgives nobody), and, if its heap reading was outstanding (it was busy), what the estimate charged it beyond
   * its last reading: `disposeIsolate` expects that back too. That growth was charged as well to the isolates watched now, so
   * its fall lowers their charge (and nobody else's). `peak` counts growth other agents may have caused, so only an
   * end for memory, which takes their labels (memory-neighbours.ts), may report it: `ownPeak` tells nobody what
   * they did (red-team pass 139 read a PIN from clean agents' heap peaks).
   */
  remove(target: Watched): { peak: number; ownPeak: number; offHeap: number; unread: Unread | undefined } {
    const state = this.#watched.get(target);
    this.#watched.delete(target);
    if (this.#watched.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    if (state === undefined) return { peak: 0, ownPeak: 0, offHeap: 0, unread: undefined };
    const busy = state.pendingSince !== undefined && performance.now() - state.pendingSince > this.#tickMs;
    const { peak, ownPeak, offHeap } = state;
    if (!busy || state.unread === 0) return { peak, ownPeak, offHeap, unread: undefined };
    const charged = [...this.#watched.values()];
    const forgive = (bytes: number) => {
      for (const other of charged) other.known -= bytes;
    };
    return { peak, ownPeak, offHeap, unread: { bytes: state.unread, forgive } };
  }

  close(): void {
    this.#watched.clear();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = performance.now();
    // One reading of process memory a tick re-anchors every isolate that has not run since its last exact reading.
    let reading: MemoryReading | undefined;
    // The idle isolate read longest ago, if IDLE_READ_MS have passed: read after the loop, the only idle reading.
    let due: [Watched, HeapState] | undefined;
    for (const [target, heap] of this.#watched) {
      const { isolate } = target;
      if (isolate.isDisposed) {
        target.lost();
        continue;
      }
      let cpuMs: number;
      try {
        cpuMs = Number(isolate.cpuTime) / 1e6;
      } catch {
        target.lost();
        continue;
      }
      target.sampled(cpuMs);
      heap.cpu = cpuMs;
      if (cpuMs > target.cpuLimitMs) {
        target.exceeded('cpu');
        continue;
      }
      if (now > target.wallDeadline) {
        target.exceeded('wall');
        continue;
      }
      if (heap.pendingSince === undefined && cpuMs === heap.cpuAtRead) {
        // No guest code ran since the last reading, so its heap is as read. It is read again only now and then, one
        // idle isolate a tick (a round trip to its thread, and /proc, for every isolate every tick: red-team pass 140
        // saw 99 idle children of one tenant keep the kernel's loop 55-67% busy, uncharged, and three tenants
        // saturate it; each every 50 ms, 600 children kept it 70% busy), and anchored anew meanwhile: what the
        // process grows by while it is idle is not its doing, and must not be charged when it runs again.
        reading ??= readMemory();
        heap.anchor = reading.outside;
        heap.known = reading.explained;
        heap.released = reading.released;
        heap.forgotten = 0;
        checkMemory(target, heap, heap.exact + heap.offHeap);
        if (now - heap.readAt >= IDLE_READ_MS && (due === undefined || heap.readAt < due[1].readAt)) {
          due = [target, heap];
        }
      } else if (heap.pendingSince === undefined) {
        this.#requestHeap(target, heap, now);
      } else if (now - heap.pendingSince > this.#tickMs) {
        // Read for each isolate, not once per tick: an agent ended earlier in this loop (or by a charge that
        // `sampled` made) was disposed and debited from the account meanwhile, and a reading from before that
        // disposal against the account after it showed the disposed heap as this isolate's growth (a red-team
        // pass ended an innocent 64 MB agent that way, timed by a child's wall limit).
        const { outside: offHeap, explained: known } = readMemory();
        const growth = offHeap - heap.anchor - (known - heap.known);
        // Memory given back (an isolate torn down, a GC) must not hide this one's later growth.
        if (growth < 0) {
          heap.forgotten -= growth;
          heap.anchor = offHeap;
          heap.known = known;
        }
        heap.unread = Math.max(0, growth);
        const estimate = heap.exact + heap.offHeap + heap.unread;
        if (estimate > heap.peak) heap.peak = estimate;
        checkMemory(target, heap, estimate);
      }
    }
    // Not if it ended in this loop (its own limit, or a charge another isolate's `sampled` made).
    if (due !== undefined && this.#watched.get(due[0]) === due[1] && !due[0].isolate.isDisposed) {
      this.#requestHeap(due[0], due[1], now);
    }
  }

  #requestHeap(target: Watched, heap: HeapState, now: number): void {
    heap.pendingSince = now;
    target.isolate.getHeapStatistics().then(
      (stats) => {
        if (!this.#watched.has(target)) return;
        heap.pendingSince = undefined;
        recordIsolateSize(target.isolate, stats);
        const { outside, explained: known, released } = readMemory();
        // Process growth since the last reading that the kernel's account (this isolate's heap included) does not
        // explain. It is charged only if the isolate ran in between (an idle isolate cannot have caused it); memory
        // given back lowers it.
        // A fall the busy estimate stopped counting from may have been this isolate's own heap shrinking in a GC,
        // which this reading has just debited from the account as well: that much is counted back, or each
        // regrowth after a shrink was charged again as off-heap memory and an agent rebuilding a 30 MB structure
        // under memory_mb 128 ended E_QUOTA (test/isolates/watchdog.test.ts). Only its own recorded
        // shrink: falls of memory other agents gave back forgive it nothing (a review ended this fix's first
        // version, which counted back any fall up to the isolate's heap, with 240 MB of ICU copies under 85 MB).
        // Falls debited as another isolate's released heap may have been this one's shrink too.
        const shrunk = Math.max(0, heap.physical - stats.total_physical_size);
        const fallen = heap.forgotten + (released - heap.released);
        const unexplained = outside - heap.anchor - (known - heap.known) - Math.min(fallen, shrunk);
        const ran = heap.cpu > heap.cpuAtRead;
        // Only a reading after the isolate ran moves its off-heap charge, up or down: a fall while it idled is
        // someone else's memory going back (review 141: read every 50 ms while idle, an agent that kept 216 MB of
        // ICU copies under memory_mb 85 was forgiven them as another agent's collections gave memory back).
        if (ran && unexplained < 0) heap.offHeap = Math.max(0, heap.offHeap + unexplained);
        else if (ran && unexplained > OFF_HEAP_NOISE_BYTES) heap.offHeap += unexplained;
        heap.exact = stats.used_heap_size + stats.externally_allocated_size;
        if (heap.exact > heap.ownPeak) heap.ownPeak = heap.exact;
        heap.physical = stats.total_physical_size;
        heap.forgotten = 0;
        heap.released = released;
        heap.unread = 0;
        heap.anchor = outside;
        heap.known = known;
        heap.readAt = performance.now();
        try {
          heap.cpuAtRead = Number(target.isolate.cpuTime) / 1e6;
        } catch {
          heap.cpuAtRead = -1;
        }
        const estimate = heap.exact + heap.offHeap;
        if (estimate > heap.peak) heap.peak = estimate;
        checkMemory(target, heap, estimate);
      },
      () => {
        heap.pendingSince = undefined;
      },
    );
  }
}

/**
 * Ends `target` for memory when its heap figure `estimate` and what the kernel holds for it cross its limit. Shared
 * when its own exact heap and held bytes alone would not have: the growth no reading of it explains, which others
 * may have caused, decided it.
 */
function checkMemory(target: Watched, heap: HeapState, estimate: number): void {
  const held = target.heldBytes();
  if (estimate + held <= target.memoryLimitBytes) return;
  target.exceeded('memory', heap.exact + held <= target.memoryLimitBytes);
}

/**
 * The V8 heap limit given to an isolate whose agent may use `memoryMb`. The headroom (3x + 64 MB) keeps
 * V8's own limit, and the catastrophic OOM near it, far above the point where the watchdog ends the agent.
 */
export function isolateHeapLimitMb(memoryMb: number): number {
  return Math.ceil(memoryMb * 3 + 64);
}

import { KernelError } from '../../runtime/core/errors.js';
import { MemoryBlobStore } from '../../runtime/store/blob-store.js';
import type {
  Injection,
  LabelStore,
  ToolCharge,
  ToolContext,
  UndoCapture,
  UndoContext,
  UntrackedWorkEntry,
} from '../../runtime/tool-use/tool-contract.js';

const NO_INJECTION: Injection = Object.freeze({ headers: Object.freeze({}), query: Object.freeze({}) });

/** A label store in memory, for tool tests without a kernel. */
export function memoryLabelStore(): LabelStore {
  const tags = new Map<string, readonly string[]>();
  const union = new Set<string>();
  const untracked = new Map<string, UntrackedWorkEntry>();
  return {
    keepUntracked: async (id, work) => {
      if (work === undefined) untracked.delete(id);
      else untracked.set(id, work);
    },
    listUntracked: async () => [...untracked],
    get: async (key) => tags.get(key) ?? [],
    set: async (key, value) => {
      if (value.length === 0) tags.delete(key);
      else tags.set(key, [...value].sort());
      for (const tag of value) union.add(tag);
    },
    // Synchronous between its start and its write, so atomic on one event loop.
    raise: async (key, value) => {
      const joined = [...new Set([...(tags.get(key) ?? []), ...value])].sort();
      if (joined.length > 0) tags.set(key, joined);
      for (const tag of value) union.add(tag);
      return joined;
    },
    all: async () => [...union].sort(),
  };
}

/** A ToolContext plus what the tool did with it, for unit tests of a tool outside the kernel. */
export interface TestToolContext extends ToolContext {
  readonly taints: string[];
  readonly charges: ToolCharge[];
  readonly undos: UndoCapture[];
  /** Resources passed to `reauthorize`, in order. */
  readonly reauthorized: string[];
  /** What the tool recorded with `note`, in order. */
  readonly notes: { action: string; resource: string }[];
  readonly abort: AbortController;
  /** Bytes the tool holds now (`hold` less what it gave back), and the most it held at once. */
  readonly holding: { now: number; peak: number };
}

/**
 * Builds a context for calling `tool.run` directly. `allow(resource)` decides `reauthorize` (default: allow
 * all); `inject(resource)` supplies vault secrets. The kernel suites test the real context end to end.
 */
export function testToolContext(
  options: {
    label?: readonly string[];
    sources?: readonly string[];
    allow?: (resource: string) => boolean;
    inject?: (resource: string) => Injection;
    labels?: LabelStore;
    blobs?: MemoryBlobStore;
    maxResultBytes?: number;
  } = {},
): TestToolContext {
  const abort = new AbortController();
  const taints: string[] = [];
  const charges: ToolCharge[] = [];
  const undos: UndoCapture[] = [];
  const reauthorized: string[] = [];
  const notes: { action: string; resource: string }[] = [];
  const holding = { now: 0, peak: 0 };
  const injectFor = options.inject ?? (() => NO_INJECTION);
  return {
    agent: 'test-agent',
    signal: abort.signal,
    label: options.label ?? [],
    sources: options.sources ?? [],
    inject: NO_INJECTION,
    maxResultBytes: options.maxResultBytes,
    metered: (call) => call(),
    tookEffect: () => undefined,
    reauthorize(resource) {
      reauthorized.push(resource);
      if (options.allow !== undefined && !options.allow(resource)) {
        throw new KernelError('E_CAP_DENIED', `no capability for ${resource}`);
      }
      return injectFor(resource);
    },
    taint: (tags) => {
      taints.push(...tags);
    },
    charge: (usage) => {
      charges.push(usage);
    },
    hold: (bytes) => {
      holding.now += bytes;
      holding.peak = Math.max(holding.peak, holding.now);
      let kept = true;
      return () => {
        if (kept) holding.now -= bytes;
        kept = false;
      };
    },
    saveUndo: async (capture) => {
      undos.push(capture);
      return `u${String(undos.length).padStart(32, '0')}`;
    },
    note: (action, resource) => {
      notes.push({ action, resource });
    },
    blobs: options.blobs ?? new MemoryBlobStore(),
    labels: options.labels ?? memoryLabelStore(),
    notes,
    taints,
    charges,
    undos,
    reauthorized,
    abort,
    holding,
  };
}

/** The context a tool's `undo` gets in a unit test. */
export function testUndoContext(ctx: TestToolContext, force = false): UndoContext {
  return { signal: ctx.signal, blobs: ctx.blobs, labels: ctx.labels, force, taint: (tags) => ctx.taint(tags) };
}

/** The KernelError a tool call was refused with; fails the test when the call succeeds or throws anything else. */
export async function refusal(promise: Promise<unknown>): Promise<KernelError> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof KernelError)) throw new Error(`expected a KernelError, got ${String(error)}`);
    return error;
  }
  throw new Error('expected a refusal');
}

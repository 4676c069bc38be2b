import { KernelError } from './errors.js';
import type { KvStore } from './kv-store.js';
import { EMPTY_LABEL, type Label, makeLabel } from './labels.js';

/**
 * Namespace memory (`sys.mem`): a key-value store per namespace in the kernel's embedded store, every value
 * kept with its label so that reading it back, from any agent and in any later run, raises the reader's
 * label as the writer's data did. An agent reaches its own namespace and the mounts its parent gave it.
 */
export type MountMode = 'ro' | 'rw';

/** A part of another namespace visible to an agent under a mount name. */
export interface Mount {
  readonly namespace: string;
  /** Only keys under this prefix are visible; the agent's keys are relative to it. */
  readonly prefix: string;
  readonly mode: MountMode;
}

/** What a parent asks for when it spawns: a prefix of its namespace (or of one of its mounts). */
export interface MountRequest {
  readonly name: string;
  readonly prefix?: string | undefined;
  readonly mode: MountMode;
  /** Re-mount one of the parent's own mounts (never wider than it); default the parent's namespace. */
  readonly from?: string | undefined;
}

export interface MemoryEntry {
  readonly value: unknown;
  readonly label: Label;
}

export const MAX_KEY_LENGTH = 256;
export const MAX_LIST = 1000;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters would corrupt store keys.
const BAD_KEY_CHAR = /[\u0000-\u001f\u007f]/;
const SEPARATOR = '\u0000';

/** Checks an agent-supplied key. Throws KernelError E_BAD_ARG. */
export function checkKey(key: string, what = 'key'): void {
  if (key.length > MAX_KEY_LENGTH || BAD_KEY_CHAR.test(key)) {
    throw new KernelError('E_BAD_ARG', `sys.mem: ${what} must be at most ${MAX_KEY_LENGTH} printable characters`);
  }
}

/** Memory for every namespace, over one KvStore. */
export class NamespaceMemory {
  readonly #kv: KvStore;

  constructor(kv: KvStore) {
    this.#kv = kv;
  }

  async get(namespace: string, key: string): Promise<MemoryEntry | undefined> {
    return toEntry(await this.#kv.get(storeKey(namespace, key)));
  }

  async put(namespace: string, key: string, entry: MemoryEntry): Promise<void> {
    await this.#kv.put(storeKey(namespace, key), { v: entry.value ?? null, l: [...entry.label] });
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    const existed = (await this.#kv.get(storeKey(namespace, key))) !== undefined;
    if (existed) await this.#kv.delete(storeKey(namespace, key));
    return existed;
  }

  /** Entries whose key starts with `prefix`, in key order, keys relative to the namespace. */
  async list(namespace: string, prefix: string, limit = MAX_LIST): Promise<[string, MemoryEntry][]> {
    const base = storeKey(namespace, '');
    const out: [string, MemoryEntry][] = [];
    for (const [key, stored] of await this.#kv.list(base + prefix, limit)) {
      const entry = toEntry(stored);
      if (entry !== undefined) out.push([key.slice(base.length), entry]);
    }
    return out;
  }
}

function storeKey(namespace: string, key: string): string {
  return `mem:${namespace}${SEPARATOR}${key}`;
}

// Stored entries come back from disk: anything malformed reads as absent rather than as an unlabelled value.
function toEntry(stored: unknown): MemoryEntry | undefined {
  if (stored === null || typeof stored !== 'object') return undefined;
  const record = stored as { v?: unknown; l?: unknown };
  if (!Array.isArray(record.l)) return undefined;
  try {
    return { value: record.v, label: record.l.length === 0 ? EMPTY_LABEL : makeLabel(record.l, 'label') };
  } catch {
    return undefined;
  }
}

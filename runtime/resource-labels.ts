import type { LabelStore } from '../tools/registry.js';
import type { KvStore } from './kv-store.js';
import { EMPTY_LABEL, makeLabel } from './labels.js';

/**
 * Labels the kernel keeps for resources outside it (a file keeps the label of the data written to it), in
 * the embedded store so they survive the process when a store directory is configured.
 */
export class KvLabelStore implements LabelStore {
  readonly #kv: KvStore;

  constructor(kv: KvStore) {
    this.#kv = kv;
  }

  async get(key: string): Promise<readonly string[]> {
    const stored = await this.#kv.get(`label:${key}`);
    if (!Array.isArray(stored) || stored.length === 0) return EMPTY_LABEL;
    try {
      return makeLabel(stored, 'stored label');
    } catch {
      // A corrupt entry must not read as clean: the strictest tag stands in for what was lost.
      return makeLabel(['secret'], 'label');
    }
  }

  async set(key: string, tags: readonly string[]): Promise<void> {
    if (tags.length === 0) await this.#kv.delete(`label:${key}`);
    else await this.#kv.put(`label:${key}`, makeLabel(tags, 'tags'));
  }
}

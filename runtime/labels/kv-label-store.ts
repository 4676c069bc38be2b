import type { KvStore } from '../store/kv-store.js';
import type { LabelStore } from '../tool-use/tool-contract.js';
import { EMPTY_LABEL, joinLabels, makeLabel } from './label.js';

// Outside the `label:` key space, so no resource key can collide with it.
const UNION_KEY = 'labels-union';

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
    if (tags.length === 0) {
      await this.#kv.delete(`label:${key}`);
      return;
    }
    const label = makeLabel(tags, 'tags');
    // The union is written first: a crash between the two writes over-taints, never under-taints.
    const union = joinLabels(await this.all(), label);
    await this.#kv.put(UNION_KEY, union);
    await this.#kv.put(`label:${key}`, label);
  }

  async all(): Promise<readonly string[]> {
    const stored = await this.#kv.get(UNION_KEY);
    if (!Array.isArray(stored) || stored.length === 0) return EMPTY_LABEL;
    try {
      return makeLabel(stored, 'stored label');
    } catch {
      return makeLabel(['secret'], 'label');
    }
  }
}

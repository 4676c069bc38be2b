/**
 * The labels the fs tools keep for paths, kept under each path's folded spelling as well (`foldPath`: case, Unicode
 * normalization, trailing dots and spaces). On a root that sits on a case-insensitive file system (a FUSE or network
 * mount of a macOS or Windows share, vfat, ext4 with casefold) `/ws/out/page.txt` and `/ws/OUT/PAGE.txt` are one
 * file, and a label kept for one spelling was not read under the other: red-team pass 150 read a `web` agent's file
 * clean that way. Reads join both keys and writes change both, so a label follows the file under any spelling; on a
 * case-sensitive file system two names that fold alike share the folded key's tags (over-tainting, never under).
 * Folded keys live apart from the exact ones (their own prefix), so no path's own key is ever the folded key of another.
 */
import { joinLabels, storedLabel } from '../runtime/labels/label.js';
import { foldPath } from '../runtime/labels/source-spellings.js';
import type { LabelStore } from '../runtime/tool-use/tool-contract.js';

const FOLDED = 'folded:';

/** `store` with every path key (a path, or a `prefix:` and a path) mirrored under its folded key. */
export function pathLabels(store: LabelStore): LabelStore {
  return {
    get: async (key) => {
      const folded = foldedKey(key);
      if (folded === undefined) return store.get(key);
      return joinLabels(storedLabel(await store.get(key)), storedLabel(await store.get(folded)));
    },
    set: async (key, tags) => {
      await store.set(key, tags);
      const folded = foldedKey(key);
      if (folded !== undefined) await store.set(folded, tags);
    },
    raise: async (key, tags) => {
      const own = await store.raise(key, tags);
      const folded = foldedKey(key);
      if (folded === undefined) return own;
      return joinLabels(storedLabel(own), storedLabel(await store.raise(folded, tags)));
    },
    all: () => store.all(),
    keepUntracked: (id, work) => store.keepUntracked(id, work),
    listUntracked: () => store.listUntracked(),
  };
}

/** The key a path key is mirrored under: `foldPath` of its path, after any `prefix:` it has; undefined for others. */
export function foldedKey(key: string): string | undefined {
  const at = key.indexOf('/');
  if (at === -1 || (at > 0 && key[at - 1] !== ':')) return undefined;
  return `${FOLDED}${key.slice(0, at)}${foldPath(key.slice(at))}`;
}

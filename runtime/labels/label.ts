/**
 * Information-flow labels (docs/architecture.md §5). A label is a set of tags (`web`, `email`, `secret`, `agent:<id>`, …);
 * join is set union, so labels form a join-semilattice with the empty label at the bottom. Labels are kept as
 * frozen, sorted, duplicate-free arrays: equal sets are equal arrays, which makes them cheap to compare, to
 * store with values and to write into audit records.
 *
 * The lattice has a top, `['*']`: every tag at once. A join that would pass MAX_LABEL_TAGS is the top instead, so
 * a label never outgrows what audit records and stores hold, and losing track of tags only ever over-taints
 * (every sink that refuses any tag refuses the top; no declassification removes it).
 */

export type Label = readonly string[];

export const EMPTY_LABEL: Label = Object.freeze([]);

/** The one tag of the top label. No tag can spell it (tags start with a letter), and it sorts before them all. */
export const TOP_TAG = '*';
export const TOP_LABEL: Label = Object.freeze([TOP_TAG]);

/** True when `label` is the top label (every tag). */
export function isTop(label: Label): boolean {
  return label[0] === TOP_TAG;
}

/**
 * The tag of credentials and of whatever one was seen in (the vault's, runtime/tool-use/vault.ts). The audit log
 * keeps no agent-chosen text of a call so labelled in clear: resources and argument digests are keyed digests.
 */
export const SECRET_TAG = 'secret';

/** True when `label` holds SECRET_TAG (the top holds every tag). */
export function holdsSecret(label: Label): boolean {
  return isTop(label) || label.includes(SECRET_TAG);
}

/** Tags are short, printable identifiers; `agent:<id>` names data that came from another agent. */
const TAG = /^[a-z][a-z0-9_.-]*(?::[A-Za-z0-9_.-]+)?$/;
export const MAX_TAG_LENGTH = 128;
/** A label with more tags than this is refused: no legitimate flow needs it and joins must stay cheap. */
export const MAX_LABEL_TAGS = 64;

/** True when `tag` is a well-formed tag. */
export function isTag(tag: unknown): tag is string {
  return typeof tag === 'string' && tag.length <= MAX_TAG_LENGTH && TAG.test(tag);
}

/**
 * Builds a label from host-supplied tags; `*` among them makes the top label. Throws TypeError naming `argName`
 * for a non-array or a malformed tag, RangeError for too many tags.
 */
export function makeLabel(tags: unknown, argName = 'label'): Label {
  const label = checkedLabel(tags, argName);
  if (label === undefined) throw new RangeError(`${argName} has more than ${MAX_LABEL_TAGS} tags`);
  return label;
}

/**
 * The join of tags a tool reports (a listing's entries, a store's union): as makeLabel, but past MAX_LABEL_TAGS it
 * is the top label, as a join is. Throws TypeError naming `argName` for a non-array or a malformed tag.
 */
export function joinTags(tags: unknown, argName = 'tags'): Label {
  return checkedLabel(tags, argName) ?? TOP_LABEL;
}

/**
 * A label read back from a store. What no longer parses as a label (a store written by an older kernel with a
 * label past MAX_LABEL_TAGS, a corrupt entry) is the top: read as anything less, it would launder the tags lost.
 */
export function storedLabel(stored: unknown): Label {
  try {
    return joinTags(stored, 'stored label');
  } catch {
    return TOP_LABEL;
  }
}

// The label of `tags`, or undefined when it has more than MAX_LABEL_TAGS.
function checkedLabel(tags: unknown, argName: string): Label | undefined {
  if (!Array.isArray(tags)) throw new TypeError(`${argName} must be an array of tags`);
  if (tags.length === 0) return EMPTY_LABEL;
  let top = false;
  for (const tag of tags) {
    if (tag === TOP_TAG) top = true;
    else if (!isTag(tag)) throw new TypeError(`${argName}: "${String(tag).slice(0, 40)}" is not a tag`);
  }
  if (top) return TOP_LABEL;
  const out = normalize(tags as string[]);
  return out.length > MAX_LABEL_TAGS ? undefined : out;
}

/**
 * The least upper bound of two labels: a merge of two sorted arrays. Returns one of its inputs when the other
 * adds nothing, so a context that does not rise keeps its identity.
 */
export function joinLabels(a: Label, b: Label): Label {
  if (b.length === 0 || a === b) return a;
  // Labels are built past the tag bound only by mistake, and one handed back as is would reach a record that
  // cannot hold it (red-team pass 83): past the bound, a join is the top whatever its inputs.
  if (a.length === 0) return b.length > MAX_LABEL_TAGS ? TOP_LABEL : b;
  // The usual join on the hot path adds nothing (a context that already holds a result's tags): answer it
  // without allocating. Both are sorted, so one merge-walk decides b ⊑ a.
  if (b.length <= a.length && sortedSubset(b, a)) return a;
  // The top absorbs (after the subset test, which answers the top joined with itself or with nothing new).
  if (a[0] === TOP_TAG) return a;
  if (b[0] === TOP_TAG) return b;
  // The same two labels meet again and again (a context and a tool's source tags): one result per pair, kept
  // while both live. Only frozen labels are keys: a label nobody can change cannot make the entry stale.
  const cached = joins.get(a)?.get(b);
  if (cached !== undefined) return cached;
  const out = merge(a, b);
  if (Object.isFrozen(a) && Object.isFrozen(b)) {
    let row = joins.get(a);
    if (row === undefined) {
      row = new WeakMap();
      joins.set(a, row);
    }
    row.set(b, out);
  }
  return out;
}

const joins = new WeakMap<Label, WeakMap<Label, Label>>();

// The union of two sorted labels neither of which holds the other.
function merge(a: Label, b: Label): Label {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as string;
    const y = b[j] as string;
    if (x === y) {
      out.push(x);
      i++;
      j++;
    } else if (x < y) {
      out.push(x);
      i++;
    } else {
      out.push(y);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++] as string);
  while (j < b.length) out.push(b[j++] as string);
  if (out.length === a.length) return a;
  if (out.length === b.length) return b;
  if (out.length > MAX_LABEL_TAGS) return TOP_LABEL;
  return Object.freeze(out);
}

// True when every tag of sorted `small` is in sorted `big`.
function sortedSubset(small: Label, big: Label): boolean {
  let j = 0;
  for (let i = 0; i < small.length; i++) {
    const tag = small[i] as string;
    while (j < big.length && (big[j] as string) < tag) j++;
    if (j === big.length || big[j] !== tag) return false;
    j++;
  }
  return true;
}

/** `label` without `tags`. Only declassification may call this; the top stays the top (its tags are not known). */
export function removeTags(label: Label, tags: Label): Label {
  if (tags.length === 0 || label[0] === TOP_TAG) return label;
  if (tags[0] === TOP_TAG) return EMPTY_LABEL;
  return Object.freeze(label.filter((tag) => !includesTag(tags, tag)));
}

/** The tags of `label` that are also in `denied`, in sorted order (the intersection; the top holds every tag). */
export function forbiddenTags(label: Label, denied: Label): Label {
  if (label.length === 0 || denied.length === 0) return EMPTY_LABEL;
  if (label[0] === TOP_TAG) return denied;
  if (denied[0] === TOP_TAG) return label;
  // The hot path is "nothing forbidden": answer it without allocating (indexed loops: no iterator objects).
  let any = false;
  for (let i = 0; i < label.length && !any; i++) any = includesTag(denied, label[i] as string);
  return any ? Object.freeze(label.filter((tag) => includesTag(denied, tag))) : EMPTY_LABEL;
}

/** True when every tag of `a` is in `b` (a ⊑ b). */
export function labelLeq(a: Label, b: Label): boolean {
  if (b[0] === TOP_TAG) return true;
  if (a[0] === TOP_TAG) return false;
  return a.every((tag) => includesTag(b, tag));
}

function includesTag(label: Label, tag: string): boolean {
  // Labels are small (a handful of tags); a linear scan beats building a Set on every check.
  for (let i = 0; i < label.length; i++) if (label[i] === tag) return true;
  return false;
}

function normalize(tags: readonly string[]): Label {
  return Object.freeze([...new Set(tags)].sort());
}

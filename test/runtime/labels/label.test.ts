import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_LABEL,
  forbiddenTags,
  isTag,
  isTop,
  joinLabels,
  type Label,
  labelLeq,
  MAX_LABEL_TAGS,
  makeLabel,
  removeTags,
  storedLabel,
  TOP_LABEL,
} from '../../../runtime/labels/label.js';

// A small alphabet so that generated labels overlap often, plus arbitrary well-formed tags.
const tag = fc.oneof(
  fc.constantFrom('web', 'email', 'secret', 'pii', 'agent:a1', 'agent:B2', 'x.y', 'z_9'),
  fc.stringMatching(/^[a-z][a-z0-9_.-]{0,8}(?::[A-Za-z0-9_.-]{1,6})?$/),
);
const label = fc.uniqueArray(tag, { maxLength: 12 }).map((tags) => makeLabel(tags));
const RUNS = { numRuns: 300 };

/** Sorted, unique, frozen: the only shape a Label may have. */
function expectCanonical(l: Label): void {
  expect(Object.isFrozen(l)).toBe(true);
  for (let i = 1; i < l.length; i++) expect(l[i - 1]! < l[i]!).toBe(true);
  for (const t of l) expect(isTag(t)).toBe(true);
}

describe('joinLabels is a join-semilattice with EMPTY_LABEL as bottom', () => {
  it('is associative, commutative and idempotent, and returns canonical labels', () => {
    fc.assert(
      fc.property(label, label, label, (a, b, c) => {
        expect(joinLabels(joinLabels(a, b), c)).toEqual(joinLabels(a, joinLabels(b, c)));
        expect(joinLabels(a, b)).toEqual(joinLabels(b, a));
        expect(joinLabels(a, a)).toEqual(a);
        expectCanonical(joinLabels(a, b));
      }),
      RUNS,
    );
  });

  it('has EMPTY_LABEL as identity and is exactly set union', () => {
    fc.assert(
      fc.property(label, label, (a, b) => {
        expect(joinLabels(EMPTY_LABEL, a)).toEqual(a);
        expect(joinLabels(a, EMPTY_LABEL)).toEqual(a);
        expect(new Set(joinLabels(a, b))).toEqual(new Set([...a, ...b]));
      }),
      RUNS,
    );
  });

  it('stays set union when pairs repeat (the join cache), for frozen and unfrozen labels alike', () => {
    const pool = fc.array(label, { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(pool, fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { maxLength: 40 }), (labels, picks) => {
        for (const [i, j, thaw] of picks) {
          const a = labels[i % labels.length]!;
          const b = labels[j % labels.length]!;
          // An unfrozen array with the same tags must get the same answer, and must not be cached against.
          const right = thaw ? [...b] : b;
          const joined = joinLabels(a, right);
          expect([...joined]).toEqual([...new Set([...a, ...b])].sort());
          expect(Object.isFrozen(joined) || joined === right).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

describe('labelLeq is the partial order of the lattice', () => {
  it('returns the very same label when the other adds nothing (a context that does not rise keeps its identity)', () => {
    fc.assert(
      fc.property(label, fc.infiniteStream(fc.boolean()), (a, picks) => {
        const sub = makeLabel(a.filter(() => picks.next().value));
        expect(joinLabels(a, sub)).toBe(a);
        expect(joinLabels(sub, a)).toBe(sub.length === a.length ? sub : a);
      }),
    );
  });

  it('is reflexive, antisymmetric and transitive', () => {
    fc.assert(
      fc.property(label, label, label, (a, b, c) => {
        expect(labelLeq(a, a)).toBe(true);
        if (labelLeq(a, b) && labelLeq(b, a)) expect(a).toEqual(b);
        if (labelLeq(a, b) && labelLeq(b, c)) expect(labelLeq(a, c)).toBe(true);
        expect(labelLeq(EMPTY_LABEL, a)).toBe(true);
      }),
      RUNS,
    );
  });

  it('agrees with join: a ⊑ b iff a ⊔ b = b, and a join is the least upper bound', () => {
    fc.assert(
      fc.property(label, label, label, (a, b, c) => {
        expect(labelLeq(a, b)).toBe(JSON.stringify(joinLabels(a, b)) === JSON.stringify(b));
        const j = joinLabels(a, b);
        expect(labelLeq(a, j)).toBe(true);
        expect(labelLeq(b, j)).toBe(true);
        if (labelLeq(a, c) && labelLeq(b, c)) expect(labelLeq(j, c)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('removeTags and forbiddenTags', () => {
  it('removeTags never adds a tag, removes exactly the named ones and is canonical', () => {
    fc.assert(
      fc.property(label, label, (l, tags) => {
        const out = removeTags(l, tags);
        expect(labelLeq(out, l)).toBe(true);
        for (const t of tags) expect(out).not.toContain(t);
        expect(joinLabels(out, forbiddenTags(l, tags))).toEqual(l);
        expectCanonical(out);
      }),
      RUNS,
    );
  });

  it('forbiddenTags is the intersection, a subset of both inputs', () => {
    fc.assert(
      fc.property(label, label, (l, denied) => {
        const out = forbiddenTags(l, denied);
        expect(labelLeq(out, l)).toBe(true);
        expect(labelLeq(out, denied)).toBe(true);
        expect(out).toEqual(l.filter((t) => denied.includes(t)));
        expect(forbiddenTags(l, denied)).toEqual(forbiddenTags(denied, l));
        expectCanonical(out);
      }),
      RUNS,
    );
  });

  it('a check on a higher label finds at least the tags a lower one does (monotone)', () => {
    fc.assert(
      fc.property(label, label, label, (a, extra, denied) => {
        expect(labelLeq(forbiddenTags(a, denied), forbiddenTags(joinLabels(a, extra), denied))).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('makeLabel', () => {
  it('is insensitive to order and duplicates and idempotent', () => {
    fc.assert(
      fc.property(fc.array(tag, { maxLength: 20 }), (tags) => {
        fc.pre(new Set(tags).size <= MAX_LABEL_TAGS);
        const l = makeLabel(tags);
        expectCanonical(l);
        expect(makeLabel([...tags].reverse().concat(tags))).toEqual(l);
        expect(makeLabel(l)).toEqual(l);
      }),
      RUNS,
    );
  });

  it('refuses malformed tags and too many of them', () => {
    for (const bad of ['', 'Web', '1x', 'a b', 'a:', 'a:b:c', 'x'.repeat(200), 7, null, {}]) {
      expect(() => makeLabel([bad])).toThrow(TypeError);
    }
    expect(() => makeLabel('web')).toThrow(TypeError);
    const many = Array.from({ length: MAX_LABEL_TAGS + 1 }, (_, i) => `t${i}`);
    expect(() => makeLabel(many)).toThrow(RangeError);
  });
});

// Labels of up to 48 tags from a vocabulary of 1,000, so that joins pass MAX_LABEL_TAGS often; and the top itself.
const wide = fc.uniqueArray(fc.stringMatching(/^t[0-9]{1,3}$/), { maxLength: 48 }).map((tags) => makeLabel(tags));
const anyLabel = fc.oneof(label, wide, fc.constant(TOP_LABEL));

describe('the top label: a join past MAX_LABEL_TAGS tags is every tag', () => {
  it('joins stay a semilattice with the top, never pass MAX_LABEL_TAGS, and are the union whenever it fits', () => {
    fc.assert(
      fc.property(anyLabel, anyLabel, anyLabel, (a, b, c) => {
        const ab = joinLabels(a, b);
        expect(joinLabels(ab, c)).toEqual(joinLabels(a, joinLabels(b, c)));
        expect(ab).toEqual(joinLabels(b, a));
        expect(ab.length).toBeLessThanOrEqual(MAX_LABEL_TAGS);
        expect(labelLeq(a, ab) && labelLeq(b, ab)).toBe(true);
        const union = new Set([...a, ...b]);
        if (isTop(a) || isTop(b) || union.size > MAX_LABEL_TAGS) expect(ab).toBe(TOP_LABEL);
        else expect(new Set(ab)).toEqual(union);
      }),
      RUNS,
    );
  });

  it('is above every label and below none but itself', () => {
    fc.assert(
      fc.property(anyLabel, (a) => {
        expect(labelLeq(a, TOP_LABEL)).toBe(true);
        expect(labelLeq(TOP_LABEL, a)).toBe(isTop(a));
        expect(joinLabels(a, TOP_LABEL)).toBe(TOP_LABEL);
        expect(joinLabels(TOP_LABEL, a)).toBe(TOP_LABEL);
      }),
      RUNS,
    );
  });

  it('holds every tag a sink denies, and declassification does not lower it', () => {
    fc.assert(
      fc.property(anyLabel, anyLabel, label, (a, extra, denied) => {
        // Monotone: what a label rises to is refused wherever the label was.
        expect(labelLeq(forbiddenTags(a, denied), forbiddenTags(joinLabels(a, extra), denied))).toBe(true);
        expect(forbiddenTags(TOP_LABEL, denied)).toEqual(denied);
        expect(removeTags(TOP_LABEL, denied)).toBe(TOP_LABEL);
      }),
      RUNS,
    );
    // A deny list of every tag refuses any labelled value, and nothing clean.
    expect(forbiddenTags(makeLabel(['web', 'pii']), TOP_LABEL)).toEqual(['pii', 'web']);
    expect(forbiddenTags(EMPTY_LABEL, TOP_LABEL)).toEqual([]);
  });

  it('is what `*` among tags makes, and what a stored label that does not parse reads back as', () => {
    expect(makeLabel(['web', '*'])).toBe(TOP_LABEL);
    expect(storedLabel([])).toBe(EMPTY_LABEL);
    expect(storedLabel(['web', 'email'])).toEqual(['email', 'web']);
    expect(storedLabel(['*'])).toBe(TOP_LABEL);
    // Past the limit (a store written before the top existed), malformed, or not a list at all.
    const many = Array.from({ length: MAX_LABEL_TAGS + 1 }, (_, i) => `t${i}`);
    for (const bad of [many, ['Web'], ['web', 7], 'web', 7, null, {}]) expect(storedLabel(bad)).toBe(TOP_LABEL);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonShapeFits } from '../../tools/json-shape.js';

/** Nesting depth of arrays and objects in a JSON value, and the count of `[`, `{` and `,` in its text. */
function shape(value: unknown): { depth: number; nodes: number } {
  if (value === null || typeof value !== 'object') return { depth: 0, nodes: 0 };
  const children = Array.isArray(value) ? value : Object.values(value);
  let depth = 0;
  let nodes = 1 + Math.max(0, children.length - 1);
  for (const child of children) {
    const inner = shape(child);
    depth = Math.max(depth, inner.depth);
    nodes += inner.nodes;
  }
  return { depth: depth + 1, nodes };
}

describe('jsonShapeFits', () => {
  it('measures depth and nodes exactly, whatever brackets, commas and escapes the strings hold', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(8), fc.nat(64), (value, maxDepth, maxNodes) => {
        const text = JSON.stringify(value);
        const { depth, nodes } = shape(value);
        expect(jsonShapeFits(text, { maxDepth, maxNodes })).toBe(depth <= maxDepth && nodes <= maxNodes);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses the shapes that are costly to parse, early', () => {
    const limits = { maxDepth: 64, maxNodes: 200_000 };
    expect(jsonShapeFits(`${'['.repeat(65)}${']'.repeat(65)}`, limits)).toBe(false);
    expect(jsonShapeFits(`${'['.repeat(64)}${']'.repeat(64)}`, limits)).toBe(true);
    expect(jsonShapeFits(`[${'[],'.repeat(200_000)}[]]`, limits)).toBe(false);
    expect(jsonShapeFits(JSON.stringify({ text: '[[[[,,,,'.repeat(100_000) }), limits)).toBe(true);
  });
});

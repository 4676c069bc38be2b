import { parseExpressionAt } from 'acorn';

/**
 * Whether `text` is one JavaScript expression (and nothing after it), by acorn: the host's side of
 * `buildCodeModule`'s expression check (the agent loop uses V8's parser inside its isolate). Parses only,
 * never runs anything. Never throws.
 */
export function parsesAsExpression(text: string): boolean {
  try {
    const node = parseExpressionAt(text, 0, { ecmaVersion: 'latest', preserveParens: true });
    return text.slice(node.end).trim() === '';
  } catch {
    return false;
  }
}

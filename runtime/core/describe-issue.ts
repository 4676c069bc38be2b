import type { z } from 'zod';

/** A zod issue path as code would spell it: `.key` for properties, `[i]` for indexes. */
export function issuePath(path: readonly PropertyKey[]): string {
  return path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('');
}

/**
 * One line describing the first schema violation: the path into the agent's own arguments and zod's
 * message. zod messages describe types and bounds, never host state, so this is safe to show the agent.
 */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid value';
  const path = issuePath(issue.path);
  return `${path === '' ? 'value' : path.slice(path.startsWith('.') ? 1 : 0)}: ${issue.message}`.slice(0, 200);
}

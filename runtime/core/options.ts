import type { z } from 'zod';
import { issuePath } from './describe-issue.js';

/**
 * Host-supplied options (kernel options, spawn requests, restore options, tool factory options) are
 * validated with zod schemas, so the schema is the one statement of what is accepted, and reported as the
 * errors host misuse throws: RangeError for a number outside its bounds (or a check marked
 * `params: { range: true }`), TypeError for everything else. The message names the argument and the path
 * to the offending value: `options.limits.cpu_ms: must be between 1 and 86400000`.
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, name: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw optionError(parsed.error, name);
}

/** The TypeError or RangeError for the first issue of a failed parse of the argument called `name`. */
export function optionError(error: z.ZodError, name: string): TypeError | RangeError {
  const issue = error.issues[0];
  if (issue === undefined) return new TypeError(`${name} is invalid`);
  const where = `${name}${issuePath(issue.path)}`;
  if (issue.code === 'unrecognized_keys') {
    return new TypeError(`${where}.${issue.keys[0] ?? ''}: not a known option (check the spelling)`);
  }
  const message = `${where}: ${issue.message}`;
  const outOfBounds =
    ((issue.code === 'too_big' || issue.code === 'too_small') && issue.origin === 'number') ||
    (issue.code === 'custom' && (issue.params as { range?: unknown } | undefined)?.range === true);
  return outOfBounds ? new RangeError(message) : new TypeError(message);
}

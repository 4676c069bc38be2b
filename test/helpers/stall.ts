import { z } from 'zod';
import { defineTool } from '../../index.js';
import { normalizePath } from '../../runtime/core/resource-match.js';

/**
 * Runs `work` while a 5 ms interval in this process measures the longest gap between its ticks: how long the
 * event loop stood still (the kernel's, in a test that runs a kernel in process).
 */
export async function longestGap<T>(work: () => Promise<T>): Promise<{ value: T; gapMs: number }> {
  let gapMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gapMs = Math.max(gapMs, now - last);
    last = now;
  }, 5);
  try {
    const value = await work();
    gapMs = Math.max(gapMs, performance.now() - last);
    return { value, gapMs };
  } finally {
    clearInterval(timer);
  }
}

/** A tool that authorizes `fs.read` of a normalized path and reads nothing: for tests of capability checks. */
export const pathReadTool = defineTool({
  name: 'files.read',
  description: 'pretends to read a file (authorizes the normalized path)',
  action: 'fs.read',
  target: 'path',
  input: z.strictObject({ path: z.string().max(4096) }),
  resource: ({ path }) => normalizePath(path),
  run: () => 'content',
});

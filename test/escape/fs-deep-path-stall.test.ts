// Attack: hold the kernel's event loop with a deep path (a review of the synchronous fs walk). The fs tools
// walk a path one component at a time with synchronous system calls; between components they only await
// microtasks, so nothing else on the event loop (the watchdog, other agents' replies) ran until the walk
// ended. A path may have about 2000 components (4096 bytes), which an agent creates with one
// `fs.write { mkdirs: true }` and then reads or stats in a loop: 17-127 ms per call with the loop held, none of
// it charged. The walk now lets the loop run every 64 components. The measure here is not a time: it counts
// how often the loop got a turn while one walk ran.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeFd, locate, type OpenDir, openDir } from '../../tools/fs-path.js';
import { type FsSandbox, fsSandbox } from '../helpers/fs-sandbox.js';

let box: FsSandbox;
beforeEach(async () => {
  box = await fsSandbox();
});
afterEach(async () => {
  await box.cleanup();
});

/** Runs `work` while a setImmediate chain counts the event loop's turns; returns them. */
async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let running = true;
  const tick = (): void => {
    if (!running) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    await work();
  } finally {
    running = false;
  }
  return turns;
}

// As many one-character components as a path below the root may have.
function deepPath(root: string): string {
  const depth = Math.floor((4000 - root.length) / 2);
  return `${Array.from({ length: depth }, () => 'd').join('/')}/f.txt`;
}

describe('a path of ~2000 components', () => {
  it('an agent can build it with one write (the premise)', async () => {
    const path = deepPath(box.root);
    await box.call('fs.write', { path, content: 'deep', mkdirs: true });
    expect(await box.call('fs.read', { path })).toEqual({ content: 'deep' });
  });

  it('the walk lets the event loop run every 64 components', async () => {
    const path = deepPath(box.root);
    await box.call('fs.write', { path, content: 'deep', mkdirs: true });
    const target = locate('fs.read', [box.root], path);
    const depth = target.parts.length - 1;
    expect(depth).toBeGreaterThan(1900);
    const turns = await turnsDuring(async () => {
      const dir = await openDir('fs.read', target, depth);
      closeFd(dir.fd);
    });
    expect(turns).toBeGreaterThanOrEqual(Math.floor(depth / 64) - 1);
  });

  it('creating it lets the event loop run too', async () => {
    const path = deepPath(box.root);
    const target = locate('fs.write', [box.root], path);
    const depth = target.parts.length - 1;
    // Only the walk is counted: the loop turns freely while an asynchronous write is pending.
    let made: OpenDir | undefined;
    const turns = await turnsDuring(async () => {
      made = await openDir('fs.write', target, depth, true);
    });
    if (made === undefined) throw new Error('openDir made nothing');
    try {
      await writeFile(join(`/proc/self/fd/${made.fd}`, 'f.txt'), 'x');
    } finally {
      closeFd(made.fd);
    }
    expect(turns).toBeGreaterThanOrEqual(Math.floor(depth / 64) - 1);
  });
});

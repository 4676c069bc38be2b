// Attack (red-team pass 125): grow a file between fs.read's look at its size and its read. fs.read refuses a file
// larger than a reply may be from its size (fs-read-burst.test.ts) and holds twice that size against the caller's
// memory_mb; a program the host configured (here a Node child standing in for it) flips the same inode between
// the cap and 8 MiB with ftruncate, and 8% of reads went on to read up to 3.8 MB past a 1 MiB cap, holding 2 MiB,
// leaving the refusal to the dispatcher after the bytes were decoded and encoded. The read now stops at the cap,
// and bytes read past the size it held are held as well.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { KernelError } from '../../runtime/core/errors.js';
import { prepareToolUse, runToolUse } from '../../runtime/tool-use/tool-gate.js';
import { createFsTools } from '../../tools/fs.js';
import { testToolContext } from '../helpers/tool-context.js';

const CAP = 1024 * 1024;
const BIG = 8 * 1024 * 1024;

// Flips the file between `small` and `big` bytes: 1 ms small, 2 ms big, until killed.
const FLIPPER = `const fs = require('node:fs');
const [path, small, big] = process.argv.slice(1);
const fd = fs.openSync(path, 'r+');
const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
for (;;) { fs.ftruncateSync(fd, Number(small)); pause(1); fs.ftruncateSync(fd, Number(big)); pause(2); }`;

let base: string | undefined;
let flipper: ChildProcess | undefined;
afterEach(() => {
  flipper?.kill('SIGKILL');
  flipper = undefined;
  if (base !== undefined) rmSync(base, { recursive: true, force: true });
  base = undefined;
});

it('a file grown past the cap after its size was checked is never read past the cap nor held short', async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-fs-grow-')));
  const file = join(base, 'g');
  writeFileSync(file, '');
  const [read] = createFsTools({ roots: [base] }).filter((tool) => tool.name === 'fs.read');
  if (read === undefined) throw new Error('no fs.read');
  flipper = spawn(process.execPath, ['-e', FLIPPER, file, String(CAP), String(BIG)], { stdio: 'ignore' });
  const started = Date.now();
  while (statSync(file).size === 0) {
    if (Date.now() - started > 10_000) throw new Error('the flipper never started');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const outcomes = { read: 0, refused: 0, other: 0 };
  // Bytes returned past the cap, and bytes returned beyond half of what was held, by any read.
  let pastCap = 0;
  let heldShort = 0;
  // At least 400 reads, and on until the race has gone both ways: a loaded machine can stall the flipper on one size
  // for the 100 ms 400 reads take (Node 24 CI: 400 of 400 refused, twice in a row).
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 400 || ((outcomes.read === 0 || outcomes.refused === 0) && Date.now() < deadline); i++) {
    const ctx = testToolContext({ maxResultBytes: CAP });
    let result: { content?: string; content_base64?: string };
    try {
      result = (await runToolUse(prepareToolUse(read, { path: 'g' }), ctx)) as typeof result;
    } catch (error) {
      if (error instanceof KernelError && /larger than a result may be/.test(error.message)) outcomes.refused += 1;
      else outcomes.other += 1;
      continue;
    }
    outcomes.read += 1;
    const length = Buffer.from(result.content_base64 ?? '', 'base64').length + (result.content?.length ?? 0);
    pastCap = Math.max(pastCap, length - CAP);
    heldShort = Math.max(heldShort, length - ctx.holding.peak / 2);
  }
  const seen = JSON.stringify({ ...outcomes, pastCap, heldShort });
  expect(pastCap, seen).toBeLessThanOrEqual(0);
  expect(heldShort, seen).toBeLessThanOrEqual(0);
  // The race was run both ways: some reads found the file small, some large.
  expect(outcomes.read, seen).toBeGreaterThan(0);
  expect(outcomes.refused, seen).toBeGreaterThan(0);
}, 120_000);

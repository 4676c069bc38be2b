// Runs agents one after another in this (child) process, in one kernel, and reports each outcome on stdout
// as one JSON line as soon as it is known. Crash-class tests use it: if the host dies or hangs, the parent
// sees it (and which agent had no line) instead of the test runner dying.
//
// Each line also says how long the run took and which sandbox host processes (in the process tier) this
// process had before the run and 100 ms after it, as the OS reports them, and the peak resident memory
// of this (the kernel's) process so far; after close, a last line
// lists the children left.
//
// The process ends by draining its event loop, not with process.exit(): on isolated-vm 5.0.4, exiting
// within ~20 ms of disposing an isolate that was still running (a CPU, wall or memory kill) segfaults
// while the isolate's thread tears down. A hang after the last report is therefore observed as a timeout.
import type { IsolationMode } from './kernel.js';
import { testKernel } from './kernel.js';
import { sandboxHostPids } from './processes.js';

const codes = JSON.parse(process.env.ISOKERNEL_AGENT_CODES ?? '[]') as string[];
const limits = JSON.parse(process.env.ISOKERNEL_LIMITS ?? '{}');
const isolation = (process.env.ISOKERNEL_ISOLATION ?? 'inline') as IsolationMode;
const kernel = testKernel({ limits, isolation });
for (const code of codes) {
  const before = sandboxHostPids();
  const started = performance.now();
  const result = await kernel.run({ code });
  const ms = Math.round(performance.now() - started);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  process.stdout.write(`${JSON.stringify({ result, ms, before, after: sandboxHostPids(), maxRssMb })}\n`);
}
await kernel.close();
await new Promise((resolve) => setTimeout(resolve, 100));
process.stdout.write(`${JSON.stringify({ left: sandboxHostPids() })}\n`);
process.exitCode = 0;

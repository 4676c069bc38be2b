// Runs agents one after another in this (child) process, in one kernel, and reports each outcome on stdout
// as one JSON line as soon as it is known. Crash-class tests use it: if the host dies or hangs, the parent
// sees it (and which agent had no line) instead of the test runner dying.
//
// The process ends by draining its event loop, not with process.exit(): on isolated-vm 5.0.4, exiting
// within ~20 ms of disposing an isolate that was still running (a CPU, wall or memory kill) segfaults
// while the isolate's thread tears down. A hang after the last report is therefore observed as a timeout.
import { testKernel } from './kernel.js';

const codes = JSON.parse(process.env.ISOKERNEL_AGENT_CODES ?? '[]') as string[];
const limits = JSON.parse(process.env.ISOKERNEL_LIMITS ?? '{}');
const kernel = testKernel({ limits });
for (const code of codes) {
  const result = await kernel.run({ code });
  process.stdout.write(`${JSON.stringify({ result })}\n`);
}
await kernel.close();
process.exitCode = 0;

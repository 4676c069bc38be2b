// Runs one agent in this (child) process and reports the outcome on stdout as one JSON line. Used by
// crash-class tests: if the host process dies or hangs, the parent sees it instead of the test runner dying.
//
// The process ends by draining its event loop, not with process.exit(): on isolated-vm 5.0.4, exiting
// within ~20 ms of disposing an isolate that was still running (a CPU, wall or memory kill) segfaults
// while the isolate's thread tears down. A hang after the report is therefore observed as a timeout.
import { testKernel } from './kernel.js';

const code = process.env.ISOKERNEL_AGENT_CODE ?? '';
const limits = JSON.parse(process.env.ISOKERNEL_LIMITS ?? '{}');
const kernel = testKernel({ limits });
const result = await kernel.run({ code });
await kernel.close();
process.stdout.write(`${JSON.stringify({ result, rss: process.memoryUsage.rss() })}\n`);
process.exitCode = 0;

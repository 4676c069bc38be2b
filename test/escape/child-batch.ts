// Runs several agents one after another in this (child) process, in one kernel, and reports each outcome
// on stdout as one JSON line as soon as it is known. Used by crash-class suites to run many variants
// without paying a process start for each; a crash or hang is pinned to the first variant with no line.
// Like test/helpers/child-agent.ts, the process ends by draining its event loop (see there why).
import { testKernel } from '../helpers/kernel.js';

const codes = JSON.parse(process.env.ISOKERNEL_AGENT_CODES ?? '[]') as string[];
const limits = JSON.parse(process.env.ISOKERNEL_LIMITS ?? '{}');
const kernel = testKernel({ limits });
for (const code of codes) {
  const result = await kernel.run({ code });
  process.stdout.write(`${JSON.stringify({ result })}\n`);
}
await kernel.close();
process.exitCode = 0;

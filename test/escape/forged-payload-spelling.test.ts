// Attack (red-team pass 43): a compromised sandbox host writes a syscall's payload text itself, and JSON has many
// spellings of one value. V8's JSON.parse sizes an object's elements store by the index keys it reads, repeats
// included: `{"2302":0,"2302":0,…}` with the key written 86 times (780 bytes) parsed into 18 KB, held at the
// estimate of an object of one key (about 650 bytes). Eight pending tool calls of such objects were charged 6 MB and
// grew the kernel's heap by 172 MB for an agent of memory_mb 64. The kernel now takes from a sandbox host only the
// text the guest's encoder writes for the value it parses to (JSON.stringify's), so a value is held as parsed from
// that spelling; anything else is refused E_BAD_ARG and audited, before any tool runs.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { forgingHostKernel } from '../helpers/forging-host.js';
import { recordingTool } from '../helpers/kernel.js';

const { tool: record, calls, capability } = recordingTool('recorded');
let kernel: Kernel;
beforeAll(() => {
  ({ kernel } = forgingHostKernel({ tools: [record], policy: { capabilities: [capability] } }));
});
afterAll(async () => {
  await kernel.close();
});

it('a payload spelled otherwise than the guest encoder writes it is refused E_BAD_ARG, and no tool runs', async () => {
  const result = await kernel.run({ code: 'respelled payload' });
  expect(result.ok).toBe(true);
  const reply = result.ok ? String(result.value) : '';
  expect(reply.startsWith('e')).toBe(true);
  expect(JSON.parse(reply.slice(1))).toEqual(['E_BAD_ARG', 'sys.tool: payload is not in the guest encoding']);
  expect(calls).toEqual([]);
});

it('benign twin: the honest host, whose payloads are the encoder’s, is served', async () => {
  const before = calls.length;
  const result = await kernel.run({ code: 'honest' });
  expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
  expect(calls).toHaveLength(before + 1);
});

// Attack (red-team pass 43): a compromised sandbox host writes a syscall's payload text itself, and JSON has many
// spellings of one value. V8's JSON.parse sizes an object's elements store by the index keys it reads, repeats
// included: `{"2302":0,"2302":0,…}` with the key written 86 times (780 bytes) parsed into 18 KB, held at the
// estimate of an object of one key (about 650 bytes). Eight pending tool calls of such objects were charged 6 MB and
// grew the kernel's heap by 172 MB for an agent of memory_mb 64; a child's result of such objects, waiting for
// `join`, was held at 1/29 of its heap (red-team pass 44). From a sandbox host the kernel now refuses text that
// names a key twice in one object (the guest's encoder never does): a syscall gets E_BAD_ARG, audited, before any
// tool runs; a result ends its agent E_AGENT_FAILED. Key order is left alone: an honest Proxy may list an
// integer-like key after a named one, which JSON.parse moves first (a first version that compared the text
// with JSON.stringify's refused it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { forgingHostKernel } from '../helpers/forging-host.js';
import { ISOLATION_MODES, recordingTool, testKernel } from '../helpers/kernel.js';

const { tool: record, calls, capability } = recordingTool('recorded');
let kernel: Kernel;
beforeAll(() => {
  ({ kernel } = forgingHostKernel({ tools: [record], policy: { capabilities: [capability] } }));
});
afterAll(async () => {
  await kernel.close();
});

it('a payload that names a key twice is refused E_BAD_ARG, and no tool runs', async () => {
  const result = await kernel.run({ code: 'respelled payload' });
  expect(result.ok).toBe(true);
  const reply = result.ok ? String(result.value) : '';
  expect(reply.startsWith('e')).toBe(true);
  expect(JSON.parse(reply.slice(1))).toEqual(['E_BAD_ARG', 'sys.tool: payload names a key twice']);
  expect(calls).toEqual([]);
});

it('benign twin: the honest host, whose payloads are the encoder’s, is served', async () => {
  const before = calls.length;
  const result = await kernel.run({ code: 'honest' });
  expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
  expect(calls).toHaveLength(before + 1);
});

it('a result that names a key twice ends its agent E_AGENT_FAILED instead of being held', async () => {
  const result = await kernel.run({ code: 'respelled result' });
  expect(result).toMatchObject({
    ok: false,
    error: { code: 'E_AGENT_FAILED', message: 'result rejected: payload names a key twice' },
  });
});

// An honest record backed by a Map: JSON.stringify lists its keys in the Proxy's order, `name` before `2`.
const PROXY_RECORD = `export default async () => {
  const data = new Map([['name', 'x'], ['2', 'y']]);
  const record = new Proxy({}, {
    ownKeys: () => [...data.keys()],
    getOwnPropertyDescriptor: (_, key) =>
      data.has(key) ? { value: data.get(key), enumerable: true, configurable: true, writable: true } : undefined,
    get: (_, key) => data.get(key),
  });
  return await sys.tool('record', record);
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('benign twin: an honest Proxy whose keys are not in JSON.parse order is served', async () => {
    const { tool, calls: recorded, capability: allowed } = recordingTool('recorded');
    const honest = testKernel({ isolation, tools: [tool], policy: { capabilities: [allowed] } });
    try {
      const result = await honest.run({ code: PROXY_RECORD });
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, value: 'recorded' });
      expect(recorded).toEqual([{ name: 'x', 2: 'y' }]);
    } finally {
      await honest.close();
    }
  }, 60_000);
});

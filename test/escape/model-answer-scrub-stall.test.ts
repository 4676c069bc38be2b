// Attack (red-team pass 144): stall the kernel's event loop through the scrub of the model key from a model's answer.
// The endpoint chooses the answer (a hostile or compromised model, or one that echoes what the agent wrote), and
// model.chat searched it for every spelling of its API key at once, unmetered: one 7.5 MiB answer of `%41` repeated
// (each escape a view to decode) held the loop 0.5-0.9 s where as much plain text held it 0.15-0.2 s, and eight at
// once 1.3-2.2 s, charged to no one, for a result the syscall then refused as larger than a reply may be. An answer
// larger than the reply is now refused before any scrub, and the rest is searched in metered slices, each after a
// turn of the event loop, as a vault secret's scrub is (vault-scrub-stall.test.ts). A single string is searched in
// one go: an answer kept as a handle (no reply cap) is bounded by the tool's maxResponseBytes (SECURITY.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { createModelTool } from '../../tools/model.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { answer, type ModelServer, startModelServer } from '../helpers/model-server.js';
import { longestGap } from '../helpers/stall.js';

const SIZE = 7.5 * 1024 * 1024;
const ASK = `export default async () => {
  try {
    const r = await sys.tool('model.chat', { model: 'gpt-test', messages: [{ role: 'user', content: 'hello' }] });
    return r.message.content.length;
  } catch (e) { return e.code + ': ' + e.message; }
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let model: ModelServer;
  let kernel: Kernel;
  let reply = '';
  beforeAll(async () => {
    model = await startModelServer([], () => answer(reply, { in: 1, out: 1 }));
    kernel = testKernel({
      isolation,
      policy: { capabilities: [{ action: 'model.chat', resource: 'gpt-test' }] },
      limits: { memory_mb: 256, cpu_ms: 60_000, wall_ms: 60_000 },
      tools: [createModelTool({ baseURL: model.baseURL, apiKey: 'sk-test-0123456789abcdef', maxRetries: 0 })],
    });
  });
  afterAll(async () => {
    await kernel.close();
    await model.close();
  });

  it('an answer of escapes stalls the loop no longer than as much plain text', async () => {
    const stall = async (content: string): Promise<number> => {
      reply = content;
      const { value, gapMs } = await longestGap(() => kernel.run({ code: ASK }));
      // Larger than the reply may be (1 MiB), it is refused; before, only once the scrub had searched it.
      expect(value, JSON.stringify(value).slice(0, 300)).toMatchObject({
        ok: true,
        value:
          'E_TOOL_FAILED: model.chat: the answer is larger than a result may be (1048576 bytes); ask with { handle: true }',
      });
      return gapMs;
    };
    // The best of three runs each way, alternating: the same call's own stalls (parsing, decoding) are the floor.
    const plain: number[] = [];
    const escapes: number[] = [];
    for (let i = 0; i < 3; i++) {
      plain.push(await stall('a'.repeat(SIZE)));
      escapes.push(await stall('%41'.repeat(SIZE / 3)));
    }
    // Before: 457-882 ms against 148-220 ms.
    expect(Math.min(...escapes)).toBeLessThan(2 * Math.min(...plain) + 60);
  }, 120_000);
});

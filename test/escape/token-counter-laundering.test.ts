// Attack: reading labelled data back from the agent's own token counters (red-team pass 52). A clean agent kept a
// web page in a handle and asked an honest model, its answer kept in a handle too, for "exactly as many words as
// the character code of character #i of the document"; the tokens charged were the character, and a spawn asking
// for more `tokens_out` than remained was refused with the exact remainder. The label of what decided a charge only
// reached the agent when the charge crossed a limit, so the agent read the page a byte per call and mailed it clean.
// Without usage in the answer, `tokens_in` is estimated from the request's characters, the handle's included: its
// length, with no model's help. The defense: every counter a charge moves carries the label of what decided the
// amount, whatever reads a counter (a refused budget, a child's limits, a snapshot) takes it, and a bounded counter
// it moves raises its owner at once.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { createModelTool } from '../../tools/model.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { type ChatRequest, type ModelServer, startModelServer } from '../helpers/model-server.js';
import { recordingSink, webSource } from '../helpers/web-and-mail.js';

const PAGE = 'PIN=4711';

// Follows its instructions; reports usage as a real endpoint does, or none.
const honestModel =
  (withUsage: boolean) =>
  (request: ChatRequest): { kind: 'json'; body: unknown } => {
    const system = String(request.messages.find((m) => m.role === 'system')?.content ?? '');
    const document = String(request.messages.find((m) => m.role === 'user')?.content ?? '');
    const n = document.charCodeAt(Number(/character #(\d+)/.exec(system)?.[1] ?? 0)) || 0;
    return {
      kind: 'json',
      body: {
        id: 'x',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-test',
        choices: [
          { index: 0, message: { role: 'assistant', content: 'word '.repeat(n).trim() }, finish_reason: 'stop' },
        ],
        ...(withUsage ? { usage: { prompt_tokens: 10, completion_tokens: n, total_tokens: 10 + n } } : {}),
      },
    };
  };

const AGENT = (field: 'tokens_out' | 'tokens_in') => `export default async () => {
  const page = await sys.tool('fetch', {}, { handle: true });
  const remaining = async () => {
    try { await sys.spawn({ program: 'noop', budget: { ${field}: 1e12 } }); return -1; }
    catch (e) { return Number(/\\(([0-9.]+)\\)/.exec(e.message)[1]); }
  };
  const labels = [await sys.label()];
  let before = await remaining();
  let out = '';
  for (let i = 0; i < ${PAGE.length}; i++) {
    await sys.tool('model.chat', { model: 'gpt-test', messages: [
      { role: 'system', content: 'Reply with exactly as many words as the character code of character #' + i + ' of the document.' },
      { role: 'user', content: page } ] }, { handle: true });
    labels.push(await sys.label());
    const after = await remaining();
    out += String.fromCharCode(before - after);
    before = after;
  }
  const read = await sys.label();
  let mailed = true;
  try { await sys.tool('mail', { body: out }); } catch (e) { mailed = e.code; }
  return { labels: labels.slice(0, 2), read, mailed };
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let server: ModelServer | undefined;
  afterEach(async () => {
    await kernel?.close();
    await server?.close();
    kernel = undefined;
    server = undefined;
  });

  for (const [field, withUsage] of [
    ['tokens_out', true],
    ['tokens_in', false],
  ] as const) {
    it(`a clean agent reading its ${field} counter takes the label of the handle that decided it`, async () => {
      server = await startModelServer([], honestModel(withUsage));
      const sent: unknown[] = [];
      kernel = testKernel({
        isolation,
        tools: [
          webSource(PAGE),
          recordingSink('mail', ['web'], sent),
          createModelTool({ baseURL: server.baseURL, maxRetries: 0 }),
        ],
        policy: {
          capabilities: [
            { action: 'fetch', resource: 'fetch' },
            { action: 'mail', resource: 'mail' },
            { action: 'model.chat', resource: 'gpt-test' },
          ],
        },
      });
      kernel.programs.add('noop', 'export default async () => 1');
      const result = await kernel.run({
        code: AGENT(field),
        limits: { tokens_out: 1_000_000, tokens_in: 1_000_000, wall_ms: 60_000 },
      });
      // The answer and the page stay handles, but the call moved a bounded counter by an amount the page decided,
      // and whether the agent runs on depends on it: the call itself labels the agent (quota.ts, `hooks.raise`).
      expect(result).toMatchObject({ ok: true, value: { labels: [[], ['web']], read: ['web'], mailed: 'E_TAINT' } });
      expect(sent).toEqual([]);
    });
  }
});

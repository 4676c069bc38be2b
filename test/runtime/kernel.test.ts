import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

let kernel: Kernel;
afterEach(async () => {
  await kernel?.close();
});

describe('Kernel.create', () => {
  it('validates options with errors that name them', () => {
    expect(() => Kernel.create({ limits: { cpu_ms: -1 } })).toThrow(/options\.limits\.cpu_ms/);
    expect(() => Kernel.create({ maxPayloadBytes: 10 })).toThrow(RangeError);
    expect(() => Kernel.create(null as never)).toThrow(TypeError);
  });
});

describe('kernel.run', () => {
  it('runs code with input and reports usage', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      code: 'export default async (input) => ({ doubled: input.n * 2, echoed: await sys.tool("echo", { a: [1] }) })',
      input: { n: 21 },
    });
    expect(result).toMatchObject({ ok: true, value: { doubled: 42, echoed: { a: [1] } } });
    expect(result.usage.syscalls).toBe(1);
    expect(result.usage.cpu_ms).toBeGreaterThan(0);
    expect(result.usage.wall_ms).toBeGreaterThanOrEqual(result.usage.cpu_ms * 0.5);
    expect(result.usage).toHaveProperty('heap_peak_mb');
  });

  it('runs a file and shows the guest only its base name', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      file: new URL('../../examples/hello/agent.js', import.meta.url).pathname,
      input: { name: 'Ada' },
    });
    expect(result).toMatchObject({ ok: true, value: { greeting: 'hello, Ada' } });
    const stack = await kernel.run({ code: 'export default () => new Error("x").stack' });
    expect(stack.ok && String(stack.value)).toContain('agent.js');
  });

  it('refuses malformed requests with TypeError/RangeError', () => {
    kernel = testKernel();
    expect(() => kernel.run({})).toThrow(/exactly one of code, file and program/);
    expect(() => kernel.run({ code: 'x', file: 'y' })).toThrow(TypeError);
    expect(() => kernel.run({ code: 1 as never })).toThrow(/request\.code/);
    expect(() => kernel.run({ code: '', input: 10n })).toThrow(/JSON-serializable/);
    expect(() => kernel.run({ code: '', limits: { memory_mb: 1 } })).toThrow(RangeError);
  });

  it('a value main returns that is not JSON fails the agent, not the host', async () => {
    kernel = testKernel();
    const result = await kernel.run({ code: 'export default () => 10n' });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_AGENT_FAILED' } });
    const undef = await kernel.run({ code: 'export default () => undefined' });
    expect(undef).toMatchObject({ ok: true });
    expect(undef.ok && undef.value).toBeUndefined();
  });
});

describe('kernel.spawn and kill', () => {
  it('kill ends the agent with E_KILLED and the reason; later kills are no-ops', async () => {
    kernel = testKernel();
    const handle = kernel.spawn({ code: 'export default () => new Promise(() => {})' });
    expect(kernel.live()).toEqual([handle.id]);
    await new Promise((r) => setTimeout(r, 20));
    handle.kill('operator said so');
    handle.kill('again');
    const result = await handle.result;
    expect(result).toMatchObject({ ok: false, error: { code: 'E_KILLED', message: 'killed: operator said so' } });
    expect(kernel.live()).toEqual([]);
  });

  it('kills an agent in the middle of a tool call and aborts the call the tool is serving', async () => {
    const seen: string[] = [];
    kernel = testKernel({
      policy: { capabilities: [{ action: 'wait', resource: 'wait' }] },
      tools: [
        defineTool({
          name: 'wait',
          description: 'resolves when the calling agent ends',
          input: z.undefined(),
          run: (_args, ctx) =>
            new Promise<string>((resolve) => {
              seen.push('started');
              ctx.signal.addEventListener('abort', () => {
                seen.push('aborted');
                resolve('late');
              });
            }),
        }),
      ],
    });
    const handle = kernel.spawn({ code: 'export default async () => { await sys.tool("wait"); return "finished"; }' });
    while (!seen.includes('started')) await new Promise((r) => setTimeout(r, 5));
    handle.kill('stop');
    expect(await handle.result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
    expect(seen).toEqual(['started', 'aborted']);
  });

  it('close() kills every live agent and refuses new spawns', async () => {
    kernel = testKernel();
    const handles = [1, 2, 3].map(() => kernel.spawn({ code: 'export default () => { for (;;) {} }' }));
    await kernel.close();
    for (const handle of handles) {
      expect(await handle.result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
    }
    expect(() => kernel.spawn({ code: '' })).toThrow(/closed/);
  });

  it('runs many agents concurrently, each with its own result', async () => {
    kernel = testKernel();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        kernel.run({ code: 'export default async (n) => (await sys.tool("echo", n)) * 2', input: i }),
      ),
    );
    expect(results.map((r) => r.ok && r.value)).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
  });
});

describe('events', () => {
  it('emits syscall, log and exit events; a throwing listener does not break the agent', async () => {
    kernel = testKernel();
    const seen: string[] = [];
    kernel.on('log', (e) => seen.push(`log:${e.text}`));
    kernel.on('syscall', (e) => seen.push(`syscall:${e.syscall}:${e.code}`));
    kernel.on('exit', (e) => seen.push(`exit:${e.result.ok}`));
    kernel.on('log', () => {
      throw new Error('listener bug');
    });
    const result = await kernel.run({
      code: 'export default async () => { await sys.log("a", 1, {b: 2}); return sys.tool("nope") }',
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'E_AGENT_FAILED' } });
    expect(seen).toEqual(['log:a 1 {"b":2}', 'syscall:log:null', 'syscall:tool:E_NO_TOOL', 'exit:false']);
  });

  it('host tools see the calling agent and an abort signal', async () => {
    const calls: string[] = [];
    kernel = testKernel({
      policy: { capabilities: [{ action: 'whoami', resource: 'whoami' }] },
      tools: [
        defineTool({
          name: 'whoami',
          description: 'reports the caller',
          input: z.undefined(),
          run: (_args, ctx) => {
            calls.push(ctx.agent);
            return ctx.signal.aborted;
          },
        }),
      ],
    });
    const handle = kernel.spawn({ code: 'export default () => sys.tool("whoami")' });
    expect(await handle.result).toMatchObject({ ok: true, value: false });
    expect(calls).toEqual([handle.id]);
  });
});

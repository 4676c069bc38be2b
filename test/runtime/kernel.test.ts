import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel, PayloadTooLargeError } from '../../index.js';
import { testKernel } from '../helpers/kernel.js';

let kernel: Kernel;
afterEach(async () => {
  await kernel?.close();
});

describe('Kernel.create options', () => {
  it('a limit out of bounds is a RangeError naming options.limits.<field>', () => {
    expect(() => Kernel.create({ limits: { cpu_ms: -1 } })).toThrow(
      new RangeError('options.limits.cpu_ms: must be between 1 and 86400000'),
    );
  });

  it('maxPayloadBytes under 1 KiB is a RangeError naming it', () => {
    expect(() => Kernel.create({ maxPayloadBytes: 10 })).toThrow(
      new RangeError('options.maxPayloadBytes: must be an integer between 1024 and 268435456'),
    );
  });

  it('a non-integer maxPayloadBytes is a TypeError naming it', () => {
    expect(() => Kernel.create({ maxPayloadBytes: 2048.5 })).toThrow(TypeError);
    expect(() => Kernel.create({ maxPayloadBytes: 2048.5 })).toThrow(/^options\.maxPayloadBytes: /);
  });

  it('maxStoredBytesPerTenant under 64 KiB is a RangeError naming it, a non-integer a TypeError', () => {
    expect(() => Kernel.create({ maxStoredBytesPerTenant: 1000 })).toThrow(
      new RangeError('options.maxStoredBytesPerTenant: must be an integer of at least 65536'),
    );
    expect(() => Kernel.create({ maxStoredBytesPerTenant: 70_000.5 })).toThrow(TypeError);
  });

  it('options that are not an object are a TypeError', () => {
    expect(() => Kernel.create(null as never)).toThrow(TypeError);
  });

  it('a misspelt option is a TypeError naming it, not silently ignored', () => {
    expect(() => Kernel.create({ maxPayloadByte: 4096 } as never)).toThrow(
      new TypeError('options.maxPayloadByte: not a known option (check the spelling)'),
    );
  });

  it('an empty store path is a TypeError naming options.store', () => {
    expect(() => Kernel.create({ store: '' })).toThrow(new TypeError('options.store: must be a directory path'));
  });

  it('a clock that is not a function is a TypeError naming options.now', () => {
    expect(() => Kernel.create({ now: 5 as never })).toThrow(/^options\.now: must be a function/);
  });

  it('an audit file that is not a path is a TypeError naming options.audit.file', () => {
    expect(() => Kernel.create({ audit: { file: '' } })).toThrow(
      new TypeError('options.audit.file: must be a file path'),
    );
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
    expect(stack).toMatchObject({ ok: true, value: expect.stringContaining('agent.js') });
  });

  it('never throws synchronously: a malformed request rejects', async () => {
    kernel = testKernel();
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = kernel.run({});
    }).not.toThrow();
    await expect(promise).rejects.toThrow(new TypeError('request: must have exactly one of code, file and program'));
  });

  it('rejects two sources with a TypeError', async () => {
    kernel = testKernel();
    await expect(kernel.run({ code: 'x', file: 'y' })).rejects.toThrow(TypeError);
  });

  it('rejects code that is not a string with a TypeError naming request.code', async () => {
    kernel = testKernel();
    await expect(kernel.run({ code: 1 as never })).rejects.toThrow(/^request\.code: /);
  });

  it('rejects input with no JSON form with a TypeError', async () => {
    kernel = testKernel();
    await expect(kernel.run({ code: '', input: 10n })).rejects.toThrow(
      new TypeError('request.input must be JSON-serializable'),
    );
  });

  it('rejects input over maxPayloadBytes in UTF-8 bytes (not UTF-16 units) with a RangeError', async () => {
    kernel = testKernel({ maxPayloadBytes: 4096 });
    // 2000 three-byte characters: 2002 UTF-16 units as JSON, 6002 bytes.
    await expect(kernel.run({ code: '', input: '€'.repeat(2000) })).rejects.toThrow(
      new RangeError('request.input exceeds maxPayloadBytes'),
    );
    // Typed, so a host relaying a client's input (the MCP server) tells it apart without matching the message.
    await expect(kernel.run({ code: '', input: '€'.repeat(2000) })).rejects.toBeInstanceOf(PayloadTooLargeError);
  });

  it('rejects a limit out of bounds with a RangeError naming request.limits.<field>', async () => {
    kernel = testKernel();
    await expect(kernel.run({ code: '', limits: { memory_mb: 1 } })).rejects.toThrow(
      new RangeError('request.limits.memory_mb: must be between 8 and 16384'),
    );
  });

  it('rejects a misspelt request field with a TypeError naming it', async () => {
    kernel = testKernel();
    await expect(kernel.run({ code: '', limit: { cpu_ms: 5 } } as never)).rejects.toThrow(
      new TypeError('request.limit: not a known option (check the spelling)'),
    );
  });

  it('rejects a malformed namespace with a TypeError naming request.namespace', async () => {
    kernel = testKernel();
    await expect(kernel.run({ code: '', namespace: 'Not/Valid' })).rejects.toThrow(
      new TypeError('request.namespace: must be lowercase names separated by "/"'),
    );
  });

  it('rejects an unknown program with KernelError E_NOT_FOUND', async () => {
    kernel = testKernel();
    await expect(kernel.run({ program: 'nope' })).rejects.toMatchObject({ name: 'KernelError', code: 'E_NOT_FOUND' });
  });

  it('rejects once the kernel is closed', async () => {
    kernel = testKernel();
    await kernel.close();
    await expect(kernel.run({ code: 'export default () => 1' })).rejects.toThrow(/closed/);
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

  it('close() kills every live agent', async () => {
    kernel = testKernel();
    const handles = [1, 2, 3].map(() => kernel.spawn({ code: 'export default () => { for (;;) {} }' }));
    await kernel.close();
    for (const handle of handles) {
      expect(await handle.result).toMatchObject({ ok: false, error: { code: 'E_KILLED' } });
    }
  });

  it('spawn after close() throws', async () => {
    kernel = testKernel();
    await kernel.close();
    expect(() => kernel.spawn({ code: '' })).toThrow(/closed/);
  });

  it('runs many agents concurrently, each with its own result', async () => {
    kernel = testKernel();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        kernel.run({ code: 'export default async (n) => (await sys.tool("echo", n)) * 2', input: i }),
      ),
    );
    expect(results).toMatchObject(Array.from({ length: 20 }, (_, i) => ({ ok: true, value: i * 2 })));
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

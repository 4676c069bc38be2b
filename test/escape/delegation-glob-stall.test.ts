// Attack: hold the kernel's event loop with globs the agent wrote itself (red-team pass 58). A policy grants
// fs.read on `/ws/**`; agent A delegates to B 63 narrowed globs `/ws/*aaa…ab*` (and `/ws/**`). Testing such a
// glob against a long literal (`/ws/aaa…a`) is a minimatch walk of about |glob| x |text| steps, and one
// check runs it for every held capability: sys.spawn's delegation planning for each of 64 requests (64 x 63
// walks of ~1 ms: 4.4 s in one syscall, every agent stalled), a tool call without a capability id for each
// held capability (~4 ms per walk against a 4096-character path). Now an agent-written glob is at most
// MAX_REQUESTED_GLOB_LENGTH characters, and the walks of one check are bounded (MAX_MATCH_WORK): the spawn is
// refused E_BAD_ARG, the tool call skips the globs past the bound. The measure is the longest gap between
// ticks of a 5 ms interval in this process, with a bound generous enough for a loaded machine.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, KernelOptions } from '../../index.js';
import { MAX_REQUESTED_GLOB_LENGTH } from '../../runtime/core/resource-match.js';
import { ISOLATION_MODES, processTestKernel, testKernel } from '../helpers/kernel.js';
import { longestGap, pathReadTool } from '../helpers/stall.js';

const STALL_BOUND_MS = 250;

// Agent A: delegates `count` globs `/ws/*a…ab*` (and `/ws/**` last, unless `noTree`) to program `b`, trying
// each glob length in turn until the spawn is not refused as a bad argument (as an attacker adapting to a limit).
function parentCode(lengths: readonly number[], { count = 63, noTree = false } = {}): string {
  return `export default async () => {
    let last;
    for (const length of ${JSON.stringify(lengths)}) {
      const caps = [];
      for (let i = 0; i < ${count}; i++) caps.push({ resource: '/ws/*' + 'a'.repeat(length - 7 - i) + 'b*' });
      ${noTree ? '' : "caps.push({ resource: '/ws/**' });"}
      try {
        const id = await sys.spawn({ program: 'b', caps });
        return await sys.join(id);
      } catch (e) {
        last = { spawn: e.code, message: e.message };
        if (e.code !== 'E_BAD_ARG') break;
      }
    }
    return last;
  }`;
}

// Program b: 64 spawn requests of a 1000-character literal under /ws, with a bad mount so that a spawn that
// passed planning fails (E_NOT_FOUND) and can be repeated.
const spawnFlood = `export default async () => {
  const codes = [];
  for (let r = 0; r < 3; r++) {
    try {
      await sys.spawn({ program: 'noop', caps: Array.from({ length: 64 }, () => ({ resource: '/ws/' + 'a'.repeat(1000) })),
        mounts: [{ name: 'm', from: 'nope', mode: 'ro' }] });
      codes.push('spawned');
    } catch (e) { codes.push(e.code); }
  }
  return { held: (await sys.caps()).length, codes };
}`;

// Program b: tool calls without a capability id on a 4090-character path that no glob matches.
const toolFlood = (path: string) => `export default async () => {
  const out = [];
  for (let r = 0; r < 5; r++) {
    try { out.push(await sys.tool('files.read', { path: ${JSON.stringify(path)} })); }
    catch (e) { out.push(e.code); }
  }
  return { held: (await sys.caps()).length, out };
}`;

describe.each(ISOLATION_MODES)('agent-written globs cannot stall the kernel (%s)', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  function makeKernel(b: string): Kernel {
    const options: KernelOptions = {
      policy: { capabilities: [{ action: 'fs.read', resource: '/ws/**' }] },
      tools: [pathReadTool],
    };
    kernel = isolation === 'process' ? processTestKernel(options).kernel : testKernel(options);
    kernel.programs.add('noop', 'export default async () => 1');
    kernel.programs.add('b', b);
    return kernel;
  }

  // What the agents return, loosely typed: each test checks the fields it expects.
  type Outcome = { spawn?: string; message?: string; held?: number; codes?: string[]; out?: unknown[] };

  async function run(code: string): Promise<{ value: Outcome; gapMs: number }> {
    const { value: result, gapMs } = await longestGap(() =>
      kernel!.run({ code, limits: { cpu_ms: 60_000, wall_ms: 120_000 } }),
    );
    if (!result.ok) throw new Error(`run failed: ${JSON.stringify(result.error)}`);
    return { value: result.value as Outcome, gapMs };
  }

  it('the probe: a delegated glob longer than the limit is refused at once', async () => {
    makeKernel(spawnFlood);
    const { value, gapMs } = await run(parentCode([507]));
    expect(value).toMatchObject({ spawn: 'E_BAD_ARG' });
    expect(value.message).toContain(`at most ${MAX_REQUESTED_GLOB_LENGTH} characters`);
    expect(gapMs).toBeLessThan(STALL_BOUND_MS);
  }, 60_000);

  it('globs at the limit: planning 64 x 64 cover checks is refused as too costly', async () => {
    makeKernel(spawnFlood);
    const { value, gapMs } = await run(parentCode([MAX_REQUESTED_GLOB_LENGTH]));
    expect(value.held).toBe(64);
    expect(value.codes).toEqual(['E_BAD_ARG', 'E_BAD_ARG', 'E_BAD_ARG']);
    expect(gapMs).toBeLessThan(STALL_BOUND_MS);
  }, 60_000);

  it('a tool call without a capability id skips globs past the bound and still finds `/ws/**`', async () => {
    makeKernel(toolFlood(`/ws/${'a'.repeat(4086)}`));
    const { value, gapMs } = await run(parentCode([1000, MAX_REQUESTED_GLOB_LENGTH]));
    expect(value.held).toBe(64);
    expect(value.out).toEqual(Array(5).fill('content'));
    expect(gapMs).toBeLessThan(STALL_BOUND_MS);
  }, 60_000);

  it('without `/ws/**` the call is denied with a typed code', async () => {
    makeKernel(toolFlood(`/ws/${'a'.repeat(4086)}`));
    const { value, gapMs } = await run(parentCode([1000, MAX_REQUESTED_GLOB_LENGTH], { noTree: true }));
    expect(value.held).toBe(63);
    expect(value.out).toEqual(Array(5).fill('E_CAP_DENIED'));
    expect(gapMs).toBeLessThan(STALL_BOUND_MS);
  }, 60_000);
});

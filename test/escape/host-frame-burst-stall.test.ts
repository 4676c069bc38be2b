// Attack (red-team pass 63): hold the kernel's event loop with a burst of syscalls relayed by a sandbox host. An
// agent fires hundreds of `sys.spawn` calls without awaiting them. In the process tier each is a small frame the
// host relays at once, so they reach the kernel together, and the kernel ran every frame of a socket read in one
// go; each spawn here is refused by the delegation planner's work estimate after a few ms of glob matching, so
// 600 of them held the kernel's loop 0.65-3.1 s (97 spawns with 64 large delegations each, 3-8 s), and the 400
// below 1.6-1.7 s. Now the kernel reads a host's frames in order for about 10 ms per event-loop turn and leaves
// the rest for later turns (isolates/host-process.ts): 20-35 ms. Inline, each syscall crosses as a blocking
// callback and bursts stayed under about 100 ms. The measure is the longest gap between ticks of a 5 ms interval
// in this process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, KernelOptions } from '../../index.js';
import { ISOLATION_MODES, processTestKernel, testKernel } from '../helpers/kernel.js';
import { longestGap, pathReadTool } from '../helpers/stall.js';

// Well above a turn's slice plus one costly spawn (20-35 ms measured after the fix, up to about 140 inline), even on
// a loaded 2-core machine, and well below the 1.6 s and more the process tier measured before it.
const STALL_BOUND_MS = 400;
const BURST = 400;

// Agent A: delegates to program `b` 63 globs `/ws/*a…ab*` and `/ws/**`, then returns what `b` returns. Each
// spawn `b` asks for delegates a 1000-character literal under /ws: checking it against those globs is costly, and
// the planner refuses it (E_BAD_ARG) once its estimate of that work passes the bound, a few ms into the call.
const PARENT = `export default async () => {
  const caps = [];
  for (let i = 0; i < 63; i++) caps.push({ resource: '/ws/*' + 'a'.repeat(256 - 7 - i) + 'b*' });
  caps.push({ resource: '/ws/**' });
  const id = await sys.spawn({ program: 'b', caps });
  return await sys.join(id);
}`;
const SPAWN = `sys.spawn({ program: 'noop', caps: [{ resource: '/ws/' + 'a'.repeat(1000) }] })`;
// What PARENT delegates, as a policy: for a host that makes the costly spawns itself.
const COSTLY_GLOBS = [
  ...Array.from({ length: 63 }, (_, i) => ({ action: 'fs.read', resource: `/ws/*${'a'.repeat(256 - 7 - i)}b*` })),
  { action: 'fs.read', resource: '/ws/**' },
];

// Program b: the burst, awaited together; what each spawn answered.
const burst = `export default async () => {
  const codes = await Promise.all(Array.from({ length: ${BURST} }, () => ${SPAWN}.then(() => 'spawned', (e) => e.code)));
  return { n: codes.length, codes: [...new Set(codes)] };
}`;
// Program b: the burst, not awaited at all: the agent's result leaves its host behind the burst's frames.
const burstAndReturn = `export default async () => {
  for (let i = 0; i < ${BURST}; i++) ${SPAWN}.catch(() => {});
  return 'returned';
}`;

describe.each(ISOLATION_MODES)('a burst of costly syscalls cannot hold the kernel (%s)', (isolation) => {
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

  async function run(): Promise<{ value: unknown; gapMs: number }> {
    const { value: result, gapMs } = await longestGap(() =>
      kernel!.run({ code: PARENT, limits: { cpu_ms: 60_000, wall_ms: 120_000 } }),
    );
    if (!result.ok) throw new Error(`run failed: ${JSON.stringify(result.error)}`);
    return { value: result.value, gapMs };
  }

  it(`${BURST} unawaited spawns, each refused after costly planning: answered, and the loop keeps turning`, async () => {
    makeKernel(burst);
    const { value, gapMs } = await run();
    expect(value).toEqual({ n: BURST, codes: ['E_BAD_ARG'] });
    expect(gapMs).toBeLessThan(STALL_BOUND_MS);
  }, 120_000);

  it('an agent that returns behind its burst ends with its own result, and the loop keeps turning', async () => {
    makeKernel(burstAndReturn);
    const { value, gapMs } = await run();
    expect(value).toBe('returned');
    expect(gapMs).toBeLessThan(STALL_BOUND_MS);
  }, 120_000);
});

const hostDirs: string[] = [];
afterEach(() => {
  for (const dir of hostDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A hostile host for `processTestKernel`'s entry: `body` runs with `channel` (fd 3), `encodeFrame` and
 * `FrameReader` of the real protocol in scope.
 */
function hostileHost(name: string, body: string): { execArgv: string[]; script: string } {
  const dir = mkdtempSync(join(tmpdir(), `isokernel-${name}-host-`));
  hostDirs.push(dir);
  const protocol = pathToFileURL(fileURLToPath(new URL('../../isolates/host-protocol.ts', import.meta.url))).href;
  const script = join(dir, `${name}-host.mjs`);
  writeFileSync(
    script,
    `import { Socket } from 'node:net';
import { encodeFrame, FrameReader } from ${JSON.stringify(protocol)};
const channel = new Socket({ fd: 3, readable: true, writable: true });
${body}`,
  );
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { execArgv: ['--import', tsx], script };
}

// A host that writes a burst of syscalls and its agent's result, then dies while the kernel is still reading the
// burst (a slice per turn): what it sent before it died is still read, so the agent's outcome is the result it
// reported, not E_CRASHED, and every syscall of the burst was counted.
describe('process tier: a host that dies behind a burst', () => {
  // Costly spawns (refused after a few ms of planning each), about 450 KB of frames: under what the kernel takes in
  // before it pauses the channel, and a second or more to read. (A burst of 10,000 cheap `log` frames, 800 KB,
  // took about 0.3 s; Node 24 once read it all before the host's exit was seen, and the case showed nothing.)
  const CALLS = 400;
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  // It dies 100 ms after its last frame reached the socket: long enough for the kernel, which reads the socket
  // between its turns, to have received everything (what a dead host left unread there is lost, as it always
  // was), far too short for it to have read the burst.
  const dyingHost = () =>
    hostileHost(
      'dying',
      `const send = (fields, then) => channel.write(encodeFrame(fields), then);
const die = () => process.kill(process.pid, 'SIGKILL');
channel.on('close', die);
const SPAWN = JSON.stringify([{ program: 'noop', caps: [{ resource: '/ws/' + 'a'.repeat(1000) }] }]);
const reader = new FrameReader(64 * 1024 * 1024, ([type, agent]) => {
  if (type === 'init') send(['ready', String(process.pid)]);
  if (type !== 'start') return;
  for (let call = 1; call <= ${CALLS}; call++) send(['sys', agent, String(call), 'spawn', SPAWN]);
  send(['result', agent, 'v"reported"', '1', '1', '0'], () => setTimeout(die, 100));
}, die);
channel.on('data', (chunk) => reader.push(chunk));
`,
    );

  it('the result it reported before it died is its agent outcome; its syscalls were all read', async () => {
    const made = processTestKernel(
      {
        tools: [pathReadTool],
        policy: { capabilities: [...COSTLY_GLOBS, { action: 'agent.spawn', resource: '**' }] },
        limits: { cpu_ms: 600_000, syscalls: CALLS + 10, wall_ms: 60_000 },
      },
      { entry: dyingHost() },
    );
    kernel = made.kernel;
    kernel.programs.add('noop', 'export default async () => 1');
    const agent = kernel.spawn({ code: 'export default () => 1' });
    // How many of the burst's syscalls the kernel handled after it had seen the host's exit (its pid reaped).
    let pid: number | undefined;
    let afterExit = 0;
    kernel.on('syscall', () => {
      pid ??= made.launcher.hostPid(agent.id);
      if (pid !== undefined && !exists(pid)) afterExit++;
    });
    const result = await agent.result;
    expect(result).toMatchObject({ ok: true, value: 'reported', usage: { syscalls: CALLS } });
    // Else this test shows nothing: the burst was read before the host died. (So it was when the kernel read every
    // frame on arrival: this line failed then, while the outcome held.)
    expect(afterExit).toBeGreaterThan(0);
  }, 60_000);
});

// A compromised host has its agent kill a child, withholds the kill's confirmation, and keeps the channel full
// of its agent's costly spawns (refused by the planner's work estimate, charged): the kill's verdict waited for
// every frame received before its deadline, read a slice a turn, and the child's end came 3.4 s after the kill
// against a 100 ms grace (red-team pass 64). The wait is now bounded: the verdict comes at most a second late.
describe('process tier: a host that withholds a kill behind a backlog', () => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  const withholdingHost = () =>
    hostileHost(
      'withholding',
      `channel.on('close', () => process.kill(process.pid, 'SIGKILL'));
const send = (fields) => channel.write(encodeFrame(fields));
let call = 1;
const waiting = new Map();
const sys = (agent, name, args, then) => {
  const id = String(call++);
  if (then) waiting.set(id, then);
  return send(['sys', agent, id, name, JSON.stringify(args)]);
};
const SPAWN = [{ program: 'noop', caps: [{ resource: '/ws/' + 'a'.repeat(1000) }] }];
const flood = (agent) => {
  const more = () => { while (sys(agent, 'spawn', SPAWN)) {} channel.once('drain', more); };
  more();
};
const reader = new FrameReader(64 * 1024 * 1024, ([type, agent = '', a = '', b = '']) => {
  if (type === 'init') send(['ready', String(process.pid)]);
  if (type === 'start') {
    sys(agent, 'spawn', [{ code: 'export default () => 1' }], (reply) => {
      const child = JSON.parse(reply.slice(1));
      sys(agent, 'log', ['child ' + child]);
      sys(agent, 'kill', [child]);
      flood(agent);
    });
  }
  if (type === 'reply') { const then = waiting.get(a); waiting.delete(a); then?.(b); }
}, () => process.kill(process.pid, 'SIGKILL'));
channel.on('data', (chunk) => reader.push(chunk));
setInterval(() => {}, 1000);
`,
    );

  it("the kill's verdict comes at most about a second after its deadline, and the loop keeps turning", async () => {
    kernel = processTestKernel(
      {
        tools: [pathReadTool],
        policy: {
          capabilities: [
            ...COSTLY_GLOBS,
            { action: 'agent.spawn', resource: '**' },
            { action: 'agent.kill', resource: '**' },
          ],
        },
        limits: { cpu_ms: 600_000, wall_ms: 120_000, syscalls: 10_000_000, children: 100_000 },
      },
      { entry: withholdingHost() },
    ).kernel;
    kernel.programs.add('noop', 'export default async () => 1');
    const running = kernel;
    let child: string | undefined;
    let killedAt = 0;
    running.on('log', (event) => {
      if (event.text.startsWith('child ')) child = event.text.slice(6);
    });
    running.on('syscall', (event) => {
      if (event.syscall === 'kill' && killedAt === 0) killedAt = performance.now();
    });
    const childEnded = new Promise<number>((resolve) => {
      running.on('exit', (event) => {
        if (event.agent === child) resolve(performance.now());
      });
    });
    const { value, gapMs } = await longestGap(async () => {
      const parent = running.spawn({ code: 'withheld' });
      const endedAt = await childEnded;
      return { endedAt, parent: await parent.result };
    });
    expect(value.parent).toMatchObject({ ok: false, error: { code: 'E_CRASHED' } });
    // Before: 3.4 s (its backlog of about 500 costly spawns read first); now the grace, a second, and slack.
    expect(value.endedAt - killedAt).toBeLessThan(2000);
    expect(gapMs).toBeLessThan(STALL_BOUND_MS);
  }, 60_000);
});

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

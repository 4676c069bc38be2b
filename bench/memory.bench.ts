// Idle memory per agent: the growth of the process's resident set when K agents are alive and waiting on a
// syscall, divided by K, against K bare isolated-vm isolates with a context and an evaluated module (what an
// isolate costs before the kernel adds its prelude, session, keys and tables).
//
// Resident memory depends on what the process allocated and freed before, so each measurement runs in a fresh
// process of its own (this file, started with `kernel` or `bare`): it warms up, collects garbage, reads the
// resident set, starts K agents (or isolates), waits until all are idle, collects again and reads it again.
// Run: npm run bench -- --suite memory (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/memory.bench.ts)
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import ivm from 'isolated-vm';
import { z } from 'zod';
import { defineTool, Kernel } from '../index.js';
import { Figures, scaled } from './report.js';

const AGENTS = scaled(32, 8);
const ROUNDS = scaled(3, 1);
type Mode = 'kernel' | 'bare';

async function settle(): Promise<number> {
  await sleep(200);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  await sleep(50);
  return process.memoryUsage().rss;
}

/** In a fresh process: resident bytes per idle kernel agent. */
async function kernelAgents(count: number): Promise<number> {
  let parked = 0;
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const park = defineTool({
    name: 'bench.park',
    description: 'holds the calling agent until the measurement is done',
    input: z.unknown(),
    run: async () => {
      parked++;
      await released;
      return null;
    },
  });
  const kernel = Kernel.create({
    isolation: 'inline',
    tools: [park],
    policy: { capabilities: [{ action: 'bench.park', resource: 'bench.park' }] },
  });
  // Warm: the realm pool filled, the prelude compiled, the kernel's tables allocated.
  const warm = await kernel.run({ code: 'export default () => 1' });
  if (!warm.ok) throw new Error(`warm-up agent failed: ${warm.error.code}`);
  const before = await settle();
  const handles = Array.from({ length: count }, () =>
    kernel.spawn({ code: "export default async () => { await sys.tool('bench.park'); return 1; }" }),
  );
  while (parked < count) await sleep(20);
  const after = await settle();
  release();
  for (const result of await Promise.all(handles.map((handle) => handle.result))) {
    if (!result.ok) throw new Error(`parked agent failed: ${result.error.code}`);
  }
  await kernel.close();
  return (after - before) / count;
}

/** In a fresh process: resident bytes per bare isolate with a context and an evaluated module. */
async function bareIsolates(count: number): Promise<number> {
  const warm = new ivm.Isolate({ memoryLimit: 128 });
  warm.createContextSync();
  warm.dispose();
  const before = await settle();
  const isolates: ivm.Isolate[] = [];
  for (let i = 0; i < count; i++) {
    const isolate = new ivm.Isolate({ memoryLimit: 128 });
    const context = isolate.createContextSync();
    const module = isolate.compileModuleSync('export default async () => 1', { filename: 'agent.js' });
    module.instantiateSync(context, () => {
      throw new Error('no imports');
    });
    await module.evaluate();
    isolates.push(isolate);
  }
  const after = await settle();
  for (const isolate of isolates) isolate.dispose();
  return (after - before) / count;
}

/** Runs this file in a fresh process in `mode` and resolves to its bytes per agent. */
function measureInChild(mode: Mode): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [mode, String(AGENTS)], {
      execArgv: [...process.execArgv, '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let bytes: number | undefined;
    child.on('message', (message) => {
      if (typeof message === 'number') bytes = message;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      bytes === undefined ? reject(new Error(`${mode} measurement exited with code ${code}`)) : resolve(bytes),
    );
  });
}

const mode = process.argv[2];
if (mode === 'kernel' || mode === 'bare') {
  const count = Number(process.argv[3]);
  const bytes = mode === 'kernel' ? await kernelAgents(count) : await bareIsolates(count);
  process.send?.(bytes, () => process.exit(0));
} else {
  const figures = new Figures({
    'memory.idle_agent': {
      unit: 'bytes',
      what: `resident memory per idle agent (${AGENTS} agents alive, each waiting on a syscall), each run in a fresh process`,
      floor: 'a bare isolated-vm isolate with a context and an evaluated module, in a fresh process',
      target: { kind: 'bytes', max: 1.5 * 1024 * 1024 },
    },
  });
  const measured: number[] = [];
  const floor: number[] = [];
  // Each process reads only its own resident set, so the two measurements of a round can run at once.
  for (let round = 0; round < ROUNDS; round++) {
    const [kernel, bare] = await Promise.all([measureInChild('kernel'), measureInChild('bare')]);
    measured.push(kernel);
    floor.push(bare);
  }
  figures.fromBytes('memory.idle_agent', measured, floor);
  await figures.publish();
}

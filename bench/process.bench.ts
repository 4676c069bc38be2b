// The process model's costs, each against a floor measured in the same run: children spawned and joined one
// at a time from inside an agent against the same number of top-level kernel.runs of the program, back to back; a memory round trip and a snapshot
// against a noop tool call (the cheapest async syscall).
import { Bench } from 'tinybench';
import { z } from 'zod';
import { defineTool, Kernel } from '../index.js';
import { report } from './report.js';

const N = 20;
const noop = defineTool({ name: 'noop', description: 'does nothing', input: z.unknown(), run: () => null });
const kernel = Kernel.create({
  isolation: 'inline',
  tools: [noop],
  policy: { capabilities: [{ action: 'noop', resource: 'noop' }] },
  limits: { children: 100_000 },
});
kernel.programs.add('leaf', 'export default async (n) => n + 1');

const inAgent = (body: string) => async () => {
  const result = await kernel.run({ code: `export default async () => { ${body} }` });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
};

const pause = { afterEach: () => new Promise<void>((resolve) => setTimeout(resolve, 5)) };
const bench = new Bench({ time: 2000, warmupTime: 300 });
bench
  .add(
    `${N} top-level kernel.run of the leaf program`,
    async () => {
      for (let i = 0; i < N; i++) await kernel.run({ program: 'leaf', input: i });
    },
    pause,
  )
  .add(
    `${N} children spawned and joined one at a time`,
    inAgent(`for (let i = 0; i < ${N}; i++) await sys.join(await sys.spawn({ program: 'leaf', input: i }));`),
    pause,
  )
  .add(`${N} noop tool calls`, inAgent(`for (let i = 0; i < ${N}; i++) await sys.tool('noop', i);`))
  .add(
    `${N} mem.put + mem.get`,
    inAgent(`for (let i = 0; i < ${N}; i++) { await sys.mem.put('k' + i, { i }); await sys.mem.get('k' + i); }`),
  )
  .add(`${N} snapshots`, inAgent(`for (let i = 0; i < ${N}; i++) await sys.snapshot({ i, when: new Date(i) });`));
await bench.run();
await kernel.close();

report('process model, per operation', bench, [
  {
    name: 'child spawn + join (inside an agent)',
    task: `${N} children spawned and joined one at a time`,
    floor: `${N} top-level kernel.run of the leaf program`,
    per: N,
  },
  {
    name: 'mem.put + mem.get (in-memory store)',
    task: `${N} mem.put + mem.get`,
    floor: `${N} noop tool calls`,
    per: N,
  },
  { name: 'sys.snapshot (in-memory store)', task: `${N} snapshots`, floor: `${N} noop tool calls`, per: N },
]);

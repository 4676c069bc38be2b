// The process tree's costs, each against a floor measured in the same run: children spawned and joined one at a
// time from inside an agent against the same number of top-level kernel.runs of the program, back to back; a
// memory round trip and a snapshot against a noop tool call (the cheapest async syscall). Each operation runs N
// times inside one agent, so its figure includes an Nth of that agent's spawn; the floor carries the same share.
// Run: npm run bench -- --suite tree (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/tree.bench.ts)
import { Bench } from 'tinybench';
import { z } from 'zod';
import { defineTool, Kernel } from '../index.js';
import { benchOptions, Figures } from './report.js';

const NOOP_FLOOR = "one await sys.tool('noop') inside an agent";
const figures = new Figures({
  'tree.child_spawn_join': {
    what: 'sys.spawn + sys.join of a child running a registered program, one at a time, inside an agent',
    floor: 'a top-level kernel.run of the same program, back to back',
  },
  'tree.mem_put_get': {
    what: 'sys.mem.put + sys.mem.get (in-memory store), per pair, inside an agent',
    floor: NOOP_FLOOR,
  },
  'tree.snapshot': {
    what: 'sys.snapshot (in-memory store; superjson load amortized over the batch), inside an agent',
    floor: NOOP_FLOOR,
  },
});

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
const bench = new Bench(benchOptions({ time: 2000, warmupTime: 300 }));
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

const noopFloor = `${N} noop tool calls`;
figures.fromTasks('tree.child_spawn_join', bench, `${N} children spawned and joined one at a time`, {
  floor: `${N} top-level kernel.run of the leaf program`,
  per: N,
});
figures.fromTasks('tree.mem_put_get', bench, `${N} mem.put + mem.get`, { floor: noopFloor, per: N });
figures.fromTasks('tree.snapshot', bench, `${N} snapshots`, { floor: noopFloor, per: N });
await figures.publish();

// Agent spawn latency: kernel.run of a trivial agent (claim a realm, module, main, dispose) against isolated-vm's
// own isolate + context + module setup, measured in the same run. Spawns arriving one at a time find the realm
// pool warm (the untimed pause lets it refill, as it does between requests); back to back they wait for it.
// Run: npm run bench -- --suite spawn (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/spawn.bench.ts)
import ivm from 'isolated-vm';
import { Bench } from 'tinybench';
import { Kernel } from '../index.js';
import { benchOptions, Figures } from './report.js';

const BARE = 'a bare isolated-vm isolate + context + module evaluated + dispose';
const figures = new Figures({
  'spawn.warm_pool': {
    what: 'kernel.run of a trivial agent, one at a time (realm pool warm): module + main + dispose',
    floor: BARE,
    target: { kind: 'p50', maxNs: 1_000_000 },
  },
  'spawn.back_to_back': {
    what: 'kernel.run of a trivial agent, back to back (the pool refills on the same thread)',
    floor: BARE,
  },
});

const kernel = Kernel.create({ isolation: 'inline' });
const bareIsolate = async () => {
  const iso = new ivm.Isolate({ memoryLimit: 128 });
  const ctx = iso.createContextSync();
  const module = iso.compileModuleSync('export default () => 1', { filename: 'agent.js' });
  module.instantiateSync(ctx, () => {
    throw new Error('no imports');
  });
  await module.evaluate();
  iso.dispose();
};
const trivial = async () => {
  const result = await kernel.run({ code: 'export default () => 1' });
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
};
const pause = { afterEach: () => new Promise<void>((resolve) => setTimeout(resolve, 5)) };
const bench = new Bench(benchOptions({ time: 2000, warmupTime: 300 }));
bench
  .add('kernel.run trivial agent (pool warm)', trivial, pause)
  .add('kernel.run trivial agent (back to back)', trivial)
  .add('bare isolate + context + module', bareIsolate, pause);
await bench.run();
await kernel.close();

const floor = 'bare isolate + context + module';
figures.fromTasks('spawn.warm_pool', bench, 'kernel.run trivial agent (pool warm)', { floor });
figures.fromTasks('spawn.back_to_back', bench, 'kernel.run trivial agent (back to back)', { floor });
await figures.publish();

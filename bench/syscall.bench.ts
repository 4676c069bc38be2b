// Syscall round trip through the kernel vs the bare isolated-vm crossing carrying the same string, in the
// same process and run, for a same-thread entry and an async entry; plus agent spawn latency.
// Run: npm run bench (or: node --no-node-snapshot --import tsx bench/syscall.bench.ts)
import ivm from 'isolated-vm';
import { Bench } from 'tinybench';
import { z } from 'zod';
import { defineTool, Kernel } from '../index.js';
import { PRELUDE_FILENAME, PRELUDE_SOURCE } from '../isolates/prelude.js';
import { PRELUDE_CONFIG } from '../isolates/prelude-config.js';
import { AuditLog, MemoryAuditSink } from '../runtime/audit/audit-log.js';
import { CapabilityAuthority } from '../runtime/capability/authority.js';
import { SigningKey } from '../runtime/capability/signing-key.js';
import { DEFAULT_LIMITS } from '../runtime/process/limits.js';
import { AgentSession } from '../runtime/process/session.js';
import { ToolRegistry } from '../runtime/tool-use/tool-contract.js';
import { dispatch } from '../syscalls/dispatch.js';
import { standaloneServices } from '../test/helpers/services.js';
import { report } from './report.js';

const BATCH = 200;
const ARGS = { path: '/workspace/notes/today.md', mode: 'utf8', limit: 4096 };
const PAYLOAD = JSON.stringify(['noop', ARGS, null]);

const noop = defineTool({ name: 'noop', description: 'does nothing', input: z.unknown(), run: () => null });
// The kernel path includes the capability check: the agent holds a root grant for the noop tool.
const authority = new CapabilityAuthority({ rootKey: SigningKey.generate() });
const session = new AgentSession(
  'bench',
  SigningKey.generate(),
  DEFAULT_LIMITS,
  standaloneServices({
    tools: new ToolRegistry().add(noop),
    authority,
    audit: new AuditLog({ key: SigningKey.generate(), sink: new MemoryAuditSink({ retain: 10_000 }) }),
    maxPayloadBytes: 1024 * 1024,
    emit: () => {},
  }),
);
authority.grant({ audience: session.publicKey, action: 'noop', resource: 'noop' });
session.state = 'running';

// One isolate carrying both paths: the kernel's prelude bound to the real dispatcher, and bare callbacks.
const isolate = new ivm.Isolate({ memoryLimit: 128 });
const context = isolate.createContextSync();
const prelude = isolate.compileScriptSync(PRELUDE_SOURCE, { filename: PRELUDE_FILENAME }).runSync(context, {
  reference: true,
}) as ivm.Reference<(...args: unknown[]) => unknown>;
prelude.applySync(undefined, [
  new ivm.Callback((_id: number, name: string, payload: string) => dispatch(session, name, payload) as string, {
    sync: true,
  }),
  new ivm.Callback(() => {}, { ignored: true }),
  PRELUDE_CONFIG,
]);
context.global.setSync(
  '$bareSync',
  new ivm.Callback((_name: string, payload: string) => `v${payload}`, { sync: true }),
);
context.global.setSync(
  '$bareAsync',
  new ivm.Callback((_name: string, payload: string) => `v${payload}`, { async: true }),
);
const fn = (source: string) => context.evalSync(source, { reference: true }) as ivm.Reference<(n: number) => unknown>;
const args = JSON.stringify(ARGS);
const payload = JSON.stringify(PAYLOAD);
const kernelSync = fn(`(n) => { for (let i = 0; i < n; i++) sys.tool('noop', ${args}); }`);
const bareSync = fn(`(n) => { for (let i = 0; i < n; i++) $bareSync('tool', ${payload}); }`);
const kernelAsync = fn(`async (n) => { for (let i = 0; i < n; i++) await sys.tool('noop', ${args}); }`);
const bareAsync = fn(`async (n) => { for (let i = 0; i < n; i++) await $bareAsync('tool', ${payload}); }`);
const bareSyncOnWorker = fn(`async (n) => { for (let i = 0; i < n; i++) $bareSync('tool', ${payload}); }`);

const promise = { result: { promise: true } } as const;
const crossing = new Bench({ time: 1500, warmupTime: 300 });
crossing
  .add('kernel same-thread', () => void kernelSync.applySync(undefined, [BATCH]))
  .add('bare same-thread', () => void bareSync.applySync(undefined, [BATCH]))
  .add('kernel async', async () => void (await kernelAsync.apply(undefined, [BATCH], promise)))
  .add('bare async callback', async () => void (await bareAsync.apply(undefined, [BATCH], promise)))
  .add('bare sync callback from worker', async () => void (await bareSyncOnWorker.apply(undefined, [BATCH], promise)));
await crossing.run();
isolate.dispose();

report(`sys.tool('noop') round trip, per call (batches of ${BATCH})`, crossing, [
  {
    name: 'same-thread: kernel vs bare sync crossing',
    task: 'kernel same-thread',
    floor: 'bare same-thread',
    per: BATCH,
    target: '≤ 2.0×',
  },
  {
    name: 'async: kernel vs bare async callback',
    task: 'kernel async',
    floor: 'bare async callback',
    per: BATCH,
    target: '≤ 1.3×',
  },
  {
    name: 'async: kernel vs bare sync callback (worker)',
    task: 'kernel async',
    floor: 'bare sync callback from worker',
    per: BATCH,
  },
]);

const kernel = Kernel.create({ isolation: 'inline' });
const spawnBench = new Bench({ time: 2000, warmupTime: 300 });
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
// Spawns arriving one at a time: the untimed pause lets the realm pool refill, as it does between requests.
const pause = { afterEach: () => new Promise<void>((resolve) => setTimeout(resolve, 5)) };
spawnBench
  .add(
    'kernel.run trivial agent (pool warm)',
    async () => void (await kernel.run({ code: 'export default () => 1' })),
    pause,
  )
  .add(
    'kernel.run trivial agent (back to back)',
    async () => void (await kernel.run({ code: 'export default () => 1' })),
  )
  .add('bare isolate + context + module', bareIsolate, pause);
await spawnBench.run();
await kernel.close();
report('agent spawn latency (isolate + context + prelude + module + main + dispose)', spawnBench, [
  {
    name: 'kernel.run back to back (pool refilling)',
    task: 'kernel.run trivial agent (back to back)',
    floor: 'bare isolate + context + module',
  },
  {
    name: 'kernel.run (pool warm) vs bare isolated-vm setup',
    task: 'kernel.run trivial agent (pool warm)',
    floor: 'bare isolate + context + module',
    target: '≤ 2 ms p50',
  },
]);

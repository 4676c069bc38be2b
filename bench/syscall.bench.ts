// Syscall round trip through the kernel vs the bare isolated-vm crossing carrying the same string, in the
// same process and run, for a same-thread entry (the host calls into the isolate, which calls back on the
// same thread) and an async entry (the isolate runs on its own thread, as agents do).
// Run: npm run bench -- --suite syscall (or: node --no-node-snapshot --import tsx bench/syscall.bench.ts)
import ivm from 'isolated-vm';
import { Bench } from 'tinybench';
import { z } from 'zod';
import { defineTool, ToolRegistry } from '../index.js';
import { PRELUDE_CONFIG, PRELUDE_FILENAME, PRELUDE_SOURCE } from '../isolates/prelude.js';
import { AuditLog, MemoryAuditSink } from '../runtime/audit/audit-log.js';
import { CapabilityAuthority } from '../runtime/capability/authority.js';
import { SigningKey } from '../runtime/capability/signing-key.js';
import { DEFAULT_LIMITS } from '../runtime/process/limits.js';
import { AgentSession } from '../runtime/process/session.js';
import { dispatch } from '../syscalls/dispatch.js';
import { standaloneServices } from '../test/helpers/services.js';
import { benchOptions, Figures } from './report.js';

const figures = new Figures({
  'syscall.noop.same_thread': {
    what: "sys.tool('noop') round trip through the whole kernel path (decode, caller, capability, label, quota, intent + outcome audit records in memory, encode), same-thread entry",
    floor: 'a bare isolated-vm sync callback carrying the same string, same thread',
    target: { kind: 'ratio', max: 3 },
  },
  'syscall.noop.async': {
    what: "await sys.tool('noop') through the whole kernel path, async entry (isolate on its own thread)",
    floor: 'a bare isolated-vm async callback carrying the same string',
    target: { kind: 'ratio', max: 1.2 },
  },
  'syscall.noop.async_vs_sync_callback': {
    what: "await sys.tool('noop') through the whole kernel path, async entry",
    floor: 'a bare isolated-vm sync callback called from the isolate’s own thread',
  },
});

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
const crossing = new Bench(benchOptions({ time: 1500, warmupTime: 300 }));
crossing
  .add('kernel same-thread', () => void kernelSync.applySync(undefined, [BATCH]))
  .add('bare same-thread', () => void bareSync.applySync(undefined, [BATCH]))
  .add('kernel async', async () => void (await kernelAsync.apply(undefined, [BATCH], promise)))
  .add('bare async callback', async () => void (await bareAsync.apply(undefined, [BATCH], promise)))
  .add('bare sync callback from worker', async () => void (await bareSyncOnWorker.apply(undefined, [BATCH], promise)));
await crossing.run();
isolate.dispose();

figures.fromTasks('syscall.noop.same_thread', crossing, 'kernel same-thread', {
  floor: 'bare same-thread',
  per: BATCH,
});
figures.fromTasks('syscall.noop.async', crossing, 'kernel async', { floor: 'bare async callback', per: BATCH });
figures.fromTasks('syscall.noop.async_vs_sync_callback', crossing, 'kernel async', {
  floor: 'bare sync callback from worker',
  per: BATCH,
});
await figures.publish();

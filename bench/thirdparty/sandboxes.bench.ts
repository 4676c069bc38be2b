// Peers, side by side in one process and one run: the same guest→host call (the guest calls a host function
// BATCH times with the syscall string isokernel's stub sends, and gets a string back) and a cold start (a new
// sandbox, evaluate trivial code, dispose) on node:vm, quickjs-emscripten (QuickJS compiled to WebAssembly) and
// an SES Compartment, against isokernel's own figures measured here first.
//
// Peer rows: the floor is isokernel's figure for the same shape (its whole syscall path, same-thread entry; a
// kernel.run with the realm pool warm), so the ratio is the peer's cost over isokernel's, that is isokernel's
// operations per second over the peer's (above 1, isokernel is faster). The bare isolated-vm rows show what the
// isolation isokernel is built on costs before the kernel does anything.
//
// What differs: node:vm is not a security boundary (the guest shares the host's heap and can reach the host
// function's realm); SES hardens one shared realm (lockdown freezes the intrinsics, so it runs last, after every
// other measurement in this process); QuickJS is a separate interpreter in WebAssembly memory; isokernel checks
// a capability, a label and a quota and writes two audit records per call. Cold starts evaluate a script
// `(() => 1)()`; isokernel's evaluates a module and calls its main.
// Run: npm run bench:peers (or, once prepared: node --no-node-snapshot --import ./bench/loader/register.mjs bench/thirdparty/sandboxes.bench.ts)
import vm from 'node:vm';
import ivm from 'isolated-vm';
import { Bench } from 'tinybench';
import { Kernel } from '../../index.js';
import { BATCH, createCrossing, PAYLOAD } from '../crossing.js';
import { benchOptions, Figures } from '../report.js';
import { importPeer } from './peers.js';

const CALL_FLOOR = "isokernel’s sys.tool('noop') through the whole kernel path, same-thread entry, this run";
const START_FLOOR = 'isokernel’s kernel.run of a trivial agent with the realm pool warm, this run';
const figures = new Figures({
  'peers.call.isolated_vm': {
    what: 'bare isolated-vm: a sync host callback carrying the same string, same thread, no kernel',
    floor: CALL_FLOOR,
  },
  'peers.call.node_vm': { what: 'node:vm: a host function called from a vm context', floor: CALL_FLOOR },
  'peers.call.quickjs': {
    what: 'quickjs-emscripten 0.32 (release-sync): a host function called from a QuickJS context',
    floor: CALL_FLOOR,
  },
  'peers.call.ses': { what: 'SES 2.3 Compartment (after lockdown): an endowed host function', floor: CALL_FLOOR },
  'peers.cold_start.isolated_vm': {
    what: 'bare isolated-vm: new isolate + context + module evaluated + dispose',
    floor: START_FLOOR,
  },
  'peers.cold_start.node_vm': { what: 'node:vm: createContext + run a script', floor: START_FLOOR },
  'peers.cold_start.quickjs': { what: 'quickjs-emscripten: newContext + evalCode + dispose', floor: START_FLOOR },
  'peers.cold_start.ses': { what: 'SES: new Compartment + evaluate', floor: START_FLOOR },
});

// The few parts of the peers' APIs used here (they are not dependencies of the project, so not typed by it).
interface QuickJSHandle {
  dispose(): void;
}
interface QuickJSContext {
  readonly global: QuickJSHandle;
  readonly undefined: QuickJSHandle;
  newFunction(name: string, fn: (...args: QuickJSHandle[]) => QuickJSHandle | undefined): QuickJSHandle;
  newString(text: string): QuickJSHandle;
  newNumber(n: number): QuickJSHandle;
  getString(handle: QuickJSHandle): string;
  setProp(target: QuickJSHandle, key: string, value: QuickJSHandle): void;
  evalCode(code: string): unknown;
  callFunction(fn: QuickJSHandle, self: QuickJSHandle, ...args: QuickJSHandle[]): unknown;
  unwrapResult(result: unknown): QuickJSHandle;
  dispose(): void;
}
interface QuickJSModule {
  getQuickJS(): Promise<{ newContext(): QuickJSContext }>;
}
interface SesCompartment {
  evaluate(code: string): unknown;
}
interface SesGlobals {
  lockdown(options: Record<string, string>): void;
  Compartment: new (options: { __options__: true; globals?: Record<string, unknown> }) => SesCompartment;
}

const host = (_name: string, payload: string): string => `v${payload}`;
const guestLoop = `(n) => { for (let i = 0; i < n; i++) host('tool', ${JSON.stringify(PAYLOAD)}); }`;
const pause = { afterEach: () => new Promise<void>((resolve) => setTimeout(resolve, 5)) };

// isokernel and bare isolated-vm.
const crossing = createCrossing();
const kernel = Kernel.create({ isolation: 'inline' });
const bareIsolate = async (): Promise<void> => {
  const isolate = new ivm.Isolate({ memoryLimit: 128 });
  const context = isolate.createContextSync();
  const module = isolate.compileModuleSync('export default () => 1', { filename: 'agent.js' });
  module.instantiateSync(context, () => {
    throw new Error('no imports');
  });
  await module.evaluate();
  isolate.dispose();
};
const calls = new Bench(benchOptions({ time: 1500, warmupTime: 300 }));
const starts = new Bench(benchOptions({ time: 2000, warmupTime: 300 }));
calls
  .add('isokernel', () => void crossing.kernelSync.applySync(undefined, [BATCH]))
  .add('isolated-vm', () => void crossing.bareSync.applySync(undefined, [BATCH]));
starts
  .add(
    'isokernel',
    async () => {
      const result = await kernel.run({ code: 'export default () => 1' });
      if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
    },
    pause,
  )
  .add('isolated-vm', bareIsolate, pause);

// node:vm.
const nodeContext = vm.createContext({ host });
const nodeLoop = vm.runInContext(guestLoop, nodeContext) as (n: number) => void;
calls.add('node:vm', () => nodeLoop(BATCH));
starts.add('node:vm', () => {
  if (vm.runInContext('(() => 1)()', vm.createContext({})) !== 1) throw new Error('node:vm gave a wrong answer');
});

// quickjs-emscripten.
const quickjs = await importPeer<QuickJSModule>('quickjs-emscripten');
let disposeQuickJS = (): void => {};
if (typeof quickjs === 'string') {
  figures.skip('peers.call.quickjs', quickjs);
  figures.skip('peers.cold_start.quickjs', quickjs);
} else {
  const QuickJS = await quickjs.getQuickJS();
  const ctx = QuickJS.newContext();
  const fn = ctx.newFunction('host', (_name, payload) => ctx.newString(`v${ctx.getString(payload!)}`));
  ctx.setProp(ctx.global, 'host', fn);
  fn.dispose();
  const loop = ctx.unwrapResult(ctx.evalCode(guestLoop));
  const n = ctx.newNumber(BATCH);
  calls.add('quickjs', () => ctx.unwrapResult(ctx.callFunction(loop, ctx.undefined, n)).dispose());
  starts.add('quickjs', () => {
    const fresh = QuickJS.newContext();
    fresh.unwrapResult(fresh.evalCode('(() => 1)()')).dispose();
    fresh.dispose();
  });
  disposeQuickJS = () => {
    n.dispose();
    loop.dispose();
    ctx.dispose();
  };
}

await calls.run();
await starts.run();
crossing.dispose();
await kernel.close();
disposeQuickJS();

const peerRow = (id: Parameters<typeof figures.fromTasks>[0], bench: Bench, task: string, per = 1) =>
  figures.fromTasks(id, bench, task, { floor: 'isokernel', per });
peerRow('peers.call.isolated_vm', calls, 'isolated-vm', BATCH);
peerRow('peers.call.node_vm', calls, 'node:vm', BATCH);
if (typeof quickjs !== 'string') {
  peerRow('peers.call.quickjs', calls, 'quickjs', BATCH);
  peerRow('peers.cold_start.quickjs', starts, 'quickjs');
}
peerRow('peers.cold_start.isolated_vm', starts, 'isolated-vm');
peerRow('peers.cold_start.node_vm', starts, 'node:vm');

// SES last: lockdown freezes this realm's intrinsics for good. The floors are isokernel's figures from above.
const ses = await importPeer<unknown>('ses');
if (typeof ses === 'string') {
  figures.skip('peers.call.ses', ses);
  figures.skip('peers.cold_start.ses', ses);
} else {
  const { lockdown, Compartment } = globalThis as unknown as SesGlobals;
  lockdown({ errorTaming: 'unsafe', consoleTaming: 'unsafe', overrideTaming: 'severe' });
  const compartment = new Compartment({ __options__: true, globals: { host } });
  const sesLoop = compartment.evaluate(guestLoop) as (n: number) => void;
  const sesBench = new Bench(benchOptions({ time: 1500, warmupTime: 300 }));
  sesBench
    .add('call', () => sesLoop(BATCH))
    .add('start', () => {
      if (new Compartment({ __options__: true }).evaluate('(() => 1)()') !== 1)
        throw new Error('SES gave a wrong answer');
    });
  await sesBench.run();
  const latency = (bench: Bench, task: string, per: number) => {
    const result = bench.getTask(task)?.result;
    return result !== undefined && 'latency' in result
      ? { p50: (result.latency.p50 * 1e6) / per, p99: (result.latency.p99 * 1e6) / per }
      : undefined;
  };
  const sesRow = (id: 'peers.call.ses' | 'peers.cold_start.ses', task: string, floorBench: Bench, per: number) => {
    const measured = latency(sesBench, task, per);
    const floor = latency(floorBench, 'isokernel', per);
    if (measured === undefined || floor === undefined) {
      figures.skip(id, `task ${task} did not complete`);
      process.exitCode = 1;
    } else figures.fromValues(id, { p50: measured.p50, p99: measured.p99, floor: floor.p50 });
  };
  sesRow('peers.call.ses', 'call', calls, BATCH);
  sesRow('peers.cold_start.ses', 'start', starts, 1);
}
await figures.publish();

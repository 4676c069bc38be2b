// Attack (issue 12, item 3): poison the built-ins superjson's module code uses, then make the kernel load
// superjson into the realm (the first sys.snapshot or sys.restored). If the loader ran on the poisoned
// built-ins, it would throw an agent-made error whose `message` getter never returns, and isolated-vm would
// run that getter while copying the error out of the isolate: a new entry of hole H1 (reported E_QUOTA, then
// the process never exits). The prelude refuses to load superjson once the built-ins it fingerprinted before
// agent code ran have changed, so the agent gets E_BAD_ARG and nothing agent-made leaves the isolate.
import { describe, expect, it } from 'vitest';
import { runBatchInChild } from '../helpers/fork.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';

// An error whose message getter never returns, thrown by whatever the poison replaces.
const WEDGE = `const wedge = () => { const e = new Error('x'); Object.defineProperty(e, 'message', { get() { for (;;); } }); throw e; };`;

const POISONS: Record<string, string> = {
  'Map.prototype.set': 'Map.prototype.set = wedge;',
  'Set.prototype.add': 'Set.prototype.add = wedge;',
  'the Map constructor on the global object': 'globalThis.Map = function Map() { wedge(); };',
  'a getter on Object.prototype': `Object.defineProperty(Object.prototype, 'isokernelProbe', { get: wedge, configurable: true });
    for (const name of ['default', 'prototype', 'constructor', 'length', 'name', 'then']) {}`,
  'an accessor global superjson looks up (URL)': `Object.defineProperty(globalThis, 'URL', { get: wedge, configurable: true });`,
  'the array iterator': 'Object.getPrototypeOf([][Symbol.iterator]()).next = wedge;',
  // The fingerprint reads a data property without its descriptor and an accessor with it: each kind changed
  // into the other, and a property the engine implements natively (a constructor's name) made an accessor.
  'a built-in accessor made a data property holding its getter (Map.prototype.size)': `{
    const size = Object.getOwnPropertyDescriptor(Map.prototype, 'size').get;
    Object.defineProperty(Map.prototype, 'size', { value: size, configurable: true });
  }`,
  "the Map constructor's native name made an accessor": `Object.defineProperty(Map, 'name', { get: wedge, configurable: true });`,
};

const agentFor = (poison: string, call: string) => `export default async function main() {
  ${WEDGE}
  ${poison}
  try { await ${call}; return 'loaded'; } catch (e) { return e.code; }
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  for (const [name, poison] of Object.entries(POISONS)) {
    it(`a poisoned ${name} before the first sys.snapshot / sys.restored: E_BAD_ARG, the kernel is not wedged`, async () => {
      const batch = await runBatchInChild(
        [agentFor(poison, 'sys.snapshot({ a: 1 })'), agentFor(poison, 'sys.restored()')],
        { cpu_ms: 2000, wall_ms: 5000, memory_mb: 64 },
        40_000,
        isolation,
      );
      expect(batch.timedOut, batch.stderr.slice(-500)).toBe(false);
      expect(batch.exitCode).toBe(0);
      expect(batch.results).toMatchObject([
        { ok: true, value: 'E_BAD_ARG' },
        { ok: true, value: 'E_BAD_ARG' },
      ]);
    }, 45_000);
  }

  it('without poison, superjson loads and keeps rich types, after the web globals were used and one replaced', async () => {
    const batch = await runBatchInChild(
      [
        `export default async function main() {
          globalThis.mine = 1; // a plain new global is not a change to a built-in
          // Web globals in use: timers and the clock (eager), URL and console (lazy: their accessors become
          // data properties), and a web global the agent replaces with its own value (WebIDL allows it).
          await new Promise((resolve) => setTimeout(resolve, 1));
          console.log(new URL('https://a.example/x').pathname, new Date(0).toISOString());
          globalThis.fetch = () => 'mine';
          const id = await sys.snapshot({ m: new Map([[1, 2]]), d: new Date(0) });
          return typeof id;
        }`,
      ],
      { cpu_ms: 2000, wall_ms: 5000, memory_mb: 64 },
      40_000,
      isolation,
    );
    expect(batch.results).toMatchObject([{ ok: true, value: 'string' }]);
  }, 45_000);
});

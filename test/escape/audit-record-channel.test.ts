// Attack: launder a count through the audit log's sequence numbers. `sys.audit` returns records of the
// caller's own namespace, each raising the reader by its label, but every record carries `seq`, the kernel's
// global record counter, which every agent moves. A clean agent reads the seq of its own records before and
// after a labelled agent ran, never touching a record of that agent: stepping `after` down from above the end
// of the log, the first record it gets is its own latest intent. The gap between its own records counts the
// records the labelled agent wrote, here one pair per `sys.log` it made `n` times, `n` being the secret. The
// count then goes to a sink that refuses `secret`. A seq counts every record in the log, so reading one must
// raise the reader by the labels of everything the log holds; and a record of a labelled agent must carry
// its label at all (the records of syscalls that named no label of their own carried none).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const PROBE = `export default async () => {
  const page = await sys.audit({ after: -1, limit: 1000 });
  const start = page[page.length - 1].seq;
  const me = page[page.length - 1].agent;
  const secretCap = (await sys.caps()).find((cap) => cap.action === 'secret');
  await sys.spawn({ program: 'leaker', caps: [{ from: secretCap.id }] });
  await new Promise((resolve) => setTimeout(resolve, 300));
  let after = start + 200;
  let probes = 0;
  let own;
  for (;;) {
    probes++;
    const got = await sys.audit({ after, limit: 1 });
    if (got.length > 0) { own = got[0]; break; }
    after--;
  }
  const gap = own.seq - start - 2 * probes;
  let sent;
  try { await sys.tool('echo', { text: String(gap) }); sent = 'sent'; } catch (error) { sent = error.code; }
  return { own: own.agent === me, gap, label: await sys.label(), sent };
}`;

// A tool whose result is labelled `secret`, and an echo that refuses `secret` in its text.
const secretTool = (secret: number) =>
  defineTool({ name: 'secret', description: 'a secret count', input: z.unknown(), run: () => secret });
const SECRET_POLICY = {
  capabilities: [
    { action: 'secret', resource: 'secret' },
    { action: 'echo', resource: 'echo' },
  ],
  labels: {
    sources: [{ tool: 'secret', tags: ['secret'] }],
    sinks: [{ tool: 'echo', arg: 'text', deny: ['secret'] }],
  },
};

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  async function probe(secret: number) {
    const tool = secretTool(secret);
    kernel = testKernel({
      isolation,
      tools: [tool],
      limits: { wall_ms: 20_000, cpu_ms: 10_000 },
      policy: SECRET_POLICY,
    });
    kernel.programs.add(
      'leaker',
      `export default async () => { const n = await sys.tool('secret', {}); for (let i = 0; i < n; i++) await sys.log('x'); }`,
    );
    const result = await kernel.run({ code: PROBE });
    // The leaker's own log records, as the host reads them.
    const logs = kernel.audit
      .records({ limit: 10_000 })
      .filter((record) => record.syscall === 'log' && record.phase === 'intent');
    await kernel.close();
    kernel = undefined;
    return { result, logs };
  }

  describe('audit records as a channel', () => {
    it('reading its own records after a labelled agent ran raises the reader: the count cannot reach a sink', async () => {
      const { result } = await probe(9);
      expect(result.ok, JSON.stringify(result)).toBe(true);
      if (!result.ok) return;
      const value = result.value as { own: boolean; label: string[]; sent: string };
      // The attack worked as designed: the record it found was its own, not the leaker's...
      expect(value.own).toBe(true);
      // ...and still the seq it read carries what the leaker wrote.
      expect(value.label).toContain('secret');
      expect(value.sent).toBe('E_TAINT');
    }, 60_000);

    it("a labelled agent's records carry its label (their argument digests spell what it logged)", async () => {
      const { logs } = await probe(3);
      // sys.log('x') three times after reading the secret: an agent reading those records (a digest of a
      // low-entropy argument is a guess away from its value) must be raised by the label they carry.
      expect(logs.length).toBe(3);
      for (const record of logs) expect(record.label).toContain('secret');
    }, 60_000);

    it('a kernel resumed over the same log raises readers by the labels of the records it recovered', async () => {
      // The seq of the first record after a restart counts every record of the earlier runs: a labelled agent's
      // `n` records there reach a new agent that never met it, unless the resumed log's labels still count.
      const store = mkdtempSync(join(tmpdir(), 'isokernel-audit-resume-'));
      const tool = secretTool(5);
      const options = {
        isolation,
        store,
        audit: { file: join(store, 'audit.jsonl'), fsync: 'never' as const },
        tools: [tool],
        policy: SECRET_POLICY,
      };
      try {
        kernel = testKernel(options);
        const leak = await kernel.run({
          code: `export default async () => { const n = await sys.tool('secret', {}); for (let i = 0; i < n; i++) await sys.log('x'); }`,
        });
        expect(leak.ok, JSON.stringify(leak)).toBe(true);
        await kernel.close();
        kernel = testKernel(options);
        const result = await kernel.run({
          code: `export default async () => {
            const page = await sys.audit({ after: -1, limit: 1 });
            let sent;
            try { await sys.tool('echo', { text: String(page[0].seq) }); sent = 'sent'; } catch (error) { sent = error.code; }
            return { seq: page[0].seq, label: await sys.label(), sent };
          }`,
        });
        expect(result.ok, JSON.stringify(result)).toBe(true);
        if (!result.ok) return;
        const value = result.value as { seq: number; label: string[]; sent: string };
        expect(value.seq).toBeGreaterThan(10);
        expect(value.label).toContain('secret');
        expect(value.sent).toBe('E_TAINT');
      } finally {
        await kernel?.close();
        kernel = undefined;
        rmSync(store, { recursive: true, force: true });
      }
    }, 60_000);
  });
});

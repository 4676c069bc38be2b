// Attack (red-team pass 71): spell labelled data through the kernel's host events. `log` events carried the
// agent's label, but `syscall`, `spawn`, `warn` and `catastrophe` events carried none, while which syscalls an
// agent makes, what they answer, when it spawns and when it nears a limit are all its choices: an agent that read
// a PIN made one call per bit (`sys.label()` answers ok, a missing tool E_NO_TOOL), and a host listener that
// forwards events decoded the PIN from events with no label. Every event now carries the label of what it tells.
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel, KernelEvent } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';
import { PIN, pinVault } from '../helpers/web-and-mail.js';

type SyscallEvent = Extract<KernelEvent, { type: 'syscall' }>;

const SPELL = `export default async () => {
  const { pin } = await sys.tool('vault.read', {});
  for (const digit of pin) {
    for (let bit = 3; bit >= 0; bit--) {
      if ((Number(digit) >> bit) & 1) { try { await sys.tool('nope', {}); } catch {} } else await sys.label();
    }
  }
  return 'spelled';
}`;

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
  });

  it('syscall events after a labelled read carry its label: the bits they spell are labelled', async () => {
    kernel = testKernel({
      isolation,
      tools: [pinVault],
      policy: { capabilities: [{ action: 'vault.read', resource: 'vault.read' }] },
    });
    const events: SyscallEvent[] = [];
    kernel.on('syscall', (event) => events.push(event as SyscallEvent));
    const result = await kernel.run({ code: SPELL });
    expect(result).toMatchObject({ ok: true, value: 'spelled', label: ['secret'] });
    const read = events.findIndex((event) => event.syscall === 'tool' && event.code === null);
    const after = events.slice(read);
    // The channel is there (the codes spell the PIN); what the host gets with it is the label.
    const bits = after.slice(1).map((event) => (event.code === null ? 0 : 1));
    let spelled = '';
    for (let i = 0; i + 4 <= bits.length; i += 4)
      spelled += String(bits[i]! * 8 + bits[i + 1]! * 4 + bits[i + 2]! * 2 + bits[i + 3]!);
    expect(spelled).toBe(PIN);
    for (const event of after) expect(event.label).toEqual(['secret']);
    expect(events.slice(0, read).every((event) => event.label.length === 0)).toBe(true);
  });

  it('a spawn by a labelled agent, and a warning a labelled child moved, carry the label', async () => {
    kernel = testKernel({
      isolation,
      tools: [pinVault],
      limits: { syscalls: 24, warn_at: 0.5 },
      policy: {
        capabilities: [
          { action: 'vault.read', resource: 'vault.read' },
          { action: 'agent.spawn', resource: 'inline' },
        ],
      },
    });
    const seen: KernelEvent[] = [];
    kernel.on('spawn', (event) => seen.push(event));
    kernel.on('warn', (event) => seen.push(event));
    const result = await kernel.run({
      code: `export default async () => {
        const caps = (await sys.caps()).map((cap) => ({ from: cap.id }));
        const child = await sys.spawn({ caps, code: \`export default async () => {
          const { pin } = await sys.tool('vault.read', {});
          // Whether the parent's budget nears its limit is this child's choice, made on the PIN.
          if (pin.startsWith('4')) for (let i = 0; i < 8; i++) await sys.label();
          const caps = (await sys.caps()).map((cap) => ({ from: cap.id }));
          await sys.spawn({ caps, code: 'export default () => 1' });
          return 'read';
        }\` });
        return await sys.join(child);
      }`,
    });
    expect(result.ok, JSON.stringify(result)).toBe(true);
    const spawns = seen.filter((event) => event.type === 'spawn');
    // The top agent, its clean child, the child's child started after the read.
    expect(spawns.map((event) => event.label)).toEqual([[], [], ['secret']]);
    const warns = seen.filter((event) => event.type === 'warn');
    expect(warns.length).toBeGreaterThan(0);
    for (const warn of warns) expect(warn.label).toContain('secret');
  });
});

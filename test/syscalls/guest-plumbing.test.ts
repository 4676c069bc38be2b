// The internal syscalls the web globals stand on (syscalls/wake.ts, random.ts, console.ts), through the real
// dispatcher: validated, audited and answered like any syscall, and absent from sys.
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../runtime/audit/audit-log.js';
import { CapabilityAuthority } from '../../runtime/capability/authority.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';
import { makeLabel } from '../../runtime/labels/label.js';
import { DEFAULT_LIMITS } from '../../runtime/process/limits.js';
import type { KernelEvent } from '../../runtime/process/run-result.js';
import { AgentSession } from '../../runtime/process/session.js';
import { ToolRegistry } from '../../runtime/tool-use/tool-contract.js';
import { dispatch } from '../../syscalls/dispatch.js';
import { MAX_LOG_CHARS } from '../../syscalls/log.js';
import { SEED_BYTES } from '../../syscalls/random.js';
import { SYSCALLS } from '../../syscalls/table.js';
import { MAX_WAKE_MS } from '../../syscalls/wake.js';
import { standaloneServices } from '../helpers/services.js';

function session(events: KernelEvent[] = []): AgentSession {
  const s = new AgentSession(
    'agent-1',
    SigningKey.generate(),
    DEFAULT_LIMITS,
    standaloneServices({
      tools: new ToolRegistry(),
      authority: new CapabilityAuthority({ rootKey: SigningKey.generate() }),
      audit: new AuditLog({ key: SigningKey.generate() }),
      maxPayloadBytes: 1024 * 1024,
      emit: (e: KernelEvent) => events.push(e),
    }),
  );
  s.state = 'running';
  return s;
}

describe('internal syscalls', () => {
  it('are marked internal in the table: wake, random, console', () => {
    const internal = [...SYSCALLS.values()].filter(({ guest }) => guest.internal === true).map(({ name }) => name);
    expect(internal.sort()).toEqual(['console', 'random', 'wake']);
  });

  it('wake answers late: true when it fires, false at once when superseded, E_KILLED when the agent ends', async () => {
    const s = session();
    const first = dispatch(s, 'wake', '[60000]');
    const second = dispatch(s, 'wake', '[5]');
    expect(first).toBeInstanceOf(Promise);
    await expect(first).resolves.toBe('vfalse');
    await expect(second).resolves.toBe('vtrue');
    const pending = dispatch(s, 'wake', '[60000]');
    s.end();
    await expect(pending).resolves.toMatch(/^e\["E_KILLED"/);
    expect(dispatch(s, 'wake', '[1]')).toMatch(/^e\["E_KILLED"/);
  });

  it('wake refuses a delay that is not a number within 0..2^31-1', () => {
    const s = session();
    for (const payload of ['[-1]', `[${MAX_WAKE_MS + 1}]`, '["10"]', '[null]', '[]', '[1,2]']) {
      expect(dispatch(s, 'wake', payload), payload).toMatch(/^e\["E_BAD_ARG"/);
    }
  });

  it('random answers at once with 32 fresh bytes', () => {
    const s = session();
    const a = JSON.parse((dispatch(s, 'random', '[]') as string).slice(1)) as string;
    const b = JSON.parse((dispatch(s, 'random', '[]') as string).slice(1)) as string;
    expect(Buffer.from(a, 'base64')).toHaveLength(SEED_BYTES);
    expect(a).not.toBe(b);
    expect(dispatch(s, 'random', '[1]')).toMatch(/^e\["E_BAD_ARG"/);
  });

  it('console emits one bounded log event with its level; an unknown level is refused', () => {
    const events: KernelEvent[] = [];
    const s = session(events);
    expect(dispatch(s, 'console', JSON.stringify(['warn', 'x'.repeat(10_000)]))).toBe('v');
    expect(dispatch(s, 'console', JSON.stringify(['shout', 'x']))).toMatch(/^e\["E_BAD_ARG"/);
    const logs = events.filter((e) => e.type === 'log');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ type: 'log', level: 'warn' });
    expect((logs[0] as { text: string }).text).toHaveLength(MAX_LOG_CHARS);
  });

  it("console and log events carry the agent's label: the text may spell what it read", () => {
    const events: KernelEvent[] = [];
    const s = session(events);
    dispatch(s, 'log', JSON.stringify(['clean']));
    s.label = makeLabel(['secret'], 'label');
    dispatch(s, 'console', JSON.stringify(['log', 'PIN 4711']));
    dispatch(s, 'log', JSON.stringify(['PIN 4711']));
    const logs = events.filter((e) => e.type === 'log');
    expect(logs.map((e) => [e.text, e.label])).toEqual([
      ['clean', []],
      ['PIN 4711', ['secret']],
      ['PIN 4711', ['secret']],
    ]);
  });
});

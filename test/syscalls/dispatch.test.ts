import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog, MemoryAuditSink } from '../../runtime/audit/audit-log.js';
import { digestArgs } from '../../runtime/audit/record.js';
import { CapabilityAuthority } from '../../runtime/capability/authority.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';
import { DEFAULT_LIMITS } from '../../runtime/process/limits.js';
import type { KernelEvent } from '../../runtime/process/run-result.js';
import { AgentSession } from '../../runtime/process/session.js';
import { ToolRegistry } from '../../runtime/tool-use/tool-contract.js';
import { dispatch, dispatchEnded, EndedAgent } from '../../syscalls/dispatch.js';
import { encodeValue } from '../../syscalls/wire.js';
import { testKernel, testTools } from '../helpers/kernel.js';
import { standaloneServices } from '../helpers/services.js';

function session(events: KernelEvent[] = [], audit = new AuditLog({ key: SigningKey.generate() })): AgentSession {
  const tools = new ToolRegistry().add(...testTools);
  const authority = new CapabilityAuthority({ rootKey: SigningKey.generate() });
  const s = new AgentSession(
    'agent-1',
    SigningKey.generate(),
    DEFAULT_LIMITS,
    standaloneServices({
      tools,
      authority,
      audit,
      maxPayloadBytes: 4096,
      emit: (e: KernelEvent) => events.push(e),
    }),
  );
  for (const tool of testTools) authority.grant({ audience: s.publicKey, action: tool.name, resource: tool.name });
  s.state = 'running';
  return s;
}

const call = (name: string, args: unknown[]) => JSON.stringify([name, ...args]);

describe('dispatch', () => {
  it('answers synchronously when the tool is synchronous', () => {
    expect(dispatch(session(), 'tool', call('echo', [{ a: 1 }, null]))).toBe(encodeValue({ a: 1 }));
  });

  it('answers with a promise when the tool is asynchronous', async () => {
    const reply = dispatch(session(), 'tool', call('sleep', [{ ms: 1 }, null]));
    expect(reply).toBeInstanceOf(Promise);
    expect(await reply).toBe(encodeValue({ slept: 1 }));
  });

  it.each([
    ['unknown syscall', 'nope', '[]', 'E_BAD_ARG'],
    ['non-string syscall name', 42, '[]', 'E_BAD_ARG'],
    ['non-string payload', 'tool', true, 'E_BAD_ARG'],
    ['a number: the stand-in for a payload past the cap', 'tool', 42, 'E_BAD_ARG'],
    ['oversize payload', 'tool', call('echo', ['x'.repeat(5000), null]), 'E_BAD_ARG'],
    ['invalid JSON', 'tool', '[', 'E_BAD_ARG'],
    ['wrong arity', 'tool', '["echo"]', 'E_BAD_ARG'],
    ['unknown option', 'tool', call('echo', [1, { sneaky: true }]), 'E_BAD_ARG'],
    ['unknown tool', 'tool', call('rm', [1, null]), 'E_NO_TOOL'],
    ['tool schema violation', 'tool', call('sleep', [{ ms: 'x' }, null]), 'E_BAD_ARG'],
    ['throwing tool', 'tool', call('fail', [null, null]), 'E_TOOL_FAILED'],
  ])('%s → %s', (_name, syscall, payload, code) => {
    const reply = dispatch(session(), syscall, payload);
    expect(typeof reply).toBe('string');
    expect(JSON.parse((reply as string).slice(1))[0]).toBe(code);
  });

  it('a rejecting tool resolves to E_TOOL_FAILED without host detail', async () => {
    const reply = await dispatch(session(), 'tool', call('reject', [null, null]));
    expect(reply).toBe('e["E_TOOL_FAILED","tool \\"reject\\" failed"]');
  });

  it('refuses and records every syscall once the agent has ended', () => {
    const events: KernelEvent[] = [];
    const s = session(events);
    s.end();
    expect(dispatch(s, 'tool', call('echo', [1, null]))).toBe('e["E_KILLED","sys.tool: the agent has ended"]');
    expect(s.syscalls).toBe(1);
    expect(events).toEqual([
      { type: 'syscall', agent: 'agent-1', syscall: 'tool', code: 'E_KILLED', refused: true, label: [] },
    ]);
  });

  it('an ended agent kept as an EndedAgent is refused and recorded as its session was, at the label it ended with', () => {
    const sink = new MemoryAuditSink();
    const events: KernelEvent[] = [];
    const s = session(events, new AuditLog({ key: SigningKey.generate(), sink }));
    expect(() => new EndedAgent(s)).toThrow(TypeError);
    s.label = ['secret'];
    s.end();
    const ended = new EndedAgent(s);
    s.label = ['secret', 'web'];
    expect(dispatchEnded(ended, 'tool', call('echo', [1, null]))).toBe(dispatch(s, 'tool', call('echo', [1, null])));
    expect(dispatchEnded(ended, 'nope', 7)).toBe('e["E_KILLED","sys.unknown: the agent has ended"]');
    expect([ended.syscalls, s.syscalls]).toEqual([2, 1]);
    const outcomes = sink.records.filter((record) => record.phase === 'outcome');
    expect(outcomes.map((record) => [record.agent, record.syscall, record.code, record.label])).toEqual([
      ['agent-1', 'tool', 'E_KILLED', ['secret']],
      ['agent-1', 'tool', 'E_KILLED', ['secret', 'web']],
      ['agent-1', 'unknown', 'E_KILLED', ['secret']],
    ]);
    expect(events.map((event) => event.type === 'syscall' && event.refused)).toEqual([true, true, true]);
  });

  it('records a payload past the cap by its length, whole or as the length the prelude sends instead', () => {
    // Digesting a whole oversized payload for the record cost about three times its size (red-team pass 96).
    const sink = new MemoryAuditSink();
    const s = session([], new AuditLog({ key: SigningKey.generate(), sink }));
    const whole = call('echo', ['x'.repeat(5000), null]);
    for (const payload of [whole, whole.length]) {
      expect(dispatch(s, 'tool', payload)).toBe('e["E_BAD_ARG","sys.tool: payload exceeds 4096 bytes"]');
    }
    const intents = sink.records.filter((record) => record.phase === 'intent');
    const digest = digestArgs({ oversized: whole.length });
    expect(intents.map((record) => record.args_sha256)).toEqual([digest, digest]);
    expect(s.syscalls).toBe(2);
  });

  it('counts malformed attempts too', () => {
    const s = session();
    dispatch(s, 'nope', 'garbage');
    dispatch(s, 'tool', '[');
    expect(s.syscalls).toBe(2);
  });
});

describe('guest errors', () => {
  let kernel: ReturnType<typeof testKernel>;
  afterEach(async () => kernel?.close());

  it('arrive as guest-realm Errors with a code and a fixed message', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      code: `export default async () => {
        try { await sys.tool('fail', {}) } catch (e) {
          return { guestError: e instanceof Error, code: e.code, message: e.message, keys: Object.keys(e) };
        }
      }`,
    });
    expect(result).toMatchObject({
      ok: true,
      value: { guestError: true, code: 'E_TOOL_FAILED', message: 'tool "fail" failed', keys: ['code'] },
    });
  });

  it('non-JSON arguments are refused in the guest before crossing', async () => {
    kernel = testKernel();
    const result = await kernel.run({
      code: `export default async () => {
        const a = {}; a.self = a;
        const out = [];
        for (const v of [10n, a]) { try { await sys.tool('echo', v) } catch (e) { out.push(e.code) } }
        return out;
      }`,
    });
    expect(result).toMatchObject({ ok: true, value: ['E_BAD_ARG', 'E_BAD_ARG'] });
  });
});

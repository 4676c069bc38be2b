/**
 * Attack: a steered model spells data it read (a secret tool result) in what the loop reports as progress: a
 * tool call's name, the finish_reason, how many calls it makes. The loop's `log` events carry the loop's label;
 * the `AgentLoopEvent`s `onEvent` gets must carry it too, so a host that forwards progress can check it.
 */
import { expect, it } from 'vitest';
import type { AgentLoopEvent } from '../../agents/agent-loop.js';
import { loopKernel } from '../helpers/loop-kernel.js';
import {
  type ChatRequest,
  callTools,
  lastToolResult,
  type StepReply,
  startModelServer,
} from '../helpers/model-server.js';
import { PIN, pinVault } from '../helpers/web-and-mail.js';

it('every progress event carries the label of the loop when it happened', async () => {
  const leak = (request: ChatRequest): StepReply => {
    const pin = /"pin":"(\d+)"/.exec(lastToolResult(request))?.[1] ?? 'none';
    const calls = Array.from({ length: Number(pin[0]) }, (_, i) => ({
      name: i === 0 ? `pin_${pin}` : 'x',
      arguments: {},
    }));
    const reply = callTools(calls) as { kind: 'json'; body: { choices: { finish_reason: string }[] } };
    reply.body.choices[0]!.finish_reason = `PIN=${pin}`;
    return reply;
  };
  const server = await startModelServer([callTools([{ name: 'vault_read', arguments: {} }]), leak]);
  const kernel = loopKernel(server, { rules: [{ action: 'vault.read', resource: 'vault.read' }] });
  kernel.tools.add(pinVault);
  const events: AgentLoopEvent[] = [];
  try {
    const result = await kernel.runAgentLoop({
      model: 'gpt-test',
      prompt: 'hi',
      tools: ['vault.read'],
      maxTurns: 3,
      onEvent: (event) => events.push(event),
    });
    expect(result.label).toContain('secret');
    const leaked = events.filter((event) => JSON.stringify(event).includes(PIN));
    // The steered model did spell the PIN in a tool name and in finish_reason ...
    expect(leaked.some((event) => event.type === 'tool')).toBe(true);
    expect(leaked.some((event) => event.type === 'model')).toBe(true);
    // ... and every such event says so.
    for (const event of leaked) expect(event.label).toContain('secret');
    // Every event has a label; the first turn's events, before the vault was read, are unlabelled.
    for (const event of events) expect(Array.isArray(event.label)).toBe(true);
    expect(events[0]?.label).toEqual([]);
    // Every event from the vault read on carries 'secret'.
    const firstSecret = events.findIndex((event) => event.type === 'tool' && event.tool === 'vault.read');
    expect(firstSecret).toBeGreaterThanOrEqual(0);
    for (const event of events.slice(firstSecret)) expect(event.label).toContain('secret');
  } finally {
    await kernel.close();
    await server.close();
  }
});

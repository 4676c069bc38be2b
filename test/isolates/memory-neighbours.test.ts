import { describe, expect, it } from 'vitest';
import { MemoryNeighbours } from '../../isolates/memory-neighbours.js';
import { AuditLog } from '../../runtime/audit/audit-log.js';
import { CapabilityAuthority } from '../../runtime/capability/authority.js';
import { SigningKey } from '../../runtime/capability/signing-key.js';
import { DEFAULT_LIMITS } from '../../runtime/process/limits.js';
import { AgentSession } from '../../runtime/process/session.js';
import { ToolRegistry } from '../../runtime/tool-use/tool-contract.js';
import { standaloneServices } from '../helpers/services.js';

const services = standaloneServices({
  tools: new ToolRegistry(),
  authority: new CapabilityAuthority({ rootKey: SigningKey.generate() }),
  audit: new AuditLog({ key: SigningKey.generate() }),
  maxPayloadBytes: 4096,
  emit: () => {},
});
let next = 0;
const agent = (label: string[] = []): AgentSession => {
  const session = new AgentSession(`agent-${next++}`, SigningKey.generate(), DEFAULT_LIMITS, services);
  session.label = label;
  return session;
};

describe('MemoryNeighbours', () => {
  it('an end by a shared memory figure takes the labels of the agents beside it, live or gone since it entered', () => {
    const neighbours = new MemoryNeighbours();
    const before = agent(['early']);
    neighbours.enter(before);
    neighbours.leave(before, false);
    const victim = agent();
    const gone = agent(['secret']);
    const live = agent(['web']);
    for (const session of [victim, gone, live]) neighbours.enter(session);
    neighbours.leave(gone, false);
    // Labels rise after entering: what a neighbour holds now is read at the end.
    live.label = ['inbox', 'web'];
    neighbours.leave(victim, true);
    expect(victim.label).toEqual(['inbox', 'secret', 'web']);
  });

  it('any other end takes nothing, and an agent that never entered is left as it is', () => {
    const neighbours = new MemoryNeighbours();
    const victim = agent();
    const other = agent(['secret']);
    neighbours.enter(victim);
    neighbours.enter(other);
    neighbours.leave(victim, false);
    expect(victim.label).toEqual([]);
    const stranger = agent();
    neighbours.leave(stranger, true);
    expect(stranger.label).toEqual([]);
  });

  it('counts what the kernel holds for a neighbour and what it worked on, not only what it read', () => {
    const neighbours = new MemoryNeighbours();
    const victim = agent();
    const worker = agent();
    worker.worked(['vault']);
    neighbours.enter(victim);
    neighbours.enter(worker);
    neighbours.leave(victim, true);
    expect(victim.label).toEqual(['vault']);
  });
});

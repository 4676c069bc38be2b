import { describe, expect, it } from 'vitest';
import { AuditLog, MemoryAuditSink } from '../../../runtime/audit/audit-log.js';
import { AuditView } from '../../../runtime/audit/audit-view.js';
import { SigningKey } from '../../../runtime/capability/signing-key.js';

const key = SigningKey.generate();

function viewed(retain: number, maxBytes: number): { log: AuditLog; view: AuditView } {
  const view = new AuditView(new MemoryAuditSink(), retain, maxBytes);
  return { log: new AuditLog({ key, sink: view }), view };
}

function append(log: AuditLog, namespace: string, resource: string, label: string[] = []): void {
  const intent = log.intent({ namespace, agent: 'a', syscall: 'tool', action: 'fs.read', resource, label });
  log.outcome(intent, { status: 'ok', durationMs: 1 });
}

describe('AuditView', () => {
  it('answers the recent records after a seq, of the given namespaces, oldest first, at most `limit`', () => {
    const { log, view } = viewed(100, 1 << 30);
    for (let i = 0; i < 5; i++) append(log, i % 2 === 0 ? 'even' : 'odd', `/r/${i}`);
    const even = view.query(new Set(['even']), -1, 100);
    expect(even.map((r) => r.resource)).toEqual(['/r/0', '/r/0', '/r/2', '/r/2', '/r/4', '/r/4']);
    expect(view.query(undefined, even[2]!.seq, 3).map((r) => r.seq)).toEqual([
      even[2]!.seq + 1,
      even[2]!.seq + 2,
      even[2]!.seq + 3,
    ]);
  });

  it('keeps at most twice `retain` records, always the newest', () => {
    const { log, view } = viewed(4, 1 << 30);
    for (let i = 0; i < 50; i++) append(log, 'ns', `/r/${i}`);
    const kept = view.query(undefined, -1, 1000);
    expect(kept.length).toBeGreaterThanOrEqual(4);
    expect(kept.length).toBeLessThan(8);
    expect(kept.at(-1)?.resource).toBe('/r/49');
    expect(kept.map((r) => r.seq)).toEqual([...kept.map((r) => r.seq)].sort((a, b) => a - b));
  });

  it('keeps at most about twice `maxBytes` of records whose resources are long, always the newest', () => {
    // Each record of a 4,000-character resource counts 9 KB: 100 KB holds 11 of them.
    const { log, view } = viewed(10_000, 100_000);
    for (let i = 0; i < 500; i++) append(log, 'ns', `/r/${i}/${'x'.repeat(4000)}`);
    const kept = view.query(undefined, -1, 1000);
    // Before the byte bound: all 1,000 records, 4 MB of resources, whatever their size.
    expect(kept.length).toBeLessThanOrEqual(22);
    expect(kept.length).toBeGreaterThanOrEqual(10);
    expect(kept.at(-1)?.resource?.startsWith('/r/499/')).toBe(true);
  });

  it('knows every tag appended, also of records it no longer keeps', () => {
    const { log, view } = viewed(1, 1 << 30);
    append(log, 'ns', '/r', ['web']);
    for (let i = 0; i < 10; i++) append(log, 'ns', '/r');
    expect(view.query(undefined, -1, 100).some((r) => r.label.includes('web'))).toBe(false);
    expect(view.tags()).toEqual(['web']);
  });
});

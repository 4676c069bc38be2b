import { describe, expect, it } from 'vitest';
import { AuditLog, MemoryAuditSink } from '../../../runtime/audit/audit-log.js';
import { AuditChain } from '../../../runtime/audit/hash-chain.js';
import { EMPTY_ROOT, verifyInclusion } from '../../../runtime/audit/merkle.js';
import { type AuditRecord, type AuditRecordBody, GENESIS_PREV, sealRecord } from '../../../runtime/audit/record.js';
import { fillLog, KERNEL_KEY } from '../../helpers/audit-log.js';

function reseal(record: AuditRecord, changes: Partial<AuditRecordBody>): AuditRecord {
  const { hash: _hash, ...body } = record;
  return sealRecord({ ...body, ...changes }).record;
}

function sample(): AuditRecord[] {
  const sink = new MemoryAuditSink();
  const log = new AuditLog({ key: KERNEL_KEY, sink });
  fillLog(log, 12);
  return [...sink.records];
}

describe('audit-chain', () => {
  it('accepts a log in order and tracks seq, namespaces, open intents and the tree', () => {
    const records = sample();
    const chain = new AuditChain();
    expect(chain.root()).toBe(EMPTY_ROOT);
    for (const record of records) {
      expect(chain.check(record)).toBeNull();
      chain.accept(record);
    }
    expect(chain.size).toBe(records.length);
    expect(chain.namespaces).toBe(3);
    expect(chain.openIntents).toBe(
      records.filter((r) => r.phase === 'intent').length - records.filter((r) => r.phase === 'outcome').length,
    );
    const proof = chain.inclusionProof(5);
    expect(verifyInclusion(chain.leaf(5), 5, chain.size, proof, chain.root())).toBe(true);
    expect(chain.consistencyProof(3).length).toBeGreaterThan(0);
  });

  it('names why a record cannot extend the chain', () => {
    const records = sample();
    const chain = new AuditChain();
    const first = records[0]!;
    expect(chain.check(reseal(first, { seq: 1 }))).toBe('expected seq 0');
    expect(chain.check(reseal(first, { prev: first.args_sha256 }))).toMatch(/prev/);
    chain.accept(first);
    expect(chain.check(first)).toBe('expected seq 1');
    expect(() => chain.accept(first)).toThrow(RangeError);
    const second = records[1]!;
    chain.accept(second);
    // An outcome for an intent that does not exist, that belongs to someone else, or that was already answered.
    const outcome = records.find((r) => r.phase === 'outcome' && r.ref === 0)!;
    const at = (changes: Partial<AuditRecordBody>) =>
      reseal(outcome, { seq: 2, prev: chain.prevFor(outcome.namespace), ...changes });
    expect(chain.check(at({ ref: 1, namespace: second.namespace, prev: chain.prevFor(second.namespace) }))).toBe(
      'outcome does not match its intent',
    );
    expect(chain.check(at({ agent: 'intruder' }))).toBe('outcome does not match its intent');
    expect(chain.check(at({ resource: 'elsewhere' }))).toBe('outcome does not match its intent');
    expect(chain.check(at({ label: ['raised'] }))).toBeNull();
    const answered = at({});
    chain.accept(answered);
    expect(chain.check(reseal(answered, { seq: 3, prev: answered.hash }))).toBe('ref does not name an open intent');
    expect(chain.prevFor('never-seen')).toBe(GENESIS_PREV);
    expect(chain.openIntent(0)).toBeUndefined();
    expect(chain.openIntent(1)).toBe(second);
  });
});

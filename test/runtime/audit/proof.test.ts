import { describe, expect, it } from 'vitest';
import { AuditLog, MemoryAuditSink } from '../../../runtime/audit/audit-log.js';
import { signCheckpoint } from '../../../runtime/audit/checkpoint.js';
import {
  verifyAuditConsistency,
  verifyCheckpointConsistency,
  verifyRecordInclusion,
} from '../../../runtime/audit/proof.js';
import { fakeClock, fillLog, KERNEL_KEY, KERNEL_KEY_HEX, OTHER_KEY } from '../../helpers/audit-log.js';

function closedLog(): { log: AuditLog; sink: MemoryAuditSink } {
  const sink = new MemoryAuditSink();
  const log = new AuditLog({ key: KERNEL_KEY, sink, checkpointEvery: 6, clock: fakeClock() });
  fillLog(log, 10);
  log.close();
  return { log, sink };
}

describe('audit-proof', () => {
  it('never throws on malformed records, proofs or checkpoints', () => {
    const { log } = closedLog();
    const proof = log.prove(2);
    const junk: unknown[] = [null, undefined, 5, 'x', {}, [], { seq: 2 }];
    for (const value of junk) {
      expect(verifyRecordInclusion(value as never, proof)).toBe(false);
      expect(verifyRecordInclusion({} as never, value as never)).toBe(false);
      expect(verifyAuditConsistency(value as never)).toBe(false);
      expect(verifyCheckpointConsistency(value as never, log.latestCheckpoint, [])).toBe(false);
    }
  });

  it('never throws on getters that throw, and reads each field once', () => {
    const { log, sink } = closedLog();
    const record = sink.records[2]!;
    const proof = log.prove(2);
    const throwing = <T extends object>(value: T, field: string): T =>
      Object.defineProperty({ ...value }, field, {
        enumerable: true,
        get() {
          throw new Error('getter');
        },
      });
    expect(verifyRecordInclusion(record, proof)).toBe(true);
    for (const field of ['seq', 'size', 'root', 'path', 'checkpoint']) {
      expect(verifyRecordInclusion(record, throwing(proof, field))).toBe(false);
    }
    expect(verifyRecordInclusion(throwing(record, 'seq'), proof)).toBe(false);
    expect(verifyRecordInclusion(record, { ...proof, checkpoint: throwing(proof.checkpoint!, 'size') })).toBe(false);
    const older = log.checkpoints[1]!;
    const consistency = log.proveConsistency(older.size, log.latestCheckpoint.size);
    expect(verifyAuditConsistency(throwing(consistency, 'newRoot'))).toBe(false);
    expect(verifyCheckpointConsistency(throwing(older, 'root'), log.latestCheckpoint, consistency.path)).toBe(false);
    // A checkpoint whose size answers the signature check one way and the comparison another proves nothing.
    let reads = 0;
    const shifty = Object.defineProperty({ ...proof.checkpoint! }, 'size', {
      enumerable: true,
      get: () => (reads++ === 0 ? proof.checkpoint!.size : proof.checkpoint!.size + 1),
    });
    expect(verifyRecordInclusion(record, { ...proof, checkpoint: shifty })).toBe(true);
    expect(reads).toBe(1);
  });

  it('throws on malformed trusted keys, naming them', () => {
    const { log } = closedLog();
    expect(() => verifyRecordInclusion({} as never, log.prove(0), { trustedKeys: ['short'] })).toThrow(/trustedKeys/);
    expect(() =>
      verifyCheckpointConsistency(log.checkpoints[0]!, log.latestCheckpoint, [], { trustedKeys: [1 as never] }),
    ).toThrow(TypeError);
  });

  it('only pinned keys reject a checkpoint re-signed by someone else over the same tree', () => {
    const { log, sink } = closedLog();
    const record = sink.records[4]!;
    const proof = log.prove(4);
    const forged = signCheckpoint(OTHER_KEY, proof.checkpoint!);
    const forgedProof = { ...proof, checkpoint: forged };
    expect(verifyRecordInclusion(record, forgedProof)).toBe(true);
    expect(verifyRecordInclusion(record, forgedProof, { trustedKeys: [KERNEL_KEY_HEX] })).toBe(false);
    expect(verifyRecordInclusion(record, proof, { trustedKeys: [KERNEL_KEY_HEX] })).toBe(true);
    const older = log.checkpoints[1]!;
    const path = log.proveConsistency(older.size, forged.size).path;
    expect(verifyCheckpointConsistency(older, forged, path)).toBe(true);
    expect(verifyCheckpointConsistency(older, forged, path, { trustedKeys: [KERNEL_KEY_HEX] })).toBe(false);
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditLog, type AuditSink } from '../../../runtime/audit/audit-log.js';
import { type AuditCheckpoint, verifyCheckpointSignature } from '../../../runtime/audit/checkpoint.js';
import { EMPTY_ROOT, verifyInclusion } from '../../../runtime/audit/merkle.js';
import {
  verifyAuditConsistency,
  verifyCheckpointConsistency,
  verifyRecordInclusion,
} from '../../../runtime/audit/proof.js';
import { digestArgs, GENESIS_PREV, recordLeafHash } from '../../../runtime/audit/record.js';
import { verifyAuditLines } from '../../../runtime/audit/verify-file.js';
import { canonicalJson } from '../../../runtime/core/canonical-json.js';
import { fillLog, intentEntry, KERNEL_KEY, KERNEL_KEY_HEX, memoryLog, OTHER_KEY } from '../../helpers/audit-log.js';

const sha = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

describe('audit-log', () => {
  it('numbers records from 0, chains each namespace, and hashes the canonical body', () => {
    const { log, sink } = memoryLog();
    const records = fillLog(log, 30);
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i));
    expect(sink.records).toEqual(records);
    const heads = new Map<string, string>();
    for (const record of records) {
      expect(record.prev).toBe(heads.get(record.namespace) ?? GENESIS_PREV);
      heads.set(record.namespace, record.hash);
      const { hash, ...body } = record;
      // v2: the record hash is the RFC 6962 leaf of its canonical body, H(0x00 ‖ body).
      expect(hash).toBe(sha(`\u0000${canonicalJson(body)}`));
      expect(Object.isFrozen(record)).toBe(true);
    }
    expect(log.namespaces).toBe(3);
    expect(log.size).toBe(records.length);
  });

  it('signs an empty-tree checkpoint first, one every N records, and a final one on close', () => {
    const { log, sink } = memoryLog(8);
    expect(sink.checkpoints).toHaveLength(1);
    expect(sink.checkpoints[0]).toMatchObject({ size: 0, root: EMPTY_ROOT, every: 8, key: KERNEL_KEY_HEX });
    for (let i = 0; i < 20; i += 1) log.intent(intentEntry);
    expect(sink.checkpoints.map((c) => c.size)).toEqual([0, 8, 16]);
    log.close();
    log.close();
    expect(sink.checkpoints.map((c) => c.size)).toEqual([0, 8, 16, 20]);
    for (const checkpoint of sink.checkpoints) {
      expect(verifyCheckpointSignature(checkpoint)).toBe(true);
      expect(checkpoint.root).toBe(log.root(checkpoint.size));
    }
    expect(log.closed).toBe(true);
    expect(() => log.intent(intentEntry)).toThrow(/closed/);
    expect(() => log.checkpoint()).toThrow(/closed/);
  });

  it('does not sign a redundant final checkpoint', () => {
    const { log, sink } = memoryLog(4);
    for (let i = 0; i < 8; i += 1) log.intent(intentEntry);
    log.close();
    expect(sink.checkpoints.map((c) => c.size)).toEqual([0, 4, 8]);
  });

  it('proves every record against the latest checkpoint or the current size', () => {
    const { log } = memoryLog(16);
    const records = fillLog(log, 40);
    for (const record of records) {
      const proof = log.prove(record.seq);
      expect(verifyRecordInclusion(record, proof)).toBe(true);
      if (record.seq < log.latestCheckpoint.size) {
        expect(proof.checkpoint).toBe(log.latestCheckpoint);
        expect(verifyRecordInclusion(record, proof, { trustedKeys: [KERNEL_KEY.publicKey] })).toBe(true);
        expect(verifyRecordInclusion(record, proof, { trustedKeys: [OTHER_KEY.publicKey] })).toBe(false);
      } else {
        expect(proof.checkpoint).toBeUndefined();
        expect(proof.size).toBe(log.size);
        expect(verifyRecordInclusion(record, proof, { trustedKeys: [KERNEL_KEY_HEX] })).toBe(false);
      }
      expect(verifyInclusion(recordLeafHash(record), record.seq, proof.size, proof.path, proof.root)).toBe(true);
      expect(verifyRecordInclusion({ ...record, time: record.time + 1 }, proof)).toBe(false);
      expect(verifyRecordInclusion({ ...record, resource: 'elsewhere' }, proof)).toBe(false);
      expect(verifyRecordInclusion(record, { ...proof, seq: (record.seq + 1) % log.size })).toBe(false);
    }
    log.close();
    const last = records.at(-1)!;
    const anchored = log.prove(last.seq);
    expect(anchored.checkpoint?.size).toBe(log.size);
    const forged = { ...anchored, checkpoint: { ...anchored.checkpoint!, size: anchored.size + 1 } };
    expect(verifyRecordInclusion(last, forged)).toBe(false);
  });

  it('proves consistency between every pair of checkpoints', () => {
    const { log } = memoryLog(5);
    fillLog(log, 25);
    log.close();
    const checkpoints = log.checkpoints;
    for (let i = 0; i < checkpoints.length; i += 1) {
      for (let j = i; j < checkpoints.length; j += 1) {
        const older = checkpoints[i]!;
        const newer = checkpoints[j]!;
        const proof = log.proveConsistency(older.size, newer.size);
        expect(verifyAuditConsistency(proof)).toBe(true);
        expect(verifyCheckpointConsistency(older, newer, proof.path, { trustedKeys: [KERNEL_KEY_HEX] })).toBe(true);
        expect(verifyCheckpointConsistency(older, newer, proof.path, { trustedKeys: [OTHER_KEY.publicKey] })).toBe(
          false,
        );
        if (older.size > 0 && older.size < newer.size) {
          const bent: AuditCheckpoint = { ...older, root: newer.root };
          expect(verifyCheckpointConsistency(bent, newer, proof.path)).toBe(false);
          expect(verifyAuditConsistency({ ...proof, oldRoot: sha('x') })).toBe(false);
        }
      }
    }
  });

  it('pairs outcomes with open intents and copies their identity', () => {
    const { log } = memoryLog();
    const intent = log.intent({ ...intentEntry, label: ['web', 'email', 'web'] });
    expect(intent.label).toEqual(['email', 'web']);
    expect(intent.args_sha256).toBe(digestArgs(intentEntry.args));
    const outcome = log.outcome(intent, { status: 'denied', code: 'E_TAINT', durationMs: 1.25 });
    expect(outcome).toMatchObject({
      phase: 'outcome',
      ref: intent.seq,
      namespace: 'alpha',
      agent: 'agent-1',
      parent: null,
      syscall: 'tool',
      action: 'fs.read',
      resource: '/workspace/a.txt',
      args_sha256: intent.args_sha256,
      label: ['email', 'web'],
      status: 'denied',
      code: 'E_TAINT',
      duration_ms: 1.25,
      usage: {},
    });
    expect(() => log.outcome(intent, { status: 'ok', durationMs: 1 })).toThrow(RangeError);
    const second = log.intent(intentEntry);
    const raised = log.outcome(second, { status: 'ok', durationMs: 0, usage: { tokens_in: 5 }, label: ['secret'] });
    expect(raised.label).toEqual(['secret']);
    expect(raised.usage).toEqual({ tokens_in: 5 });
    const third = log.intent(intentEntry);
    const size = log.size;
    expect(() =>
      log.append({ ...intentEntry, phase: 'outcome', ref: third.seq, status: 'ok', durationMs: 0, agent: 'agent-2' }),
    ).toThrow(/does not match its intent/);
    expect(() =>
      log.append({ ...intentEntry, phase: 'outcome', ref: intent.seq, status: 'ok', durationMs: 0 }),
    ).toThrow(/open intent/);
    expect(log.size).toBe(size);
    const direct = log.append({
      ...intentEntry,
      phase: 'outcome',
      ref: third.seq,
      status: 'error',
      code: 'E_TOOL_FAILED',
      durationMs: 3,
    });
    expect(direct.ref).toBe(third.seq);
  });

  it('rejects malformed entries naming the field, and appends nothing', () => {
    const { log } = memoryLog();
    const cases: [unknown, ErrorConstructor, RegExp][] = [
      [null, TypeError, /entry/],
      [{ ...intentEntry, phase: 'begin' }, TypeError, /phase/],
      [{ ...intentEntry, phase: 'intent', namespace: 3 }, TypeError, /namespace/],
      [{ ...intentEntry, phase: 'intent', agent: '' }, RangeError, /agent/],
      [{ ...intentEntry, phase: 'intent', resource: 'r'.repeat(5000) }, RangeError, /resource/],
      [{ ...intentEntry, phase: 'intent', label: 'web' }, TypeError, /label/],
      [{ ...intentEntry, phase: 'intent', label: [1] }, TypeError, /label/],
      [{ ...intentEntry, phase: 'intent', argsDigest: 'abc', args: undefined }, TypeError, /argsDigest/],
      [{ ...intentEntry, phase: 'intent', argsDigest: sha('x') }, TypeError, /args or argsDigest/],
      [{ ...intentEntry, phase: 'outcome', ref: 0, status: 'ok', durationMs: -1 }, RangeError, /duration_ms/],
      [
        { ...intentEntry, phase: 'outcome', ref: 0, status: 'ok', durationMs: 1, usage: JSON.parse('{"__proto__":1}') },
        RangeError,
        /usage/,
      ],
      [{ ...intentEntry, phase: 'outcome', ref: 0, status: 'denied', durationMs: 1 }, TypeError, /code/],
    ];
    log.intent(intentEntry);
    for (const [entry, type, message] of cases) {
      expect(() => log.append(entry as never)).toThrow(type);
      expect(() => log.append(entry as never)).toThrow(message);
    }
    expect(log.size).toBe(1);
    expect(() => log.outcome({ ...log.prove(0), seq: 0 } as never, { status: 'ok', durationMs: 0 })).toThrow(
      RangeError,
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('copies caller labels and usage so sealed records cannot be changed through them', () => {
    const { log } = memoryLog();
    const label = ['b', 'a'];
    const intent = log.intent({ ...intentEntry, label });
    label.push('zzz');
    const usage = { cpu_ms: 2 };
    const outcome = log.outcome(intent, { status: 'ok', durationMs: 1, usage });
    usage.cpu_ms = 1000;
    expect(intent.label).toEqual(['a', 'b']);
    expect(outcome.usage).toEqual({ cpu_ms: 2 });
    expect(() => (outcome.label as string[]).push('x')).toThrow(TypeError);
  });

  it('fails closed when the sink fails: the error surfaces and every later call throws', () => {
    class FailingSink implements AuditSink {
      records = 0;
      closed = false;
      failAfter = 3;
      appendRecord(): void {
        if (this.records >= this.failAfter) throw new Error('disk full');
        this.records += 1;
      }
      appendCheckpoint(): void {}
      close(): void {
        this.closed = true;
      }
    }
    const sink = new FailingSink();
    const log = new AuditLog({ key: KERNEL_KEY, sink });
    for (let i = 0; i < 3; i += 1) log.intent(intentEntry);
    expect(() => log.intent(intentEntry)).toThrow('disk full');
    expect(log.size).toBe(3);
    expect(() => log.intent(intentEntry)).toThrow(/failed earlier/);
    expect(() => log.checkpoint()).toThrow(/failed earlier/);
    log.close();
    expect(sink.closed).toBe(true);
  });

  it('produces memory logs that the verifier accepts', () => {
    const { log, sink } = memoryLog(7);
    fillLog(log, 50);
    log.close();
    const report = verifyAuditLines(sink.recordLines(), sink.checkpointLines(), { trustedKeys: [KERNEL_KEY_HEX] });
    expect(report).toMatchObject({ ok: true, records: log.size, unanchored: 0, pinned: true, root: log.root() });
  });

  it('validates its options', () => {
    expect(() => new AuditLog(null as never)).toThrow(TypeError);
    expect(() => new AuditLog({ key: {} as never })).toThrow(/options.key/);
    expect(() => new AuditLog({ key: KERNEL_KEY, checkpointEvery: 0 })).toThrow(RangeError);
    expect(() => new AuditLog({ key: KERNEL_KEY, checkpointEvery: 1.5 })).toThrow(/checkpointEvery/);
    expect(() => new AuditLog({ key: KERNEL_KEY, clock: 5 as never })).toThrow(/clock/);
    expect(() => new AuditLog({ key: KERNEL_KEY, sink: {} as never })).toThrow(/sink/);
    expect(() => new AuditLog({ key: KERNEL_KEY, clock: () => 1.5 })).toThrow(/time/);
    let calls = 0;
    const log = new AuditLog({ key: KERNEL_KEY, clock: () => (calls++ === 0 ? 1000 : 1.5) });
    expect(() => log.intent(intentEntry)).toThrow(/time/);
    expect(() => log.prove(0)).toThrow(RangeError);
    expect(() => log.prove(Number.NaN)).toThrow(TypeError);
    expect(() => log.proveConsistency(1, 0)).toThrow(RangeError);
  });
});

describe('MemoryAuditSink retention', () => {
  it('keeps only the most recent records when asked, while the log keeps counting', async () => {
    const { AuditLog, MemoryAuditSink } = await import('../../../runtime/audit/audit-log.js');
    const { SigningKey } = await import('../../../runtime/capability/signing-key.js');
    const sink = new MemoryAuditSink({ retain: 10 });
    const log = new AuditLog({ key: SigningKey.generate(), sink });
    for (let i = 0; i < 100; i++) {
      log.intent({ namespace: 'n', agent: 'a', syscall: 'tool', action: 'echo', args: i });
    }
    expect(log.size).toBe(100);
    expect(sink.records.length).toBeGreaterThanOrEqual(10);
    expect(sink.records.length).toBeLessThan(20);
    expect(sink.records.at(-1)?.seq).toBe(99);
    expect(() => new MemoryAuditSink({ retain: 0 })).toThrow(RangeError);
  });

  it('keeps at most about twice `maxBytes` of records whose resources are long (red-team pass 118)', async () => {
    const { AuditLog, MemoryAuditSink } = await import('../../../runtime/audit/audit-log.js');
    const { SigningKey } = await import('../../../runtime/capability/signing-key.js');
    // Each record of a 4,000-character resource counts 9 KB: 100 KB holds 11 of them. By count alone (the kernel's
    // default sink before), all 1,000 were kept beside a view that had let them go.
    const sink = new MemoryAuditSink({ retain: 10_000, maxBytes: 100_000 });
    const log = new AuditLog({ key: SigningKey.generate(), sink });
    for (let i = 0; i < 1000; i++) {
      log.intent({
        namespace: 'n',
        agent: 'a',
        syscall: 'tool',
        action: 'fs.read',
        resource: `/r/${i}/${'x'.repeat(4000)}`,
      });
    }
    expect(sink.records.length).toBeLessThanOrEqual(22);
    expect(sink.records.length).toBeGreaterThanOrEqual(10);
    expect(sink.records.at(-1)?.seq).toBe(999);
    expect(() => new MemoryAuditSink({ maxBytes: 0.5 })).toThrow(RangeError);
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditLog, type AuditSink } from '../../../runtime/audit/audit-log.js';
import { AuditChain } from '../../../runtime/audit/hash-chain.js';
import {
  AUDIT_RECORD_VERSION,
  type AuditRecord,
  type AuditRecordBody,
  type AuditRecordDraft,
  checkRecordBody,
  encodeRecordBody,
  parseRecordLine,
  sealDraft,
  sealRecord,
} from '../../../runtime/audit/record.js';
import { verifyAuditLines } from '../../../runtime/audit/verify-file.js';
import { canonicalJson } from '../../../runtime/core/canonical-json.js';
import { fakeClock, intentEntry, KERNEL_KEY, KERNEL_KEY_HEX, memoryLog } from '../../helpers/audit-log.js';

// The append path's shortcuts (usage copied and encoded in one pass, JSON segments kept from the previous record,
// the newest open intent kept out of the Map, the chain check not repeated after the sink) must never change
// what is stored or what is rejected.

const sha = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

function body(overrides: Partial<Record<keyof AuditRecordBody, unknown>> = {}): AuditRecordBody {
  return {
    v: AUDIT_RECORD_VERSION,
    seq: 5,
    time: 1_735_689_600_123,
    namespace: 'alpha',
    agent: 'agent-1',
    parent: 'agent-0',
    syscall: 'tool',
    action: 'fs.read',
    resource: '/workspace/a.txt',
    args_sha256: sha('args'),
    label: ['web'],
    phase: 'outcome',
    ref: 4,
    status: 'ok',
    code: null,
    duration_ms: 0.25,
    usage: { cpu_ms: 1.5 },
    prev: sha('previous'),
    ...overrides,
  } as AuditRecordBody;
}

describe('audit append fast paths', () => {
  it('encodes every record as canonicalJson does when only some repeated fields change', () => {
    const variants: Partial<Record<keyof AuditRecordBody, unknown>>[] = [
      {},
      { action: 'fs.write' },
      { agent: 'agent-2' },
      { label: [] },
      { label: ['secret', 'web'] },
      { namespace: 'beta' },
      { parent: null },
      { parent: 'agent-9' },
      { resource: null },
      { resource: '' },
      { resource: 'é\u2028"quoted"' },
      { syscall: 'spawn' },
      { action: 'fs.write', agent: 'agent-2', namespace: 'beta', syscall: 'spawn' },
      { v: 1 },
    ];
    // Every ordered pair of variants, so each kept segment is both reused and replaced.
    for (const first of variants) {
      for (const second of variants) {
        for (const overrides of [first, second, second, first]) {
          const b = body(overrides);
          expect(encodeRecordBody(b)).toBe(canonicalJson(b));
          const { record, line } = sealRecord(b);
          expect(line).toBe(canonicalJson(record));
        }
      }
    }
  });

  it('copies usage as a spread would, and rejects what the record check rejects', () => {
    const { log, sink } = memoryLog(4);
    const outcome = (usage: unknown): AuditRecord =>
      log.outcome(log.intent(intentEntry), { status: 'ok', durationMs: 1, usage: usage as Record<string, number> });

    // A quota name that is also an Object.prototype member is kept as an own data property.
    const named = outcome({ tokens: 1, constructor: 2 });
    expect(Object.keys(named.usage).sort()).toEqual(['constructor', 'tokens']);
    expect(Object.getOwnPropertyDescriptor(named.usage, 'constructor')?.value).toBe(2);
    expect(Object.getPrototypeOf(named.usage)).toBe(Object.prototype);
    expect(sink.recordLines().at(-1)).toContain('"usage":{"constructor":2,"tokens":1}');

    // Any object's own enumerable keys are copied, each read once; the copy is frozen and not the caller's.
    class Meter {
      readonly tokens_in = 3;
    }
    expect(outcome(new Meter()).usage).toEqual({ tokens_in: 3 });
    let reads = 0;
    const counted = outcome({
      get cpu_ms() {
        reads += 1;
        return 7;
      },
    });
    expect(reads).toBe(1);
    expect(counted.usage).toEqual({ cpu_ms: 7 });
    expect(Object.isFrozen(counted.usage)).toBe(true);
    expect(outcome({}).usage).toEqual({});

    const size = log.size;
    const rejected: [unknown, ErrorConstructor][] = [
      [JSON.parse('{"__proto__":1}'), RangeError],
      [{ Upper: 1 }, RangeError],
      [{ '0': 1 }, RangeError],
      [{ cpu_ms: -1 }, RangeError],
      [{ cpu_ms: Number.NaN }, RangeError],
      [{ cpu_ms: '1' }, TypeError],
      [Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 1])), RangeError],
      [null, TypeError],
      [5, TypeError],
    ];
    for (const [usage, type] of rejected) {
      const intent = log.intent(intentEntry);
      expect(() => log.outcome(intent, { status: 'ok', durationMs: 1, usage: usage as never })).toThrow(type);
      expect(() => log.outcome(intent, { status: 'ok', durationMs: 1, usage: usage as never })).toThrow(/usage/);
      log.outcome(intent, { status: 'ok', durationMs: 1 });
    }
    expect(log.size).toBe(size + 2 * rejected.length);
    expect(verifyAuditLines(sink.recordLines(), sink.checkpointLines(), { trustedKeys: [KERNEL_KEY_HEX] }).ok).toBe(
      true,
    );
  });

  it('still rejects a copied usage on an intent, and re-encodes it the same way everywhere', () => {
    const { log } = memoryLog(4);
    const outcome = log.outcome(log.intent(intentEntry), { status: 'ok', durationMs: 1, usage: { tokens: 2 } });
    const { hash: _hash, ...rest } = outcome;
    const asIntent = { ...rest, phase: 'intent', ref: null, status: null, code: null, duration_ms: null };
    expect(() => sealRecord(asIntent as AuditRecordBody)).toThrow(RangeError);
    expect(() => sealRecord(asIntent as AuditRecordBody)).toThrow(/usage/);
    const parsed = parseRecordLine(canonicalJson(outcome));
    expect(parsed.ok && parsed.record).toEqual(outcome);
  });

  // Every entry point that checks or encodes a host's body. sealDraft's drafts carry `hash: ''`, which the others
  // ignore.
  const entryPoints: [string, (b: AuditRecordBody) => unknown][] = [
    ['encodeRecordBody', (b) => encodeRecordBody(b)],
    ['checkRecordBody', (b) => checkRecordBody(b)],
    ['sealRecord', (b) => sealRecord(b)],
    ['sealDraft', (b) => sealDraft(b as AuditRecordDraft)],
    ['sealDraft with vouched digests', (b) => sealDraft(b as AuditRecordDraft, true)],
  ];

  it('reads each body field, label entry and usage value once, so what is checked is what is encoded', () => {
    const counted = <T extends object>(target: T, reads: Map<PropertyKey, number>): T =>
      new Proxy(target, {
        get(t, key, receiver) {
          reads.set(key, (reads.get(key) ?? 0) + 1);
          return Reflect.get(t, key, receiver);
        },
      });
    for (const [name, enter] of entryPoints) {
      for (const phase of ['intent', 'outcome'] as const) {
        const fieldReads = new Map<PropertyKey, number>();
        const labelReads = new Map<PropertyKey, number>();
        const usageReads = new Map<PropertyKey, number>();
        const label = counted(Object.freeze(['secret', 'web']), labelReads);
        const usage = counted(Object.freeze({ cpu_ms: 1.5, tokens: 2 }), usageReads);
        const fields =
          phase === 'intent'
            ? body({ phase, ref: null, status: null, duration_ms: null, label, usage: Object.freeze({}) })
            : body({ label, usage });
        enter(counted({ ...fields, hash: '' }, fieldReads));
        const reads = (map: Map<PropertyKey, number>, keys: string[]): [string, number | undefined][] =>
          keys.map((key) => [`${name} ${phase} ${key}`, map.get(key)]);
        const once = (keys: string[]): [string, number][] => keys.map((key) => [`${name} ${phase} ${key}`, 1]);
        expect(reads(fieldReads, Object.keys(fields))).toEqual(once(Object.keys(fields)));
        expect(reads(labelReads, ['length', '0', '1'])).toEqual(once(['length', '0', '1']));
        if (phase === 'outcome') expect(reads(usageReads, ['cpu_ms', 'tokens'])).toEqual(once(['cpu_ms', 'tokens']));
      }
    }
  });

  it('keeps no JSON segment that disagrees with its key, whatever a getter gave the encoder', () => {
    // A host body whose field is a getter returns a different value on different reads. Whatever an entry point
    // makes of it, the next ordinary append in the process must store exactly the record it returns.
    const lines: string[] = [];
    const checkpoints: string[] = [];
    const sink: AuditSink = {
      appendRecord: (_record, line) => void lines.push(line),
      appendCheckpoint: (_checkpoint, line) => void checkpoints.push(line),
      close() {},
    };
    const log = new AuditLog({ key: KERNEL_KEY, sink, clock: fakeClock() });
    const fields = {
      namespace: 'alpha',
      agent: 'agent-1',
      parent: 'agent-0' as string | null,
      syscall: 'tool',
      action: 'fs.read',
      resource: '/workspace/a.txt' as string | null,
      label: Object.freeze(['web']) as readonly string[],
    };
    type Kept = keyof typeof fields;
    const decoys: { [K in Kept]: (typeof fields)[K] } = {
      namespace: 'beta',
      agent: 'root',
      parent: null,
      syscall: 'spawn',
      action: 'fs.write',
      resource: null,
      label: Object.freeze([]),
    };
    const other = body({ namespace: 'n0', agent: 'a0', parent: 'p0', syscall: 's0', action: 'a0', resource: 'r0' });
    let appends = 0;
    for (const field of Object.keys(fields) as Kept[]) {
      // Bit i of `pattern` gives the decoy on read i (reads past the fourth repeat the fourth).
      for (let pattern = 0; pattern < 16; pattern += 1) {
        for (const [name, enter] of entryPoints) {
          // The later append uses the true value, then (after a fresh round) the decoy: whichever the kept
          // segment's key says, one of them hits it.
          for (const next of [fields[field], decoys[field]]) {
            encodeRecordBody(other); // so the hostile body below is what every kept segment is built from
            let reads = 0;
            const hostile: Record<string, unknown> = {
              ...body({ ...fields, phase: 'intent', ref: null, status: null, duration_ms: null, usage: {} }),
              hash: '',
            };
            Object.defineProperty(hostile, field, {
              enumerable: true,
              get: () => ((pattern >> Math.min(reads++, 3)) & 1 ? decoys[field] : fields[field]),
            });
            try {
              enter(hostile as unknown as AuditRecordBody);
            } catch {
              // Rejecting it is fine too; what matters is what it leaves behind.
            }
            const intent = log.intent({ ...fields, [field]: next, args: { appends } });
            const outcome = log.outcome(intent, { status: 'ok', durationMs: 1 });
            for (const [record, line] of [
              [intent, lines.at(-2)],
              [outcome, lines.at(-1)],
            ] as const) {
              const where = `${name} ${field} pattern ${pattern} then ${JSON.stringify(next)}`;
              expect([where, line]).toEqual([where, canonicalJson(record)]);
              const parsed = parseRecordLine(line!);
              expect([where, parsed.ok && parsed.record]).toEqual([where, record]);
            }
            appends += 1;
          }
        }
      }
    }
    expect(verifyAuditLines(lines, checkpoints, { trustedKeys: [KERNEL_KEY_HEX] }).ok).toBe(true);
  });

  it('encodes the usage value it checked, read once, for a frozen usage kept as is', () => {
    const usageWith = (values: unknown[]): { usage: Readonly<Record<string, number>>; reads: () => number } => {
      let reads = 0;
      const usage = Object.freeze(
        Object.defineProperty({}, 'cpu_ms', {
          enumerable: true,
          get: () => values[Math.min(reads++, values.length - 1)],
        }),
      );
      return { usage, reads: () => reads };
    };
    // Checked as 1, then read again as a negative amount or as JSON text.
    for (const later of [-5, '1,"tokens":-5', Number.NaN]) {
      const { usage, reads } = usageWith([1, later]);
      const { record, line } = sealRecord(body({ usage }));
      expect(line).toContain('"usage":{"cpu_ms":1}');
      const parsed = parseRecordLine(line);
      expect(parsed.ok && parsed.record.hash).toBe(record.hash);
      expect(record.usage).toBe(usage);
      expect(reads()).toBe(1);
    }
    // Bad on the only read: rejected, whatever a later read would say.
    expect(() => sealRecord(body({ usage: usageWith([-5, 1]).usage }))).toThrow(RangeError);
    expect(() => encodeRecordBody(body({ usage: usageWith(['1', 1]).usage }))).toThrow(TypeError);
  });

  it('encodes a body correctly when a getter of its label or usage encodes another record meanwhile', () => {
    // The encoder hands its tail and version to its caller through module slots: a label entry or usage value
    // that is a getter re-entering the encoder (sealing another record) must not leave the other record's
    // encoding in them.
    const other = body({ namespace: 'other-ns', agent: 'other', seq: 99, ref: 98, usage: { tokens: 7 } });
    let reentered = 0;
    const reenter = <T>(value: T): T => {
      encodeRecordBody(other);
      sealRecord(other);
      reentered += 1;
      return value;
    };
    for (const where of ['label', 'usage'] as const) {
      const label = ['secret', 'web'];
      const usage: Record<string, number> = { cpu_ms: 1.5 };
      if (where === 'label') {
        Object.defineProperty(label, 1, { enumerable: true, get: () => reenter('web') });
      } else {
        Object.defineProperty(usage, 'tokens', { enumerable: true, get: () => reenter(2) });
      }
      Object.freeze(label);
      Object.freeze(usage);
      const fields = body({ label, usage });
      const plain = {
        ...fields,
        label: ['secret', 'web'],
        usage: where === 'usage' ? { cpu_ms: 1.5, tokens: 2 } : usage,
      };
      const expected = canonicalJson(plain);
      expect(encodeRecordBody(fields)).toBe(expected);
      const draft = { ...fields, hash: '' } as AuditRecordDraft;
      const line = sealDraft(draft);
      expect(draft.hash).toBe(sha(`\u0000${expected}`));
      expect(line).toBe(canonicalJson({ ...plain, hash: draft.hash }));
    }
    expect(reentered).toBeGreaterThanOrEqual(4);
  });

  it('tracks open intents closed in any order', () => {
    const { log } = memoryLog(4);
    const chain = new AuditChain();
    const a = log.intent(intentEntry);
    const b = log.intent(intentEntry);
    const c = log.intent(intentEntry);
    const closeB = log.outcome(b, { status: 'ok', durationMs: 1 });
    const d = log.intent(intentEntry);
    const closeD = log.outcome(d, { status: 'ok', durationMs: 1 });
    const closeA = log.outcome(a, { status: 'ok', durationMs: 1 });
    const counts: number[] = [];
    for (const record of [a, b, c, closeB, d, closeD, closeA]) {
      expect(chain.check(record)).toBeNull();
      chain.accept(record);
      counts.push(chain.openIntents);
    }
    expect(counts).toEqual([1, 2, 3, 2, 3, 2, 1]);
    expect(chain.openIntent(c.seq)).toBe(c);
    expect(chain.openIntent(a.seq)).toBeUndefined();
    expect(() => log.outcome(b, { status: 'ok', durationMs: 1 })).toThrow(RangeError);
    expect(() => log.outcome(d, { status: 'ok', durationMs: 1 })).toThrow(RangeError);
    log.outcome(c, { status: 'ok', durationMs: 1 });
  });

  it('refuses to link a record when its sink appended to the log meanwhile', () => {
    let log: AuditLog | undefined;
    let nested = false;
    const sink: AuditSink = {
      appendRecord() {
        if (nested || log === undefined) return;
        nested = true;
        log.intent(intentEntry);
      },
      appendCheckpoint() {},
      close() {},
    };
    log = new AuditLog({ key: KERNEL_KEY, sink, clock: fakeClock() });
    expect(() => log?.intent(intentEntry)).toThrow(/audit chain: expected seq 1/);
    expect(log.size).toBe(1);
  });
});

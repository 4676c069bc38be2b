import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashLeaf, hashLeafOfDigest } from '../../../runtime/audit/merkle.js';
import {
  AUDIT_RECORD_VERSION,
  type AuditRecord,
  type AuditRecordBody,
  checkRecordBody,
  digestArgs,
  encodeRecordBody,
  encodeRecordLine,
  GENESIS_PREV,
  NON_CANONICAL_ARGS_DIGEST,
  parseRecordLine,
  RECORD_KEYS,
  recordLeaf,
  recordLeafHash,
  sealRecord,
} from '../../../runtime/audit/record.js';
import { canonicalJson } from '../../../runtime/core/canonical-json.js';
import { ERROR_CODES } from '../../../runtime/core/errors.js';

const sha = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
/** The record hash by version: v2 is the RFC 6962 leaf H(0x00 ‖ body), v1 the bare SHA-256 of the body. */
const recordHash = (v: number, encoded: string): string =>
  v === 1
    ? sha(encoded)
    : createHash('sha256')
        .update(Buffer.from([0]))
        .update(encoded, 'utf8')
        .digest('hex');

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
    args_sha256: sha('{"path":"/workspace/a.txt"}'),
    label: ['secret', 'web'],
    phase: 'outcome',
    ref: 4,
    status: 'denied',
    code: 'E_CAP_DENIED',
    duration_ms: 0.25,
    usage: { cpu_ms: 1.5, tool_calls: 1 },
    prev: sha('previous'),
    ...overrides,
  } as AuditRecordBody;
}

const intentBody = (overrides: Partial<Record<keyof AuditRecordBody, unknown>> = {}): AuditRecordBody =>
  body({ phase: 'intent', ref: null, status: null, code: null, duration_ms: null, usage: {}, ...overrides });

const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 });
const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const bodyArb: fc.Arbitrary<AuditRecordBody> = fc
  .record({
    seq: fc.integer({ min: 1, max: 2 ** 40 }),
    time: fc.integer({ min: 0, max: 2 ** 45 }),
    namespace: text,
    agent: text,
    parent: fc.option(text, { nil: null }),
    syscall: text,
    action: text,
    resource: fc.option(fc.string({ unit: 'binary', maxLength: 40 }), { nil: null }),
    args_sha256: hex64,
    label: fc.uniqueArray(text, { maxLength: 5 }).map((tags) => [...tags].sort()),
    prev: hex64,
    v: fc.constantFrom(1 as const, 2 as const),
    outcome: fc.boolean(),
    status: fc.constantFrom('ok', 'denied', 'error', 'killed'),
    code: fc.constantFrom(...ERROR_CODES),
    duration: fc.double({ min: 0, max: 1e6, noNaN: true }),
    usage: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/), fc.double({ min: 0, max: 1e9, noNaN: true }), {
      maxKeys: 4,
    }),
  })
  .map((r) => {
    const common = {
      v: r.v,
      seq: r.seq,
      time: r.time,
      namespace: r.namespace,
      agent: r.agent,
      parent: r.parent,
      syscall: r.syscall,
      action: r.action,
      resource: r.resource,
      args_sha256: r.args_sha256,
      label: r.label,
      prev: r.prev,
    } as const;
    if (!r.outcome) {
      return { ...common, phase: 'intent', ref: null, status: null, code: null, duration_ms: null, usage: {} };
    }
    return {
      ...common,
      phase: 'outcome',
      ref: r.seq - 1,
      status: r.status,
      code: r.status === 'ok' ? null : r.code,
      duration_ms: r.duration,
      usage: r.usage,
    } as AuditRecordBody;
  });

function withoutHash(record: AuditRecord): AuditRecordBody {
  const { hash: _hash, ...rest } = record;
  return rest;
}

describe('audit-record', () => {
  it('encodes a body exactly as canonicalJson does, and hashes that encoding', () => {
    fc.assert(
      fc.property(bodyArb, (b) => {
        const encoded = encodeRecordBody(b);
        expect(encoded).toBe(canonicalJson(b));
        const { record, line } = sealRecord(b);
        expect(record.hash).toBe(recordHash(b.v, encoded));
        expect(line).toBe(canonicalJson(record));
        expect(encodeRecordLine(record)).toBe(line);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips every valid record through its stored line', () => {
    fc.assert(
      fc.property(bodyArb, (b) => {
        const { record, line } = sealRecord(b);
        const parsed = parseRecordLine(line);
        expect(parsed).toEqual({ ok: true, record });
      }),
      { numRuns: 300 },
    );
  });

  it('keeps lone surrogates and control characters canonical', () => {
    const { record, line } = sealRecord(intentBody({ resource: 'a\ud800b\u0000\n\u2028"\\', agent: '\udfff' }));
    expect(line).not.toContain('\n');
    expect(parseRecordLine(line)).toEqual({ ok: true, record });
  });

  it('seals frozen records that do not share the caller label or usage', () => {
    const label = ['a', 'b'];
    const usage = { cpu_ms: 1 };
    const { record } = sealRecord(body({ label, usage }));
    label.push('c');
    usage.cpu_ms = 99;
    expect(Object.isFrozen(record)).toBe(true);
    expect(Object.isFrozen(record.label)).toBe(true);
    expect(Object.isFrozen(record.usage)).toBe(true);
    expect(record.label).toEqual(['a', 'b']);
    expect(record.usage).toEqual({ cpu_ms: 1 });
    expect(encodeRecordLine(record)).toBe(sealRecord(body({ label: ['a', 'b'], usage: { cpu_ms: 1 } })).line);
  });

  it('rejects lines that are not exactly a canonical valid record', () => {
    const { record, line } = sealRecord(body());
    const obj = JSON.parse(line) as Record<string, unknown>;
    const reject = (candidate: string): void => {
      const parsed = parseRecordLine(candidate);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.reason).not.toContain('/workspace');
    };
    reject(line.replace('{', '{"extra":1,'));
    reject(line.replace('{', '{"__proto__":{"polluted":true},'));
    reject(line.replace('{"action"', '{"__proto__":1,"action"'));
    reject(line.replace('"agent":"agent-1",', ''));
    reject(line.replace('{', '{"seq":5,'));
    reject(line.replace('"v":2}', '"v":2,"v":2}'));
    // Claiming the other version changes the body, so the stored hash no longer matches.
    reject(line.replace('"v":2}', '"v":1}'));
    reject(line.replace(',"agent"', ', "agent"'));
    reject(`${line} `);
    reject(line.replace('"agent-1"', '"agent\\u002d1"'));
    reject(line.replace(record.hash, record.hash.toUpperCase()));
    reject(line.replace(record.hash, sha('other')));
    reject(line.replace('"duration_ms":0.25', '"duration_ms":0.250'));
    reject(line.replace('"seq":5', '"seq":5.0'));
    reject(canonicalJson({ ...obj, label: ['web', 'secret'] }));
    reject(canonicalJson({ ...obj, usage: { __proto__: 1 } }));
    reject(JSON.stringify(Object.fromEntries(RECORD_KEYS.map((k) => [k, obj[k]]).reverse())));
    reject('[]');
    reject('null');
    reject('{');
    reject('');
    reject('x'.repeat(300_000));
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('rejects records whose fields were edited but whose hash was kept', () => {
    const { record, line } = sealRecord(body());
    const edited = line.replace('"status":"denied"', '"status":"error"');
    const parsed = parseRecordLine(edited);
    expect(parsed).toEqual({ ok: false, reason: 'hash does not match the record contents' });
    const tampered = { ...record, agent: 'agent-9' };
    expect(recordLeafHash(tampered)).not.toBe(recordLeafHash(record));
    expect(recordLeafHash(record)).toBe(record.hash);
    expect(() => encodeRecordLine(tampered)).toThrow(RangeError);
  });

  it('v2: the record hash is its RFC 6962 leaf, H(0x00 ‖ canonical body)', () => {
    const b = body();
    const { record } = sealRecord(b);
    expect(record.v).toBe(2);
    expect(record.hash).toBe(hashLeaf(Buffer.from(encodeRecordBody(b), 'utf8')));
    expect(recordLeaf(record)).toBe(record.hash);
    expect(recordLeafHash(record)).toBe(record.hash);
  });

  it('v1 records stay readable: hash = SHA-256(body), leaf = H(0x00 ‖ hash), tamper still detected', () => {
    const b = body({ v: 1 });
    const { record, line } = sealRecord(b);
    expect(record.hash).toBe(sha(encodeRecordBody(b)));
    expect(parseRecordLine(line)).toEqual({ ok: true, record });
    expect(recordLeaf(record)).toBe(hashLeafOfDigest(record.hash));
    expect(recordLeafHash(record)).toBe(hashLeafOfDigest(record.hash));
    expect(recordLeafHash({ ...record, agent: 'agent-9' })).not.toBe(recordLeafHash(record));
    expect(parseRecordLine(line.replace('"status":"denied"', '"status":"error"'))).toEqual({
      ok: false,
      reason: 'hash does not match the record contents',
    });
    // Relabelling a v1 line as v2 (or back) breaks its hash.
    expect(parseRecordLine(line.replace('"v":1}', '"v":2}')).ok).toBe(false);
  });

  it('enforces the phase rules', () => {
    const cases: [Partial<Record<keyof AuditRecordBody, unknown>>, RegExp][] = [
      [{ phase: 'outcome', ref: null }, /ref/],
      [{ ref: 5 }, /ref/],
      [{ status: 'maybe' }, /status/],
      [{ status: 'ok' }, /code/],
      [{ status: 'error', code: null }, /code/],
      [{ code: 'E_NOPE' }, /code/],
      [{ duration_ms: -1 }, /duration_ms/],
      [{ duration_ms: Number.POSITIVE_INFINITY }, /duration_ms/],
      [{ usage: { cpu_ms: Number.NaN } }, /usage/],
      [{ usage: { 'CPU-ms': 1 } }, /usage/],
      [{ usage: [] }, /usage/],
      [{ phase: 'started' }, /phase/],
    ];
    for (const [overrides, field] of cases) expect(() => checkRecordBody(body(overrides))).toThrow(field);
    expect(() => checkRecordBody(intentBody({ status: 'ok' }))).toThrow(/status/);
    expect(() => checkRecordBody(intentBody({ usage: { cpu_ms: 1 } }))).toThrow(/usage/);
    expect(() => checkRecordBody(intentBody({ ref: 1 }))).toThrow(/ref/);
    expect(() => checkRecordBody(intentBody({ duration_ms: 1 }))).toThrow(/duration_ms/);
    expect(() => checkRecordBody(intentBody({ prev: GENESIS_PREV }))).not.toThrow();
  });

  it('throws TypeError for wrong types and RangeError for out-of-range values, naming the field', () => {
    const expectError = (
      overrides: Partial<Record<keyof AuditRecordBody, unknown>>,
      type: ErrorConstructor,
      field: string,
    ) =>
      expect(() => checkRecordBody(body(overrides))).toThrow(
        expect.objectContaining({ name: type.name, message: expect.stringContaining(field) }),
      );
    expectError({ namespace: 5 }, TypeError, 'namespace');
    expectError({ namespace: '' }, RangeError, 'namespace');
    expectError({ agent: 'a'.repeat(257) }, RangeError, 'agent');
    expectError({ seq: -1 }, RangeError, 'seq');
    expectError({ seq: 1.5 }, TypeError, 'seq');
    expectError({ time: '1' }, TypeError, 'time');
    expectError({ resource: 'r'.repeat(4097) }, RangeError, 'resource');
    expectError({ resource: 3 }, TypeError, 'resource');
    expectError({ args_sha256: 'abc' }, TypeError, 'args_sha256');
    expectError({ prev: GENESIS_PREV.toUpperCase().replace(/0/g, 'A') }, TypeError, 'prev');
    expectError({ label: 'web' }, TypeError, 'label');
    expectError({ label: ['web', 'web'] }, RangeError, 'label');
    expectError({ label: [''] }, RangeError, 'label');
    expectError({ label: [1] }, TypeError, 'label');
    expectError({ v: 3 }, RangeError, 'v');
    expectError({ v: 0 }, RangeError, 'v');
    expect(() => checkRecordBody(null as unknown as AuditRecordBody)).toThrow(TypeError);
    expect(() => parseRecordLine(5 as unknown as string)).toThrow(TypeError);
  });

  // Red-team pass 132: a time past Date's range (8.64e15 ms) verified, then `audit show` failed on the whole log.
  it('refuses a time Date cannot represent, in a body and in a stored line whose hash matches', () => {
    const last = body({ time: 8.64e15 });
    expect(() => checkRecordBody(last)).not.toThrow();
    expect(new Date(sealRecord(last).record.time).toISOString()).toBe('+275760-09-13T00:00:00.000Z');
    const beyond = body({ time: 8.64e15 + 1 });
    expect(() => checkRecordBody(beyond)).toThrow(
      expect.objectContaining({ name: 'RangeError', message: expect.stringContaining('time') }),
    );
    expect(() => sealRecord(beyond)).toThrow(RangeError);
    // A line an attacker wrote by hand: canonical, with the right hash, only its time out of range.
    const encoded = canonicalJson(beyond);
    const line = canonicalJson({ ...beyond, hash: recordHash(2, encoded) });
    const parsed = parseRecordLine(line);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(/time/);
  });

  it('digests canonical arguments and never stores them', () => {
    const args = { b: [1, 'two'], a: { secret: 'hunter2' } };
    expect(digestArgs(args)).toBe(sha(canonicalJson(args)));
    expect(digestArgs({ a: { secret: 'hunter2' }, b: [1, 'two'] })).toBe(digestArgs(args));
    expect(digestArgs(null)).toBe(sha('null'));
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const throwing = {
      get boom(): never {
        throw new Error('secret in message');
      },
    };
    for (const bad of [10n, cyclic, () => 1, new Date(0), Number.NaN, throwing, Symbol('s'), undefined]) {
      expect(digestArgs(bad)).toBe(NON_CANONICAL_ARGS_DIGEST);
    }
    expect(NON_CANONICAL_ARGS_DIGEST).not.toBe(sha('null'));
    const { line } = sealRecord(body({ args_sha256: digestArgs(args) }));
    expect(line).not.toContain('hunter2');
  });

  it('with a key, digests canonical arguments as an HMAC, never the plain digest (nor a cached one)', () => {
    const args = { b: [1, 'two'], a: { secret: 'hunter2' } };
    const key = new Uint8Array(32).fill(3);
    const keyed = createHmac('sha256', key).update(canonicalJson(args)).digest('hex');
    expect(digestArgs(args)).toBe(sha(canonicalJson(args)));
    expect(digestArgs(args, key)).toBe(keyed);
    expect(digestArgs({ a: { secret: 'hunter2' }, b: [1, 'two'] }, key)).toBe(keyed);
    expect(digestArgs(args, new Uint8Array(32).fill(4))).not.toBe(keyed);
    expect(digestArgs(10n, key)).toBe(NON_CANONICAL_ARGS_DIGEST);
  });

  it('withoutHash(seal(b)) is b', () => {
    const b = body();
    expect(withoutHash(sealRecord(b).record)).toEqual(b);
  });
});

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, MemoryAuditSink } from '../../../runtime/audit/audit-log.js';
import { type AuditCheckpoint, encodeCheckpointLine, signCheckpoint } from '../../../runtime/audit/checkpoint.js';
import { AuditFileStore } from '../../../runtime/audit/file-store.js';
import { AuditChain } from '../../../runtime/audit/hash-chain.js';
import {
  type AuditRecord,
  type AuditRecordBody,
  GENESIS_PREV,
  parseRecordLine,
  sealRecord,
} from '../../../runtime/audit/record.js';
import { type AuditVerifyReport, verifyAuditFile, verifyAuditLines } from '../../../runtime/audit/verify-file.js';
import {
  cleanup,
  fakeClock,
  fillLog,
  KERNEL_KEY,
  KERNEL_KEY_HEX,
  OTHER_KEY,
  tempDir,
  writeLog,
} from '../../helpers/audit-log.js';

const TRUSTED = { trustedKeys: [KERNEL_KEY_HEX] };
const EVERY = 16;

let dir: string;
let recordBytes: Buffer;
let checkpointBytes: Buffer;
let recordLines: string[];
let checkpointLines: string[];
let records: AuditRecord[];
let checkpoints: AuditCheckpoint[];
let variant = 0;

function split(bytes: Buffer): string[] {
  return bytes.toString('utf8').split('\n').slice(0, -1);
}
const join_ = (lines: readonly string[]): string => lines.map((line) => `${line}\n`).join('');

/** Writes a variant of the log (records, and checkpoints unless null) and verifies it. */
function verifyVariant(
  recordsText: Buffer | string,
  checkpointsText: Buffer | string | null = checkpointBytes,
  options: Parameters<typeof verifyAuditFile>[1] = TRUSTED,
): AuditVerifyReport {
  const path = join(dir, `v${variant++}.jsonl`);
  writeFileSync(path, recordsText);
  if (checkpointsText !== null) writeFileSync(`${path}.checkpoints`, checkpointsText);
  const report = verifyAuditFile(path, options);
  rmSync(path, { force: true });
  rmSync(`${path}.checkpoints`, { force: true });
  return report;
}

function expectFailure(report: AuditVerifyReport, atOrBefore?: number, reason?: RegExp): void {
  expect(report.ok).toBe(false);
  if (report.ok) return;
  if (atOrBefore !== undefined) {
    expect(report.seq).not.toBeNull();
    expect(report.seq!).toBeLessThanOrEqual(atOrBefore);
  }
  if (reason !== undefined) expect(report.reason).toMatch(reason);
}

function withoutHash(record: AuditRecord): AuditRecordBody {
  const { hash: _hash, ...body } = record;
  return body;
}

/** An attacker's rewrite: edit one record, then recompute every prev and hash after it. */
function rehash(source: readonly AuditRecord[], index: number, edit: (body: AuditRecordBody) => AuditRecordBody) {
  const heads = new Map<string, string>();
  const out: AuditRecord[] = [];
  const lines: string[] = [];
  source.forEach((record, i) => {
    let body = withoutHash(record);
    if (i === index) body = edit(body);
    body = { ...body, prev: heads.get(body.namespace) ?? GENESIS_PREV };
    const sealed = sealRecord(body);
    heads.set(body.namespace, sealed.record.hash);
    out.push(sealed.record);
    lines.push(sealed.line);
  });
  return { records: out, lines };
}

/** Every record re-sealed after `edit` (which may change its version), prevs recomputed. */
function rehashAll(source: readonly AuditRecord[], edit: (body: AuditRecordBody, index: number) => AuditRecordBody) {
  const heads = new Map<string, string>();
  const out: AuditRecord[] = [];
  const lines: string[] = [];
  source.forEach((record, i) => {
    const body = { ...edit(withoutHash(record), i), prev: heads.get(record.namespace) ?? GENESIS_PREV };
    const sealed = sealRecord(body);
    heads.set(body.namespace, sealed.record.hash);
    out.push(sealed.record);
    lines.push(sealed.line);
  });
  return { records: out, lines };
}

/** Checkpoints over `rewritten` at the same sizes as the genuine ones, signed with `key`. */
function resign(rewritten: readonly AuditRecord[], key = OTHER_KEY): AuditCheckpoint[] {
  const chain = new AuditChain();
  const roots = new Map<number, string>([[0, chain.root()]]);
  for (const record of rewritten) {
    chain.accept(record);
    roots.set(chain.size, chain.root());
  }
  return checkpoints.map((c) =>
    signCheckpoint(key, { size: c.size, root: roots.get(c.size)!, time: c.time, every: c.every }),
  );
}

const cpText = (list: readonly AuditCheckpoint[]): string => join_(list.map(encodeCheckpointLine));

/** Index of the first outcome record with status 'denied' at or after `from`. */
function deniedOutcome(from = 0): number {
  return records.findIndex((r, i) => i >= from && r.status === 'denied');
}
const allow = (body: AuditRecordBody): AuditRecordBody => ({ ...body, status: 'ok', code: null });

beforeAll(() => {
  dir = tempDir();
  const written = writeLog(dir, 40, { checkpointEvery: EVERY });
  recordBytes = readFileSync(written.path);
  checkpointBytes = readFileSync(`${written.path}.checkpoints`);
  recordLines = split(recordBytes);
  checkpointLines = split(checkpointBytes);
  records = written.records;
  checkpoints = [...written.log.checkpoints];
});
afterAll(() => cleanup(dir));

describe('audit-verify', () => {
  it('accepts the untouched log with full counts', () => {
    const report = verifyVariant(recordBytes);
    expect(report).toMatchObject({
      ok: true,
      records: records.length,
      namespaces: 3,
      checkpoints: checkpoints.length,
      anchored: records.length,
      unanchored: 0,
      tornBytes: 0,
      pinned: true,
      keys: [KERNEL_KEY_HEX],
    });
    expect(checkpoints.length).toBeGreaterThan(4);
  });

  it('verifies a log of v1 records, and one a current writer resumed with v2 records; tamper still detected', () => {
    // A v1 log as an older kernel wrote it: v1 hashes (SHA-256 of the body), checkpoints over v1 leaves.
    const v1 = rehashAll(records, (body) => ({ ...body, v: 1 }));
    const v1Checkpoints = resign(v1.records, KERNEL_KEY);
    expect(verifyVariant(join_(v1.lines), cpText(v1Checkpoints))).toMatchObject({ ok: true, records: records.length });
    expectFailure(
      verifyVariant(
        join_(v1.lines.map((l, i) => (i === 5 ? l.replace('"v":1}', '"v":2}') : l))),
        cpText(v1Checkpoints),
      ),
      5,
    );
    const edited = rehashAll(records, (body, i) => (i === 7 ? { ...body, agent: 'agent-x', v: 1 } : { ...body, v: 1 }));
    expectFailure(verifyVariant(join_(edited.lines), cpText(v1Checkpoints)));

    // The current writer resumes it and appends v2 records after the v1 ones.
    const path = join(dir, 'mixed.jsonl');
    writeFileSync(path, join_(v1.lines));
    writeFileSync(`${path}.checkpoints`, cpText(v1Checkpoints));
    const log = new AuditLog({
      key: KERNEL_KEY,
      sink: AuditFileStore.open(path, { fsync: 'never' }),
      checkpointEvery: EVERY,
      clock: fakeClock(),
    });
    const appended = fillLog(log, 10);
    log.close();
    expect(appended.every((r) => r.v === 2)).toBe(true);
    expect(verifyAuditFile(path, TRUSTED)).toMatchObject({ ok: true, records: records.length + appended.length });
    rmSync(path, { force: true });
    rmSync(`${path}.checkpoints`, { force: true });
  });

  it('detects any single byte edit of the log file', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (at, delta) => {
        const position = at % recordBytes.length;
        const edited = Buffer.from(recordBytes);
        edited[position] = (edited[position]! + delta) % 256;
        const line = recordBytes.subarray(0, position).toString('utf8').split('\n').length - 1;
        expectFailure(verifyVariant(edited), line);
      }),
      { numRuns: 300 },
    );
  });

  it('detects deletion of any record line', () => {
    fc.assert(
      fc.property(fc.nat(), (at) => {
        const index = at % recordLines.length;
        expectFailure(verifyVariant(join_(recordLines.filter((_, i) => i !== index))), index);
      }),
      { numRuns: 100 },
    );
  });

  it('detects any reordering of two records', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (a, b) => {
        const i = a % recordLines.length;
        const j = b % recordLines.length;
        fc.pre(i !== j);
        const swapped = [...recordLines];
        [swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!];
        expectFailure(verifyVariant(join_(swapped)), Math.min(i, j));
      }),
      { numRuns: 100 },
    );
  });

  it('detects insertion of a duplicate or a foreign record anywhere', () => {
    const sink = new MemoryAuditSink();
    const other = new AuditLog({ key: KERNEL_KEY, sink, clock: fakeClock(5e12) });
    fillLog(other, 30);
    const foreign = sink.recordLines();
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.boolean(), (a, b, duplicate) => {
        const at = b % (recordLines.length + 1);
        const line = duplicate ? recordLines[a % recordLines.length]! : foreign[a % foreign.length]!;
        const inserted = [...recordLines.slice(0, at), line, ...recordLines.slice(at)];
        // A copy inserted just before its original reads as the original; the break is then the next line.
        expectFailure(verifyVariant(join_(inserted)), at + 1);
      }),
      { numRuns: 200 },
    );
  });

  it('detects truncation at any byte, against the last signed checkpoint', () => {
    fc.assert(
      fc.property(fc.nat(), (at) => {
        const length = at % recordBytes.length;
        const line = recordBytes.subarray(0, length).toString('utf8').split('\n').length - 1;
        expectFailure(verifyVariant(recordBytes.subarray(0, length)), line, /truncated/);
      }),
      { numRuns: 150 },
    );
  });

  it('detects any single byte edit of the checkpoints file (requiring anchoring)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (at, delta) => {
        const position = at % checkpointBytes.length;
        const edited = Buffer.from(checkpointBytes);
        edited[position] = (edited[position]! + delta) % 256;
        expectFailure(verifyVariant(recordBytes, edited, { ...TRUSTED, requireAnchored: true }));
      }),
      { numRuns: 200 },
    );
  });

  it('catches a rewritten-and-rehashed log through the signed checkpoint roots', () => {
    const k = deniedOutcome(20);
    const forged = rehash(records, k, allow);
    expect(forged.lines.filter((line) => !parseRecordLine(line).ok)).toEqual([]);
    const genuineSizeBefore = Math.max(...checkpoints.filter((c) => c.size <= k).map((c) => c.size));
    expectFailure(verifyVariant(join_(forged.lines)), genuineSizeBefore, /does not match the records/);
    expect(verifyVariant(join_(forged.lines))).toMatchObject({ seq: genuineSizeBefore });
  });

  it('attack: rewrite + rehash + drop the checkpoints file', () => {
    const forged = rehash(records, deniedOutcome(), allow);
    expectFailure(verifyVariant(join_(forged.lines), null), undefined, /checkpoint file is missing/);
  });

  it('attack: rewrite + rehash + empty the checkpoints file or keep only the empty-tree checkpoint', () => {
    const forged = join_(rehash(records, deniedOutcome(), allow).lines);
    expectFailure(verifyVariant(forged, ''), 0, /no signed checkpoint/);
    expectFailure(verifyVariant(forged, `${checkpointLines[0]}\n`), 0, /checkpoints were removed/);
  });

  it('attack: rewrite + rehash + drop the checkpoints after the edit', () => {
    const k = deniedOutcome(20);
    const forged = join_(rehash(records, k, allow).lines);
    const kept = checkpointLines.filter((_, i) => checkpoints[i]!.size <= k);
    expectFailure(verifyVariant(forged, join_(kept)), k, /checkpoints were removed/);
  });

  it('limit: a rewrite confined to the unsigned tail after the last kept checkpoint is only caught by requireAnchored', () => {
    const last = checkpoints.at(-2)!;
    const k = records.findIndex((r, i) => i >= last.size && r.phase === 'outcome' && r.status !== 'ok');
    expect(k).toBeGreaterThanOrEqual(0);
    const forged = join_(rehash(records, k, allow).lines);
    const kept = join_(checkpointLines.slice(0, -1));
    expect(verifyVariant(forged, kept)).toMatchObject({ ok: true, unanchored: records.length - last.size });
    expectFailure(
      verifyVariant(forged, kept, { ...TRUSTED, requireAnchored: true }),
      last.size,
      /anchoring is required/,
    );
  });

  it('attack: rewrite + rehash + re-sign every checkpoint with another key', () => {
    const forged = rehash(records, deniedOutcome(), allow);
    const resigned = cpText(resign(forged.records));
    expectFailure(verifyVariant(join_(forged.lines), resigned), 0, /untrusted key/);
    // Without pinned keys the forgery is self-consistent: the report says so instead of claiming trust.
    expect(verifyVariant(join_(forged.lines), resigned, {})).toMatchObject({
      ok: true,
      pinned: false,
      keys: [Buffer.from(OTHER_KEY.publicKey).toString('hex')],
    });
  });

  it('attack: splice checkpoints from another key among the genuine ones', () => {
    const k = deniedOutcome(20);
    const forged = rehash(records, k, allow);
    const mixed = checkpoints.map((c, i) => (c.size <= k ? c : resign(forged.records)[i]!));
    expectFailure(verifyVariant(join_(forged.lines), cpText(mixed)), k, /untrusted key/);
    expectFailure(verifyVariant(join_(forged.lines), cpText(mixed), {}), k, /different key/);
  });

  it('attack: replay an old checkpoint', () => {
    // Appending an old checkpoint again makes the sizes go backwards.
    expectFailure(verifyVariant(recordBytes, `${checkpointBytes}${checkpointLines[1]}\n`), undefined, /smaller/);
    // Rolling both files back to an older checkpoint yields a genuine earlier log: only a checkpoint held
    // outside the files (a monitor's anchor) can tell.
    const old = checkpoints[2]!;
    const rolledBack = join_(recordLines.slice(0, old.size));
    const rolledCheckpoints = join_(checkpointLines.slice(0, 3));
    expect(verifyVariant(rolledBack, rolledCheckpoints)).toMatchObject({ ok: true, records: old.size });
    expectFailure(
      verifyVariant(rolledBack, rolledCheckpoints, { ...TRUSTED, anchors: [checkpoints.at(-1)!] }),
      old.size,
      /truncated/,
    );
    expect(verifyVariant(recordBytes, checkpointBytes, { ...TRUSTED, anchors: [checkpoints.at(-1)!, old] }).ok).toBe(
      true,
    );
    const forgedAnchor = signCheckpoint(OTHER_KEY, { size: 1, root: checkpoints[1]!.root, time: 1, every: EVERY });
    expectFailure(
      verifyVariant(recordBytes, checkpointBytes, { ...TRUSTED, anchors: [forgedAnchor] }),
      undefined,
      /untrusted/,
    );
  });

  it('attack: a checkpoints file padded with copies of a genuine line is checked once per distinct line', () => {
    // Each copy used to be parsed and its signature checked again (pass 132 F6: 20,000 copies, 2.1 s a verify and
    // a kernel start). A copy at the current size now counts once; a copy of an older size still breaks the order.
    const last = checkpointLines.at(-1)!;
    const padded = `${checkpointBytes}${`${last}\n`.repeat(2000)}`;
    expect(verifyVariant(recordBytes, padded)).toMatchObject({ ok: true, checkpoints: checkpoints.length });
    const interleaved = join_(checkpointLines.flatMap((line) => [line, line, line]));
    expect(verifyVariant(recordBytes, interleaved)).toMatchObject({ ok: true, checkpoints: checkpoints.length });
    expectFailure(verifyVariant(recordBytes, `${padded}${checkpointLines[1]}\n`), undefined, /smaller/);
    expect(verifyAuditLines(recordLines, [...checkpointLines, last, last], TRUSTED)).toMatchObject({
      ok: true,
      checkpoints: checkpoints.length,
    });
  });

  it("a log's adopted count only rises, by no more than the records since the checkpoint before", () => {
    // A genuine writer never signs either; a sequence mixed from logs or anchors could (review 135).
    const signed = (index: number, adopted?: number) => {
      const c = checkpoints[index]!;
      return signCheckpoint(KERNEL_KEY, {
        size: c.size,
        root: c.root,
        time: c.time,
        every: c.every,
        ...(adopted === undefined ? {} : { adopted }),
      });
    };
    const lines = (list: AuditCheckpoint[]) => list.map(encodeCheckpointLine);
    const base = [0, 1, 2].map((i) => signed(i));
    const rest = checkpoints.slice(3);
    const ok = [...base.slice(0, 2), signed(2, 2), ...rest.map((_, i) => signed(i + 3, 2))];
    expect(verifyAuditLines(recordLines, lines(ok), TRUSTED)).toMatchObject({ ok: true, adopted: 2 });
    expect(verifyAuditLines(recordLines, lines(ok), { ...TRUSTED, requireAnchored: true })).toMatchObject({
      ok: false,
      seq: checkpoints[1]!.size,
    });
    const fell = [...base.slice(0, 2), signed(2, 2), ...rest.map((_, i) => signed(i + 3))];
    expect(verifyAuditLines(recordLines, lines(fell), TRUSTED)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/adopted count is smaller/),
    });
    const grew = [...base.slice(0, 2), signed(2, EVERY + 1), ...rest.map((_, i) => signed(i + 3, EVERY + 1))];
    expect(verifyAuditLines(recordLines, lines(grew), TRUSTED)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/adopted count grew/),
    });
  });

  it('attack: a checkpoint whose signature covers a different message', () => {
    const target = checkpoints[2]!;
    const signature = Buffer.from(KERNEL_KEY.sign(Buffer.from(`${target.size}\n${target.root}`))).toString('hex');
    const bent = checkpoints.map((c) => (c === target ? { ...c, signature } : c));
    expectFailure(verifyVariant(recordBytes, cpText(bent)), checkpoints[1]!.size, /signature does not verify/);
  });

  it('attack: records with a duplicate seq, even when rehashed', () => {
    const k = 10;
    const duplicated = [...recordLines.slice(0, k + 1), recordLines[k]!, ...recordLines.slice(k + 1)];
    expectFailure(verifyVariant(join_(duplicated)), k + 1, /expected seq/);
    const rehashed = rehash(records, k + 1, (body) => ({ ...body, seq: k }));
    expectFailure(verifyVariant(join_(rehashed.lines)), k + 1);
  });

  it('attack: lines with extra fields or JSON prototype keys', () => {
    const k = 7;
    for (const extra of ['"__proto__":{"admin":true},', '"constructor":{},', '"extra":null,', '"seq":7,']) {
      const lines = [...recordLines];
      lines[k] = lines[k]!.replace('{', `{${extra}`);
      expectFailure(verifyVariant(join_(lines)), k, /missing or extra fields|not valid JSON|canonical|hash/);
      const cps = [...checkpointLines];
      cps[1] = cps[1]!.replace('{', `{${extra}`);
      expectFailure(verifyVariant(recordBytes, join_(cps)), undefined, /checkpoint 2/);
    }
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('attack: an outcome re-pointed at another agent intent, rehashed', () => {
    const k = records.findIndex((r) => r.phase === 'outcome');
    const otherIntent = records.find((r) => r.phase === 'intent' && r.agent !== records[k]!.agent && r.seq < k);
    expect(otherIntent).toBeDefined();
    const forged = rehash(records, k, (body) => ({ ...body, ref: otherIntent!.seq }));
    expectFailure(verifyVariant(join_(forged.lines)), k);
  });

  it('fails closed on missing or unreadable files', () => {
    expect(verifyAuditFile(join(dir, 'nope.jsonl'))).toEqual({
      ok: false,
      seq: null,
      reason: 'audit log file is missing',
    });
    expectFailure(verifyVariant(recordBytes, null), undefined, /checkpoint file is missing/);
    mkdirSync(join(dir, 'as-dir.jsonl'));
    writeFileSync(join(dir, 'as-dir.jsonl.checkpoints'), checkpointBytes);
    expectFailure(verifyAuditFile(join(dir, 'as-dir.jsonl')), undefined, /cannot be read/);
  });

  it('reports records after the last checkpoint as unanchored, and a torn tail as ignored', () => {
    const kept = join_(checkpointLines.slice(0, -1));
    const report = verifyVariant(recordBytes, kept);
    expect(report).toMatchObject({ ok: true, unanchored: records.length - checkpoints.at(-2)!.size });
    expect(verifyVariant(Buffer.concat([recordBytes, Buffer.from('{"act')]))).toMatchObject({ ok: true, tornBytes: 5 });
  });

  it('rejects a line that is not valid UTF-8 even when it decodes to the same text', () => {
    const sink = new MemoryAuditSink();
    const log = new AuditLog({ key: KERNEL_KEY, sink });
    log.intent({ namespace: 'n', agent: 'a', syscall: 's', action: 'x', resource: 'caf\ufffd' });
    log.close();
    const text = sink.recordLines()[0]!;
    const good = Buffer.from(`${text}\n`);
    const at = good.indexOf(Buffer.from('\ufffd'));
    const bad = Buffer.concat([good.subarray(0, at), Buffer.from([0xff]), good.subarray(at + 3)]);
    expect(bad.toString('utf8')).toBe(good.toString('utf8'));
    const checkpointsText = join_(sink.checkpointLines());
    expect(verifyVariant(good, checkpointsText).ok).toBe(true);
    expectFailure(verifyVariant(bad, checkpointsText), 0, /UTF-8/);
  });

  it('verifies line arrays the same way', () => {
    expect(verifyAuditLines(recordLines, checkpointLines, TRUSTED)).toMatchObject({
      ok: true,
      records: records.length,
    });
    expectFailure(verifyAuditLines(recordLines.slice(1), checkpointLines, TRUSTED), 0);
    expect(() => verifyAuditLines([], [], { trustedKeys: ['xyz'] })).toThrow(RangeError);
    expect(() => verifyAuditFile('')).toThrow(TypeError);
    expect(() => verifyAuditFile('x', { requireAnchored: 'yes' as never })).toThrow(/requireAnchored/);
  });
});

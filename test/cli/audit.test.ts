import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditExport, auditShow, auditVerify } from '../../cli/audit.js';
import { sanitizeForTerminal, terminalSafeJson } from '../../cli/io.js';
import { AuditLog } from '../../runtime/audit/audit-log.js';
import { AuditFileStore } from '../../runtime/audit/file-store.js';
import { cleanup, fakeClock, KERNEL_KEY, KERNEL_KEY_HEX, OTHER_KEY, tempDir, writeLog } from '../helpers/audit-log.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (line: string) => out.push(line), err: (line: string) => err.push(line) }, out, err };
}

describe('cli/audit', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => cleanup(dir));

  it('verify prints OK with counts and warns when the signer is not pinned', () => {
    const { path, records } = writeLog(dir, 10, { checkpointEvery: 4 });
    const plain = capture();
    expect(auditVerify(path, plain.io)).toBe(0);
    expect(plain.out).toHaveLength(1);
    expect(plain.out[0]).toMatch(
      new RegExp(
        `^OK ${records.length} records, 3 namespaces, \\d+ checkpoints \\(${records.length} anchored, 0 unanchored\\)`,
      ),
    );
    expect(plain.err.join('\n')).toMatch(/not pinned/);
    const pinned = capture();
    expect(auditVerify(path, pinned.io, { trustedKeys: [KERNEL_KEY_HEX], requireAnchored: true })).toBe(0);
    expect(pinned.err.join('\n')).not.toMatch(/not pinned/);
  });

  it('verify warns of records a resuming kernel adopted unsigned, and --require-anchored refuses them', () => {
    const { path, records } = writeLog(dir, 6, { checkpointEvery: 100 });
    // The close's checkpoint gone, as a crash leaves a log: the records after the first checkpoint are unsigned.
    const checkpoints = readFileSync(`${path}.checkpoints`, 'utf8').split('\n').filter(Boolean);
    writeFileSync(`${path}.checkpoints`, `${checkpoints.slice(0, -1).join('\n')}\n`);
    const resumed = new AuditLog({ key: KERNEL_KEY, sink: AuditFileStore.open(path), checkpointEvery: 100 });
    resumed.close();
    const plain = capture();
    expect(auditVerify(path, plain.io, { trustedKeys: [KERNEL_KEY_HEX] })).toBe(0);
    expect(plain.err.join('\n')).toContain(`warning: ${records.length} records were never signed`);
    const strict = capture();
    expect(auditVerify(path, strict.io, { trustedKeys: [KERNEL_KEY_HEX], requireAnchored: true })).toBe(1);
    expect(strict.err.join('\n')).toMatch(/adopted when the log was resumed/);
    // Export says the same (review 135: it exported them silently) and, anchoring required, exports nothing.
    const exported = capture();
    expect(auditExport(path, { format: 'agent-kernel', trustedKeys: [KERNEL_KEY_HEX] }, exported.io)).toBe(0);
    expect(exported.out.length).toBeGreaterThan(0);
    expect(exported.err.join('\n')).toContain(`warning: ${records.length} records were never signed`);
    const refused = capture();
    const strictExport = { format: 'agent-kernel', trustedKeys: [KERNEL_KEY_HEX], requireAnchored: true } as const;
    expect(auditExport(path, strictExport, refused.io)).toBe(1);
    expect(refused.out).toEqual([]);
    expect(refused.err.join('\n')).toMatch(/adopted when the log was resumed/);
  });

  it('verify prints the seq where the log breaks and exits non-zero', () => {
    const { path } = writeLog(dir, 10, { checkpointEvery: 4 });
    const text = readFileSync(path, 'utf8').split('\n');
    text[6] = text[6]!.replace('"time":', '"time":1');
    writeFileSync(path, text.join('\n'));
    const broken = capture();
    expect(auditVerify(path, broken.io)).toBe(1);
    expect(broken.err[0]).toMatch(/^FAIL at seq 6: record 6: /);
    const missing = capture();
    expect(auditVerify(join(dir, 'none.jsonl'), missing.io)).toBe(1);
    expect(missing.err[0]).toBe('FAIL: audit log file is missing');
    expect(auditVerify(path, capture().io, { trustedKeys: ['nope'] })).toBe(2);
  });

  it('show prints an aligned table, filters, and escapes terminal control characters', () => {
    const path = join(dir, 'audit.jsonl');
    const log = new AuditLog({ key: KERNEL_KEY, sink: AuditFileStore.open(path), clock: fakeClock() });
    const a = log.intent({ namespace: 'n', agent: 'alice', syscall: 'tool', action: 'fs.read', resource: '/a' });
    log.outcome(a, { status: 'ok', durationMs: 1.5 });
    const b = log.intent({
      namespace: 'n',
      agent: 'mallory',
      syscall: 'tool',
      action: 'fs.write',
      resource: '\u001b[2J\u202eevil\n',
    });
    log.outcome(b, { status: 'denied', code: 'E_CAP_DENIED', durationMs: 0 });
    log.close();
    const all = capture();
    expect(auditShow(path, {}, all.io)).toBe(0);
    expect(all.out).toHaveLength(5);
    expect(all.out[0]).toMatch(/^SEQ\s+TIME\s+AGENT\s+SYSCALL\s+ACTION\s+RESOURCE\s+STATUS\s+CODE\s+DURATION$/);
    expect(all.out[2]).toMatch(
      /^\s*1\s+2025-01-01T00:00:00\.\d{3}Z\s+alice\s+tool\s+fs\.read\s+\/a\s+ok\s+-\s+1\.5ms$/,
    );
    const statusColumn = all.out[0]!.indexOf('STATUS');
    expect(all.out.slice(1).filter((line) => !/^(intent|ok|denied)/.test(line.slice(statusColumn)))).toEqual([]);
    for (const line of all.out) expect(sanitizeForTerminal(line)).toBe(line);
    expect(all.out.join('\n')).toContain('\\u{1b}[2J\\u{202e}evil\\u{a}');
    const denied = capture();
    expect(auditShow(path, { agent: 'mallory', status: 'denied' }, denied.io)).toBe(0);
    expect(denied.out).toHaveLength(2);
    expect(denied.out[1]).toMatch(/E_CAP_DENIED/);
    const tail = capture();
    expect(auditShow(path, { tail: 1 }, tail.io)).toBe(0);
    expect(tail.out).toHaveLength(2);
    expect(tail.out[1]).toMatch(/^\s*3\s/);
    expect(auditShow(path, { status: 'maybe' as never }, capture().io)).toBe(2);
    expect(auditShow(path, { tail: 0 }, capture().io)).toBe(2);
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"bad":true}\n`);
    const bad = capture();
    expect(auditShow(path, {}, bad.io)).toBe(1);
    expect(bad.err[0]).toMatch(/^line 5: /);
    expect(bad.out).toHaveLength(0);
  });

  // Red-team pass 55: a memory key an agent chose (C1, bidi, line separators) was written raw by export.
  it('export escapes the terminal-unsafe characters of an agent-chosen resource, and the line stays the same JSON', () => {
    const path = join(dir, 'audit.jsonl');
    const log = new AuditLog({ key: KERNEL_KEY, sink: AuditFileStore.open(path), clock: fakeClock() });
    const resource = 'mem:n/k\u009b31m\u202eevil\u202c\u2028';
    const intent = log.intent({ namespace: 'n', agent: 'a', syscall: 'mem.put', action: 'mem.put', resource });
    log.outcome(intent, { status: 'ok', durationMs: 1 });
    log.close();
    const result = capture();
    expect(auditExport(path, { format: 'agent-kernel' }, result.io)).toBe(0);
    expect(result.out).toHaveLength(1);
    expect(result.out[0]).not.toMatch(/[\u0080-\u009f\u2028\u202a-\u202e]/);
    expect(JSON.parse(result.out[0] ?? '')).toMatchObject({ target: resource });
  });

  it('export writes one agent_os_kernel line per outcome', () => {
    const path = join(dir, 'audit.jsonl');
    const log = new AuditLog({ key: KERNEL_KEY, sink: AuditFileStore.open(path), clock: fakeClock() });
    const cases = [
      ['ok', null],
      ['denied', 'E_TAINT'],
      ['error', 'E_TOOL_FAILED'],
      ['killed', 'E_QUOTA'],
    ] as const;
    for (const [status, code] of cases) {
      const intent = log.intent({
        namespace: 'n',
        agent: 'a',
        syscall: 'tool',
        action: 'net.http',
        resource: status === 'ok' ? null : 'https://x',
      });
      log.outcome(intent, { status, code, durationMs: 2 });
    }
    log.intent({ namespace: 'n', agent: 'a', syscall: 'tool', action: 'net.http' });
    log.close();
    const result = capture();
    expect(auditExport(path, { format: 'agent-kernel' }, result.io)).toBe(0);
    const rows = result.out.map((line) => JSON.parse(line));
    expect(rows).toHaveLength(4);
    expect(rows[0]).toEqual({
      timestamp: expect.stringMatching(/^2025-01-01T00:00:00\.\d{3}Z$/),
      action: 'net.http',
      target: '',
      status: 'OK',
      error: null,
      duration_ms: 2,
    });
    expect(rows.map((row) => [row.status, row.error, row.target])).toEqual([
      ['OK', null, ''],
      ['DENIED', 'E_TAINT', 'https://x'],
      ['ERROR', 'E_TOOL_FAILED', 'https://x'],
      ['ERROR', 'E_QUOTA', 'https://x'],
    ]);
    expect(Object.keys(rows[0])).toEqual(['timestamp', 'action', 'target', 'status', 'error', 'duration_ms']);
    expect(auditExport(path, { format: 'csv' as never }, capture().io)).toBe(2);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"E_TAINT"', '"E_QUOTA"'));
    const tampered = capture();
    expect(auditExport(path, { format: 'agent-kernel' }, tampered.io)).toBe(1);
    expect(tampered.out).toHaveLength(0);
    expect(tampered.err[0]).toMatch(/does not verify at seq 3/);
  });

  // Red-team pass 132: export verified under whatever single key signed the log and said nothing, so a log rewritten
  // and re-signed with a fresh key exported its forged records with exit 0.
  it('export warns on stderr when the signer is not pinned, as verify does, and refuses a log signed by another key when pinned', () => {
    const { path } = writeLog(dir, 6, { checkpointEvery: 4, key: OTHER_KEY });
    const otherHex = Buffer.from(OTHER_KEY.publicKey).toString('hex');
    const unpinned = capture();
    expect(auditExport(path, { format: 'agent-kernel' }, unpinned.io)).toBe(0);
    expect(unpinned.out.length).toBeGreaterThan(0);
    const verified = capture();
    expect(auditVerify(path, verified.io)).toBe(0);
    const warning = verified.err.find((line) => line.includes('not pinned'));
    expect(warning).toBe(
      `warning: checkpoint signer ${otherHex} is not pinned; pass the kernel public key to trust it`,
    );
    expect(unpinned.err).toEqual([warning]);
    const pinned = capture();
    expect(auditExport(path, { format: 'agent-kernel', trustedKeys: [KERNEL_KEY_HEX] }, pinned.io)).toBe(1);
    expect(pinned.out).toEqual([]);
    expect(pinned.err).toEqual([
      expect.stringMatching(/^audit export: the log does not verify at seq 0: .*untrusted key/),
    ]);
    const own = capture();
    expect(auditExport(path, { format: 'agent-kernel', trustedKeys: [otherHex] }, own.io)).toBe(0);
    expect(own.err).toEqual([]);
    expect(own.out).toEqual(unpinned.out);
    expect(auditExport(path, { format: 'agent-kernel', trustedKeys: ['nope'] }, capture().io)).toBe(2);
  });

  it('export reports a missing log, a missing checkpoint file and a bad line without printing anything', () => {
    const { path } = writeLog(dir, 4, { checkpointEvery: 4 });
    const missing = capture();
    expect(auditExport(join(dir, 'none.jsonl'), { format: 'agent-kernel' }, missing.io)).toBe(1);
    expect(missing.err).toEqual(['audit export: the log does not verify: audit log file is missing']);
    const checkpoints = readFileSync(`${path}.checkpoints`);
    writeFileSync(`${path}.checkpoints`, '');
    const unsigned = capture();
    expect(auditExport(path, { format: 'agent-kernel' }, unsigned.io)).toBe(1);
    expect(unsigned.err[0]).toMatch(/no signed checkpoint/);
    writeFileSync(`${path}.checkpoints`, checkpoints);
    const records = readFileSync(path);
    writeFileSync(path, Buffer.concat([records, Buffer.from([0xff, 0x0a])]));
    const bad = capture();
    expect(auditExport(path, { format: 'agent-kernel', trustedKeys: [KERNEL_KEY_HEX] }, bad.io)).toBe(1);
    expect(bad.out).toEqual([]);
    expect(bad.err[0]).toMatch(
      /^audit export: the log does not verify at seq \d+: record \d+: line is not valid UTF-8$/,
    );
    // Inside the checkpointed records, the unreadable line is named rather than the truncation it causes.
    const head = records.subarray(0, records.indexOf(0x0a) + 1);
    writeFileSync(path, Buffer.concat([head, Buffer.from([0xff, 0x0a]), records.subarray(head.length)]));
    const inside = capture();
    expect(auditExport(path, { format: 'agent-kernel' }, inside.io)).toBe(1);
    expect(inside.err).toEqual(['audit export: the log does not verify at seq 1: record 1: line is not valid UTF-8']);
    const verified = capture();
    expect(auditVerify(path, verified.io)).toBe(1);
    expect(verified.err).toEqual(['FAIL at seq 1: record 1: line is not valid UTF-8']);
    // A torn last line is ignored, as by verify.
    writeFileSync(path, Buffer.concat([records, Buffer.from('{"seq":')]));
    const torn = capture();
    expect(auditExport(path, { format: 'agent-kernel', trustedKeys: [KERNEL_KEY_HEX] }, torn.io)).toBe(0);
    expect(torn.out.length).toBeGreaterThan(0);
  });

  it('escapes what a terminal would interpret', () => {
    expect(sanitizeForTerminal('ok')).toBe('ok');
    expect(sanitizeForTerminal('a\u0007b\u009bc\u2066')).toBe('a\\u{7}b\\u{9b}c\\u{2066}');
    // Bidi and format controls outside the C0/C1 ranges (red-team pass 71: U+061C passed).
    for (const char of ['\u061c', '\u206a', '\u206f', '\ufff9', '\ufffb']) {
      const code = char.charCodeAt(0).toString(16);
      expect(sanitizeForTerminal(`a${char}b`)).toBe(`a\\u{${code}}b`);
      expect(terminalSafeJson(`a${char}b`)).toBe(`"a\\u${code.padStart(4, '0')}b"`);
      expect(JSON.parse(terminalSafeJson(`a${char}b`))).toBe(`a${char}b`);
    }
  });

  it('escapes invisible characters, so two different strings never print alike (red-team pass 92)', () => {
    const invisible = ['\u200b', '\u2060', '\ufeff', '\u00ad', '\u034f', '\u3164', '\u{e0041}', '\u{e007f}'];
    for (const char of invisible) {
      const code = (char.codePointAt(0) ?? 0).toString(16);
      expect(sanitizeForTerminal(`notes/a${char}`)).toBe(`notes/a\\u{${code}}`);
      expect(JSON.parse(terminalSafeJson(`a${char}b`))).toBe(`a${char}b`);
      expect(terminalSafeJson(`a${char}b`)).not.toContain(char);
    }
    // Visible text, accents and emoji included, is left as it is.
    for (const text of ['café', 'naïve', '日本語', '🙂', 'e\u0301']) expect(sanitizeForTerminal(text)).toBe(text);
  });
});

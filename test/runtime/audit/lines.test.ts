import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NOT_REGULAR_FILE, scanLines } from '../../../runtime/audit/lines.js';
import { cleanup, tempDir } from '../../helpers/audit-log.js';

function collect(path: string, max = 1 << 20): { lines: string[]; scan: ReturnType<typeof scanLines> } {
  const lines: string[] = [];
  const scan = scanLines(path, max, (line) => {
    lines.push(line);
    return true;
  });
  return { lines, scan };
}

describe('audit-lines', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => cleanup(dir));

  it('returns every complete line across read-chunk boundaries, multi-byte characters included', () => {
    const expected = Array.from({ length: 9000 }, (_, i) => `${i}:${'é€😀x'.repeat(i % 97)}`);
    const path = join(dir, 'big.jsonl');
    const text = expected.map((line) => `${line}\n`).join('');
    writeFileSync(path, text);
    expect(Buffer.byteLength(text)).toBeGreaterThan(3 << 20);
    const { lines, scan } = collect(path);
    expect(lines).toEqual(expected);
    const { dev, ino } = statSync(path);
    expect(scan).toEqual({
      file: { dev, ino },
      lines: expected.length,
      validBytes: Buffer.byteLength(text),
      tornBytes: 0,
      stopped: false,
    });
  });

  it('reports bytes after the last newline as torn and never hands them out', () => {
    const path = join(dir, 'torn.jsonl');
    writeFileSync(path, 'a\nbb\n{"par');
    const { lines, scan } = collect(path);
    expect(lines).toEqual(['a', 'bb']);
    expect(scan).toMatchObject({ validBytes: 5, tornBytes: 5 });
  });

  it('stops at an over-long line, an invalid UTF-8 line, or when asked', () => {
    const path = join(dir, 'bad.jsonl');
    writeFileSync(path, `ok\n${'x'.repeat(100)}\nafter\n`);
    expect(collect(path, 50).scan.error).toEqual({ index: 1, reason: 'line is too long' });
    writeFileSync(
      path,
      Buffer.concat([Buffer.from('ok\n'), Buffer.from([0x61, 0xc3, 0x28, 0x0a]), Buffer.from('z\n')]),
    );
    const invalid = collect(path);
    expect(invalid.lines).toEqual(['ok']);
    expect(invalid.scan.error).toEqual({ index: 1, reason: 'line is not valid UTF-8' });
    writeFileSync(path, 'ok\n\ufffd\n');
    expect(collect(path).lines).toEqual(['ok', '\ufffd']);
    const seen: number[] = [];
    const stopped = scanLines(path, 100, (_line, index) => {
      seen.push(index);
      return false;
    });
    expect(stopped).toMatchObject({ stopped: true, lines: 0 });
    expect(seen).toEqual([0]);
  });

  // Red-team pass 135: a FIFO in place of an audit file made the open wait for a writer for ever, and a device reads
  // without end. Only a regular file is read, through a symlink too (a log may be given through one); a FIFO is in
  // test/escape/audit-special-files.test.ts, where a hang is a child's.
  it('reads only a regular file: a device, a directory or a link to one is EFTYPE (NOT_REGULAR_FILE), unread', () => {
    symlinkSync('/dev/zero', join(dir, 'zero'));
    symlinkSync('/dev/null', join(dir, 'null'));
    mkdirSync(join(dir, 'directory'));
    let calls = 0;
    for (const name of ['zero', 'null', 'directory']) {
      expect(() =>
        scanLines(join(dir, name), 100, () => {
          calls += 1;
          return true;
        }),
      ).toThrow(expect.objectContaining({ code: NOT_REGULAR_FILE, path: join(dir, name) }));
    }
    expect(NOT_REGULAR_FILE).toBe('EFTYPE');
    expect(calls).toBe(0);
    writeFileSync(join(dir, 'real.jsonl'), 'a\n');
    symlinkSync(join(dir, 'real.jsonl'), join(dir, 'alias.jsonl'));
    expect(collect(join(dir, 'alias.jsonl')).lines).toEqual(['a']);
  });

  it('throws the fs error for a missing file and TypeError/RangeError for bad arguments', () => {
    expect(() => collect(join(dir, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => scanLines('', 10, () => true)).toThrow(TypeError);
    expect(() => scanLines('x', 0, () => true)).toThrow(RangeError);
    expect(() => scanLines('x', 10, 5 as never)).toThrow(TypeError);
  });
});

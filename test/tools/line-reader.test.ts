import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineReader } from '../../tools/line-reader.js';

describe('LineReader', () => {
  it('gives back the lines written, however the bytes are cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'grapheme', maxLength: 40 }).map((line) => line.replaceAll('\n', ' ')),
          {
            maxLength: 12,
          },
        ),
        fc.array(fc.nat(60), { maxLength: 20 }),
        fc.boolean(),
        (lines, cuts, crlf) => {
          const bytes = Buffer.from(lines.map((line) => `${line}${crlf ? '\r' : ''}\n`).join(''), 'utf8');
          const reader = new LineReader(1024);
          const read: string[] = [];
          let at = 0;
          for (const cut of [...cuts, bytes.length]) {
            const end = Math.min(bytes.length, at + cut);
            read.push(...reader.push(bytes.subarray(at, end)));
            at = end;
          }
          // A \r the line itself ended with is taken as the \r\n's: strip it from the expectation too.
          expect(read).toEqual(lines.map((line) => (!crlf && line.endsWith('\r') ? line.slice(0, -1) : line)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('bounds a line, not what one read holds: many lines of the bound in one chunk pass, one byte more fails', () => {
    const reader = new LineReader(8);
    expect(reader.push(Buffer.from('12345678\n12345678\n1234'))).toEqual(['12345678', '12345678']);
    expect(reader.push(Buffer.from('5678\n'))).toEqual(['12345678']);
    expect(() => reader.push(Buffer.from('123456789'))).toThrow(RangeError);
    expect(() => new LineReader(8).push(Buffer.from('1234\n123456789\n'))).toThrow(RangeError);
  });

  it('a line trickled a byte at a time comes back whole', () => {
    const reader = new LineReader(10_000);
    const line = 'é'.repeat(2500);
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    const read: string[] = [];
    for (let i = 0; i < bytes.length; i++) read.push(...reader.push(bytes.subarray(i, i + 1)));
    expect(read).toEqual([line]);
  });
});

// TextEncoder, TextDecoder, atob and btoa inside the guest (isolates/guest/encoding.cjs), compared with
// Node's own implementations on random input (fast-check): each property runs one agent over many samples.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel } from '../../../index.js';
import { testKernel } from '../../helpers/kernel.js';

let kernel: Kernel;
beforeAll(() => {
  kernel = testKernel({ limits: { cpu_ms: 10_000, wall_ms: 20_000, memory_mb: 128 } });
});
afterAll(async () => {
  await kernel.close();
});

async function inGuest(code: string, input: unknown): Promise<unknown> {
  const result = await kernel.run({ code, input });
  expect(result.ok, JSON.stringify(result).slice(0, 500)).toBe(true);
  return result.ok ? result.value : undefined;
}

// Any UTF-16 string, lone surrogates included.
const anyString = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 })
  .map((units) => String.fromCharCode(...units));
const anyBytes = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 });

describe('TextEncoder / TextDecoder', () => {
  it('encode gives the bytes Node gives for any string (lone surrogates become U+FFFD)', async () => {
    const samples = fc.sample(anyString, 300);
    const out = (await inGuest(
      'export default (samples) => samples.map((s) => Array.from(new TextEncoder().encode(s)))',
      samples,
    )) as number[][];
    expect(out).toEqual(samples.map((s) => [...new TextEncoder().encode(s)]));
  });

  it('decode matches Node for any bytes: replacement, fatal, BOM, and streaming split anywhere', async () => {
    const samples = fc.sample(fc.tuple(anyBytes, fc.nat(40)), 300);
    const out = (await inGuest(
      `export default (samples) => samples.map(([bytes, cut]) => {
        const data = new Uint8Array(bytes);
        let fatal;
        try { fatal = new TextDecoder('utf-8', { fatal: true }).decode(data); } catch (e) { fatal = e.constructor.name; }
        const d = new TextDecoder();
        const streamed = d.decode(data.subarray(0, cut), { stream: true }) + d.decode(data.subarray(cut));
        return [new TextDecoder().decode(data), new TextDecoder('utf8', { ignoreBOM: true }).decode(data.buffer), fatal, streamed];
      })`,
      samples,
    )) as unknown[][];
    const expected = samples.map(([bytes, cut]) => {
      const data = new Uint8Array(bytes);
      let fatal: string;
      try {
        fatal = new TextDecoder('utf-8', { fatal: true }).decode(data);
      } catch (error) {
        fatal = (error as Error).constructor.name;
      }
      const d = new TextDecoder();
      const streamed = d.decode(data.subarray(0, cut), { stream: true }) + d.decode(data.subarray(cut));
      return [
        new TextDecoder().decode(data),
        new TextDecoder('utf8', { ignoreBOM: true }).decode(data),
        fatal,
        streamed,
      ];
    });
    expect(out).toEqual(expected);
  });

  it('round-trips text, encodeInto stops before a character that does not fit, and only UTF-8 is known', async () => {
    const out = await inGuest(
      `export default () => {
        const text = 'héllo wörld 🌍 ✓';
        const roundTrip = new TextDecoder().decode(new TextEncoder().encode(text)) === text;
        const target = new Uint8Array(5);
        const into = new TextEncoder().encodeInto('ab🌍cd', target);
        let label;
        try { new TextDecoder('latin1'); } catch (e) { label = e.constructor.name; }
        return { roundTrip, into, bytes: Array.from(target), encoding: new TextEncoder().encoding, label, tag: String(new TextDecoder()) };
      }`,
      null,
    );
    expect(out).toEqual({
      roundTrip: true,
      into: { read: 2, written: 2 },
      bytes: [97, 98, 0, 0, 0],
      encoding: 'utf-8',
      label: 'RangeError',
      tag: '[object TextDecoder]',
    });
  });
});

describe('atob / btoa', () => {
  it('btoa(atob(x)) and atob(btoa(x)) agree with Node, errors included', async () => {
    const binary = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 30 }).map((b) => String.fromCharCode(...b));
    const loose = fc.string({ unit: fc.constantFrom(...'AZaz09+/= \n\t-_*'.split('')), maxLength: 16 });
    const samples = { binary: fc.sample(binary, 200), loose: fc.sample(loose, 300), wide: ['€', 'a\u0100'] };
    const outcome = (f: () => string) => {
      try {
        return f();
      } catch (error) {
        return `${(error as Error).name}`;
      }
    };
    const out = await inGuest(
      `export default ({ binary, loose, wide }) => {
        const outcome = (f) => { try { return f(); } catch (e) { return e.name; } };
        return {
          binary: binary.map((s) => [btoa(s), atob(btoa(s)) === s]),
          loose: loose.map((s) => outcome(() => atob(s))),
          wide: wide.map((s) => outcome(() => btoa(s))),
        };
      }`,
      samples,
    );
    expect(out).toEqual({
      binary: samples.binary.map((s) => [btoa(s), true]),
      loose: samples.loose.map((s) => outcome(() => atob(s))),
      wide: samples.wide.map((s) => outcome(() => btoa(s))),
    });
  });
});

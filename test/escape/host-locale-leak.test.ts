// Attack: read the host's time zone and locale (TZ, LANG, LC_ALL) from inside the guest: V8 takes both from
// the process, so Intl, Date#toString and getTimezoneOffset would tell an agent where and how the host runs.
// Agents must see UTC and en-US whatever the host says, inline too, without the kernel changing the host's
// own zone: the kernel runs here in a child process started with TZ=Asia/Kolkata and LANG/LC_ALL=de_DE.UTF-8,
// and the same child reports what the host itself sees, so the test fails if the environment did not bite.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const INDEX = fileURLToPath(new URL('../../index.ts', import.meta.url));

const PROBE = `
const d = new Date(Date.UTC(2024, 0, 15, 12, 30, 0));
return {
  offset: d.getTimezoneOffset(),
  hours: d.getHours(),
  string: d.toString(),
  timeString: d.toTimeString(),
  local: d.toLocaleString(),
  number: (1234567.891).toLocaleString(),
  intl: Intl.DateTimeFormat().resolvedOptions().locale,
  zone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  numberLocale: new Intl.NumberFormat().resolvedOptions().locale,
  collator: new Intl.Collator().resolvedOptions().locale,
  upper: 'i'.toLocaleUpperCase(),
  fromParts: new Date(2024, 0, 15, 12, 30).toISOString(),
  parsed: new Date('2024-01-15T12:30:00').toISOString(),
  parsedLegacy: new Date('Jan 15 2024 12:30').toISOString(),
  parsedZoned: new Date('2024-01-15T12:30:00+05:30').toISOString(),
  dateOnly: new Date('2024-01-15').toISOString(),
  asked: [(1234.5).toLocaleString('de-DE'), d.toLocaleString('en-GB', { timeZone: 'Asia/Kolkata' })],
  called: typeof Date(),
};`;

const CHILD = `
import { Kernel } from ${JSON.stringify(INDEX)};
const host = (() => { ${PROBE} })();
const kernel = Kernel.create({});
const result = await kernel.run({ code: ${JSON.stringify(`export default () => { ${PROBE} }`)} });
await kernel.close();
const after = new Date(0).getTimezoneOffset();
process.stdout.write(JSON.stringify({ host, guest: result.ok ? result.value : result, after }));
`;

describe('the host time zone and locale do not reach the guest', () => {
  it('a kernel under TZ=Asia/Kolkata and LANG=de_DE.UTF-8 shows agents UTC and en-US, and leaves the host as it was', () => {
    const child = spawnSync(
      process.execPath,
      ['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', CHILD],
      {
        env: { ...process.env, TZ: 'Asia/Kolkata', LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(child.status, child.stderr).toBe(0);
    const { host, guest, after } = JSON.parse(child.stdout) as Record<string, Record<string, unknown>> & {
      after: number;
    };
    // The environment bites: the host itself sees Kolkata and German, before and after the kernel ran.
    expect(host).toMatchObject({ offset: -330, intl: 'de-DE', zone: 'Asia/Calcutta', number: '1.234.567,891' });
    expect(after).toBe(-330);
    expect(guest).toEqual({
      offset: 0,
      hours: 12,
      string: 'Mon Jan 15 2024 12:30:00 GMT+0000 (Coordinated Universal Time)',
      timeString: '12:30:00 GMT+0000 (Coordinated Universal Time)',
      local: '1/15/2024, 12:30:00 PM',
      number: '1,234,567.891',
      intl: 'en-US',
      zone: 'UTC',
      numberLocale: 'en-US',
      collator: 'en-US',
      upper: 'I',
      fromParts: '2024-01-15T12:30:00.000Z',
      parsed: '2024-01-15T12:30:00.000Z',
      parsedLegacy: '2024-01-15T12:30:00.000Z',
      parsedZoned: '2024-01-15T07:00:00.000Z',
      dateOnly: '2024-01-15T00:00:00.000Z',
      // A locale or zone the agent names is honoured.
      asked: ['1.234,5', '15/01/2024, 18:00:00'],
      called: 'string',
    });
  });
});

// Attack: read the host's time zone and locale (TZ, LANG, LC_ALL) from inside the guest: V8 takes both from
// the process, so Intl, Date#toString and getTimezoneOffset would tell an agent where and how the host runs.
// Agents must see UTC and en-US whatever the host says, in both tiers, without an inline kernel changing the
// host's own zone: the kernel runs here in a child process started with TZ set to a zone far from UTC and
// LANG/LC_ALL=de_DE.UTF-8, and the same child reports what the host itself sees, so the test fails if the
// environment did not bite. Inline, the guest's own shim (isolates/guest/locale.cjs) is all that stands
// between the agent and the host's zone; in the process tier the sandbox hosts also run with TZ=UTC LANG=C.
//
// Red-team pass 96 found the inline shim leaking the zone through options that are a primitive (ECMA-402
// converts them to an object with no timeZone), options and locales read twice (a getter answers the shim
// one thing and ECMA-402 another), Date.parse text whose zone word V8 skips (parenthesised) or never reads
// as a zone (before the first number), legacy dates without a time, and local times in a DST gap.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ISOLATION_MODES, type IsolationMode } from '../helpers/kernel.js';

const INDEX = fileURLToPath(new URL('../../index.ts', import.meta.url));

// Date strings whose reading the guest must take exactly as V8 does on a UTC host: honest forms (ISO with and
// without an offset, RFC 2822, Date#toString's own output), legacy forms without a zone, and text a parser that
// looks for zone words by pattern gets wrong (a zone word in parentheses, before the first number, glued to a
// number; an offset V8 reads where no pattern expects one; a NUL or an unclosed parenthesis hiding the rest;
// local times in New York's DST gap and overlap; the ends of the time range).
const DATE_STRINGS = [
  '2024-01-15T12:30:00',
  '2024-01-15T12:30',
  '2024-01-15T12:30:00.123',
  '2024-01-15t12:30',
  '2024-01-15T12:30:00Z',
  '2024-01-15T12:30:00z',
  '2024-01-15T12:30:00+05:30',
  '2024-01-15T12:30:00-0800',
  '2024-01-15T24:00',
  '2024-01-15',
  '2024-01',
  '2024',
  '+002024-01-15T12:30:00',
  '-000001-01-01T00:00:00',
  '2024-01-15T12:30:00 ',
  ' 2024-01-15T12:30:00',
  '2024-01-15 12:30',
  '2024-1-15 12:30',
  '2024/01/15',
  '2024/01/15 12:30',
  '01/15/2024',
  '1/15/2024 12:30 PM',
  'Jan 15 2024',
  'Jan 15 2024 12:30',
  '15 Jan 2024 12:30:45.678',
  'January 15, 2024 12:30:45',
  'Jan 15 2024 12:30 am',
  'Mon, 15 Jan 2024 12:30:00 GMT',
  'Mon, 15 Jan 2024 12:30:00 +0530',
  'Mon Jan 15 2024 12:30:00 GMT+0530 (India Standard Time)',
  'Thu, 01 Jan 1970 00:00:00',
  'Jan 15 2024 12:30 EST',
  'Jan 15 2024 12:30 pdt',
  'Jan 15 2024 12:30 Z',
  'Jan 15 2024 12:30 GMT-8',
  'Jan 15 2024 12:30 +05:30',
  'Jan 15 2024 12:30 +0530 UTC',
  'Jan 15 2024 12:30 UTC (India)',
  'Jan 15 2024 12:30 (UTC)',
  '2024/01/15 12:30 (GMT)',
  'Jan 15 2024 12:30 (UTC',
  'Jan 15 2024 (x(y)z) 12:30',
  'UTC Jan 15 2024 12:30',
  'GMT 2024/01/15 12:30',
  'Jan 15 2024 12:30 UTC5',
  'Jan 15 2024 12:30 +5',
  'Jan 15 2024 12:30-05',
  'Jan 15 2024 12:30\u0000 UTC',
  '2024-01-15T12:30\u0000Z',
  'Jan 15 2024 12:30 \u00a0UTC',
  'Jan 15 2024\u00a012:30',
  'Jan 15 2024 12::',
  '12:30 Jan 15 2024',
  '2024-03-10T02:30:00',
  'Mar 10 2024 02:30',
  '2024-11-03T01:30:00',
  'Nov 3 2024 1:30 AM',
  '1970-01-01T00:00:00',
  '+275760-09-13T00:00:00',
  '+275760-09-13T00:00:00Z',
  '-271821-04-20T00:00:00',
  '-271821-04-19T23:00:00',
  'Sep 12 275760 20:00',
  'garbage',
  '',
  'T12:30',
];

const PROBE = `
const d = new Date(Date.UTC(2024, 0, 15, 12, 30, 0));
const t = (f) => { try { return f(); } catch (e) { return 'threw ' + e.name; } };
const twice = (first, then) => { let n = 0; return () => (n++ === 0 ? first : then); };
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
  // Every Intl service there is (pass 134: V8's v8BreakIterator, in every context but Node's own realm, took the
  // host's LANG inline; a list of services to fix would miss the next one, as it missed DurationFormat on Node 24).
  breakIterator: typeof Intl.v8BreakIterator,
  services: Object.getOwnPropertyNames(Intl)
    .filter((name) => typeof Intl[name]?.supportedLocalesOf === 'function')
    .map((name) => [name, t(() => new Intl[name](undefined, name === 'DisplayNames' ? { type: 'region' } : undefined).resolvedOptions().locale)]),
  upper: 'i'.toLocaleUpperCase(),
  fromParts: new Date(2024, 0, 15, 12, 30).toISOString(),
  parsed: new Date('2024-01-15T12:30:00').toISOString(),
  parsedLegacy: new Date('Jan 15 2024 12:30').toISOString(),
  parsedZoned: new Date('2024-01-15T12:30:00+05:30').toISOString(),
  dateOnly: new Date('2024-01-15').toISOString(),
  asked: [(1234.5).toLocaleString('de-DE'), d.toLocaleString('en-GB', { timeZone: 'Asia/Kolkata' })],
  called: typeof Date(),
  // Options that are a primitive: ECMA-402 makes an object of them, with no timeZone.
  zoneNumberOptions: t(() => new Intl.DateTimeFormat(undefined, 1).resolvedOptions().timeZone),
  zoneStringOptions: t(() => Intl.DateTimeFormat('en-US', 'x').resolvedOptions().timeZone),
  localeStringTrue: t(() => d.toLocaleString('en-US', true)),
  dateStringNumber: t(() => d.toLocaleDateString('en-US', 1)),
  timeStringSymbol: t(() => d.toLocaleTimeString(undefined, Symbol())),
  arrayToLocale: t(() => [d].toLocaleString('en-US', 0)),
  nullOptions: [t(() => new Intl.DateTimeFormat('en-US', null)), t(() => d.toLocaleString('en-US', null))],
  // Options and locales read twice: the first answer is the kernel's choice, the second the host's default.
  zoneGetterCounted: t(() => { const next = twice('UTC', undefined); return new Intl.DateTimeFormat('en-US', { get timeZone() { return next(); } }).resolvedOptions().timeZone; }),
  zoneGetterLocaleString: t(() => { const next = twice('UTC', undefined); return d.toLocaleString('en-US', { get timeZone() { return next(); } }); }),
  zoneProxy: t(() => { const next = twice('UTC', undefined); return new Intl.DateTimeFormat('en-US', new Proxy({}, { get: (_, key) => (key === 'timeZone' ? next() : undefined) })).resolvedOptions().timeZone; }),
  localeGetterTwice: t(() => { const next = twice('en-US', 'zz'); const l = { length: 1, get 0() { return next(); } }; return new Intl.NumberFormat(l).resolvedOptions().locale; }),
  localeLengthTwice: t(() => { const next = twice(1, 0); const l = { get length() { return next(); }, 0: 'en-US' }; return new Intl.DateTimeFormat(l).resolvedOptions().locale; }),
  collatorLocaleTwice: t(() => { const next = twice('en-US', 'zz'); return new Intl.Collator([{ toString: next }]).resolvedOptions().locale; }),
  // No locale, or none supported: the kernel's default, never the host's.
  emptyLocales: [new Intl.NumberFormat([]).resolvedOptions().locale, new Intl.NumberFormat('und').resolvedOptions().locale, new Intl.NumberFormat(['zz']).resolvedOptions().locale],
  // Honest code: named zones and locales are honoured, as on any host.
  honest: [
    new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Kolkata', hour: 'numeric' }).format(d),
    new Intl.DateTimeFormat('en-US', Object.create({ timeZone: 'Asia/Tokyo' })).resolvedOptions().timeZone,
    d.toLocaleString('de-DE', { timeZone: 'UTC' }),
    d.toLocaleDateString('ja-JP', { dateStyle: 'long' }),
    new Intl.NumberFormat(['zz', 'de']).resolvedOptions().locale,
    new Intl.NumberFormat('de-u-nu-arab').resolvedOptions().locale,
    new Intl.DateTimeFormat(new Intl.Locale('fr-CA')).resolvedOptions().locale,
    'i'.toLocaleUpperCase('tr'),
    'i'.toLocaleUpperCase(['zz', 'tr']),
    t(() => 'i'.toLocaleUpperCase(['tr', 'not a tag'])),
    t(() => new Intl.NumberFormat(['de', 'not a tag'])),
    'a'.localeCompare('b', 'de'),
  ],
  dates: ${JSON.stringify(DATE_STRINGS)}.map((text) => Date.parse(text)),
  constructed: ${JSON.stringify(DATE_STRINGS)}.map((text) => new Date(text).getTime()),
};`;

/** What V8 makes of DATE_STRINGS on a UTC host (NaN as null, as JSON has it). */
function utcReadings(): (number | null)[] {
  const child = spawnSync(
    process.execPath,
    ['-e', `process.stdout.write(JSON.stringify(${JSON.stringify(DATE_STRINGS)}.map((text) => Date.parse(text))))`],
    { env: { ...process.env, TZ: 'UTC', LANG: 'C', LC_ALL: 'C' }, encoding: 'utf8', timeout: 30_000 },
  );
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout) as (number | null)[];
}

interface Seen {
  host: Record<string, unknown>;
  guest: Record<string, unknown>;
  after: number;
}

function underHost(isolation: IsolationMode, tz: string): Seen {
  const child = spawnSync(
    process.execPath,
    [
      '--no-node-snapshot',
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `
import { Kernel } from ${JSON.stringify(INDEX)};
const host = (() => { ${PROBE} })();
const kernel = Kernel.create({ isolation: ${JSON.stringify(isolation)} });
const result = await kernel.run({ code: ${JSON.stringify(`export default () => { ${PROBE} }`)} });
await kernel.close();
const after = new Date(0).getTimezoneOffset();
process.stdout.write(JSON.stringify({ host, guest: result.ok ? result.value : result, after }));
`,
    ],
    {
      env: { ...process.env, TZ: tz, LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' },
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  expect(child.status, child.stderr).toBe(0);
  return JSON.parse(child.stdout) as Seen;
}

// Each host zone with what the host itself shows for 2024-01-15 and in 1970 (the environment bites).
const HOSTS = [
  { tz: 'Asia/Kolkata', offset: -330, zone: 'Asia/Calcutta', epochOffset: -330 },
  { tz: 'America/New_York', offset: 300, zone: 'America/New_York', epochOffset: 300 },
];

describe.each(ISOLATION_MODES)('the host time zone and locale do not reach the guest (%s tier)', (isolation) => {
  it.each(HOSTS)(
    'a kernel under TZ=$tz and LANG=de_DE.UTF-8 shows agents UTC and en-US, and leaves the host as it was',
    ({ tz, offset, zone, epochOffset }) => {
      const { host, guest, after } = underHost(isolation, tz);
      expect(host).toMatchObject({ offset, intl: 'de-DE', zone, number: '1.234.567,891' });
      const services = guest['services'] as [string, string][];
      expect(services.length).toBeGreaterThanOrEqual(8);
      // PluralRules resolves en-US to its language alone.
      expect(services.filter(([, locale]) => locale !== 'en-US' && locale !== 'en')).toEqual([]);
      // The host's own services answer German (de-DE, or de where ICU keeps only the language), the same services.
      expect((host['services'] as [string, string][]).filter(([, locale]) => locale.startsWith('de')).length).toBe(
        services.length,
      );
      expect(after).toBe(epochOffset);
      const utc = utcReadings();
      const local = '1/15/2024, 12:30:00 PM';
      expect(guest).toEqual({
        offset: 0,
        hours: 12,
        string: 'Mon Jan 15 2024 12:30:00 GMT+0000 (Coordinated Universal Time)',
        timeString: '12:30:00 GMT+0000 (Coordinated Universal Time)',
        local,
        number: '1,234,567.891',
        intl: 'en-US',
        zone: 'UTC',
        numberLocale: 'en-US',
        collator: 'en-US',
        breakIterator: 'undefined',
        services,
        upper: 'I',
        fromParts: '2024-01-15T12:30:00.000Z',
        parsed: '2024-01-15T12:30:00.000Z',
        parsedLegacy: '2024-01-15T12:30:00.000Z',
        parsedZoned: '2024-01-15T07:00:00.000Z',
        dateOnly: '2024-01-15T00:00:00.000Z',
        // A locale or zone the agent names is honoured.
        asked: ['1.234,5', '15/01/2024, 18:00:00'],
        called: 'string',
        zoneNumberOptions: 'UTC',
        zoneStringOptions: 'UTC',
        localeStringTrue: local,
        dateStringNumber: '1/15/2024',
        timeStringSymbol: '12:30:00 PM',
        arrayToLocale: local,
        nullOptions: ['threw TypeError', 'threw TypeError'],
        zoneGetterCounted: 'UTC',
        zoneGetterLocaleString: local,
        zoneProxy: 'UTC',
        localeGetterTwice: 'en-US',
        localeLengthTwice: 'en-US',
        collatorLocaleTwice: 'en-US',
        emptyLocales: ['en-US', 'en-US', 'en-US'],
        honest: [
          '6 PM',
          'Asia/Tokyo',
          '15.1.2024, 12:30:00',
          '2024年1月15日',
          'de',
          'de-u-nu-arab',
          'fr-CA',
          'İ',
          'I',
          'İ',
          'threw RangeError',
          -1,
        ],
        dates: utc,
        constructed: utc,
      });
    },
  );
});

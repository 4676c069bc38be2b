// What the vault's scrub costs the kernel's event loop per megabyte of tool result (SECURITY.md quotes these
// figures under "Vault secrets in results"): each shape of result beside a floor measured in the same run,
// `String.prototype.includes` of the raw secret over the same text (the least any scrub does).
// Run: npm run bench -- --suite vault (or: node --no-node-snapshot --import ./bench/loader/register.mjs bench/vault.bench.ts)
import { Vault } from '../runtime/tool-use/vault.js';
import { Figures, scaled } from './report.js';

const FLOOR = 'String.includes of the raw secret over the same text';
const figures = new Figures({
  'vault.scrub.plain_text': {
    what: 'Vault.scrub of 1 MB of plain text holding no secret, one entry',
    floor: FLOOR,
  },
  'vault.scrub.all_escapes': {
    what: 'the same for 1 MB of nothing but escapes and `&` (`\\n&amp;%41+` repeated), no secret in it',
    floor: FLOOR,
  },
  'vault.scrub.dense_escapes': {
    what: 'the same for 1 MB of escapes every step undoes (`%41\\u0041&#65;` repeated), no secret in it',
    floor: FLOOR,
  },
  'vault.scrub.distinct_strings': {
    what: 'an array of 40,000 distinct 26-character strings of escapes (1.4 MB as JSON), no secret in them',
    floor: FLOOR,
  },
  'vault.scrub.honest_echo': {
    what: 'a JSON body echoing the secret once in PHP’s spelling, beside 1 MB of escapes the agent chose',
    floor: FLOOR,
  },
  'vault.scrub.hostile_echo': {
    what: '1 MB of the secret spelled in twelve one- and two-step spellings, over and over (a hostile bound server)',
    floor: FLOOR,
  },
  'vault.scrub.entries_200': {
    what: 'Vault.scrub of 1 MB of plain text with 200 entries in the vault',
    floor: FLOOR,
  },
  'vault.scrub.entries_200_spaced': {
    what: 'the same with secrets that hold spaces (each also searched in its form-encoded spelling), 200 entries',
    floor: FLOOR,
  },
  'vault.scrub.entries_200_escapes': {
    what: 'the same for 1 MB of nothing but escapes and `&`, 200 entries',
    floor: FLOOR,
  },
});

const MB = 1 << 20;
const fill = (unit: string, length = MB): string => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);

function vault(entries: number, secret = (i: number): string => `SECRET${i}-tok/en+x=`): Vault {
  const v = new Vault();
  for (let i = 0; i < entries; i++) {
    v.set(`k${i}`, secret(i), { bind: { action: 'net.http', resource: '*' }, inject: { bearer: true } });
  }
  return v;
}

const SECRET = 'SECRET0-tok/en+x=';
const rest = SECRET.slice(1);
// One and two decoding steps over the first character, as PHP, HTML and percent-encoding write them.
const SPELLINGS = [
  `\\u0053${rest}`,
  `\\\\u0053${rest}`,
  `\\u0026#83;${rest}`,
  `\\u002553${rest}`,
  `&#83;${rest}`,
  `&#92;u0053${rest}`,
  `&amp;#83;${rest}`,
  `&#37;53${rest}`,
  `%53${rest}`,
  `%5Cu0053${rest}`,
  `%26#83;${rest}`,
  `%2553${rest}`,
];
const ECHO = `{"auth":"Bearer ${SECRET.replaceAll('/', '\\/')}"}`;
const ESCAPES = fill('\n&amp;%41+');

// Red-team pass 109's shape: each string at least as long as the secret, so none is skipped by its length.
const DISTINCT = Array.from({ length: 40_000 }, (_, i) =>
  `%2${i % 10}\\u004${i % 10}&#${i};%41\\u0041&#65;`.padEnd(26, 'x'),
);
const one = vault(1);
const many = vault(200);
const spaced = vault(200, (i) => `tok en ${i} ${'x'.repeat(20)}/y`);
const cases = [
  { id: 'vault.scrub.plain_text', vault: one, text: fill('abcdefghij'), mustFind: false },
  { id: 'vault.scrub.all_escapes', vault: one, text: ESCAPES, mustFind: false },
  { id: 'vault.scrub.dense_escapes', vault: one, text: fill('%41\\u0041&#65;'), mustFind: false },
  { id: 'vault.scrub.distinct_strings', vault: one, text: DISTINCT, mustFind: false },
  { id: 'vault.scrub.honest_echo', vault: one, text: ECHO + ESCAPES.slice(ECHO.length), mustFind: true },
  { id: 'vault.scrub.hostile_echo', vault: one, text: fill(`${SPELLINGS.join(' ')} `), mustFind: true },
  { id: 'vault.scrub.entries_200', vault: many, text: fill('abcdefghij'), mustFind: false },
  { id: 'vault.scrub.entries_200_spaced', vault: spaced, text: fill('abcdefghij'), mustFind: false },
  { id: 'vault.scrub.entries_200_escapes', vault: many, text: ESCAPES, mustFind: false },
] as const;

const ROUNDS = scaled(7, 2);
let sink = 0;
for (const { id, vault: v, text, mustFind } of cases) {
  // A scrub that stopped finding what it is measured on would make a fast figure meaningless.
  const found = v.scrub(text).label.length > 0;
  if (found !== mustFind) throw new Error(`${id}: the scrub ${found ? 'found' : 'did not find'} a secret`);
  const samples: number[] = [];
  const floor: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let start = process.hrtime.bigint();
    sink ^= v.scrub(text).label.length;
    samples.push(Number(process.hrtime.bigint() - start));
    start = process.hrtime.bigint();
    sink ^= (typeof text === 'string' ? [text] : text).some((each) => each.includes(SECRET)) ? 1 : 0;
    floor.push(Number(process.hrtime.bigint() - start));
  }
  figures.fromSamples(id, samples, floor);
}
await figures.publish();
if (sink === 42) console.log('');

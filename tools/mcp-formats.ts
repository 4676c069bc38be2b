/**
 * The JSON Schema `format`s the kernel checks on an agent's arguments to an MCP tool (mcp-schema.ts), each in
 * time linear in the argument. ajv-formats' own set is not: its `url` regex backtracks quadratically on
 * `http://` followed by many `:` (40,000 characters held the kernel's event loop 0.9 s), its `uri` family is
 * a kilobyte of nested alternations, and `regex` compiles the agent's string as a RegExp.
 *
 * So a format is kept only when its check is linear whatever the string: a length cap no valid value exceeds
 * (an e-mail address ≤ 254 characters, a hostname ≤ 254, an IPv6 address ≤ 45, a date-time's fractional
 * seconds well within 128 characters) before ajv-formats' own check, which then costs a bounded amount per
 * string; or a regex whose matches are unambiguous (JSON pointers, base64: each character has one place).
 * Every kept format was measured on ~1 MiB of adversarial input (test/escape/mcp-schema-stall.test.ts).
 * Every other format (uri, uri-reference, uri-template, url, iri, iri-reference, idn-*, regex, and any name
 * a server makes up) is an annotation, as JSON Schema 2020-12 makes every format by default: not checked.
 * The server must check its own input anyway.
 */
import type { Format } from 'ajv';
import { fullFormats } from 'ajv-formats/dist/formats.js';

type StringCheck = (value: string) => boolean;

function checkOf(format: unknown): StringCheck {
  if (format instanceof RegExp) return (value) => format.test(value);
  if (typeof format === 'function') return format as StringCheck;
  const validate = (format as { validate: unknown }).validate;
  if (validate instanceof RegExp) return (value) => validate.test(value);
  return validate as StringCheck;
}

const full = fullFormats as unknown as Readonly<Record<string, unknown>>;

/** Formats checked by ajv-formats' own check below a cap: its cost per string is bounded by the cap. */
export const CAPPED_FORMATS: Readonly<Record<string, number>> = {
  date: 10,
  time: 64,
  'iso-time': 64,
  'date-time': 128,
  'iso-date-time': 128,
  duration: 128,
  uuid: 45,
  ipv4: 15,
  ipv6: 45,
  hostname: 254,
  email: 254,
};

/** Formats whose regex matches each character in one way only: linear uncapped. */
const UNAMBIGUOUS = ['json-pointer', 'json-pointer-uri-fragment', 'relative-json-pointer', 'byte'] as const;

const MIN_INT32 = -(2 ** 31);
const MAX_INT32 = 2 ** 31 - 1;

/** The formats to register on an Ajv instance (`ajv.addFormat(name, format)`). */
export function linearFormats(): Record<string, Format> {
  const formats: Record<string, Format> = {};
  for (const [name, cap] of Object.entries(CAPPED_FORMATS)) {
    const check = checkOf(full[name]);
    formats[name] = { type: 'string', validate: (value: string) => value.length <= cap && check(value) };
  }
  for (const name of UNAMBIGUOUS) {
    const check = checkOf(full[name]);
    formats[name] = { type: 'string', validate: (value: string) => check(value) };
  }
  formats['int32'] = {
    type: 'number',
    validate: (value: number) => Number.isInteger(value) && value <= MAX_INT32 && value >= MIN_INT32,
  };
  formats['int64'] = { type: 'number', validate: (value: number) => Number.isInteger(value) };
  formats['float'] = { type: 'number', validate: () => true };
  formats['double'] = { type: 'number', validate: () => true };
  formats['password'] = true;
  formats['binary'] = true;
  return formats;
}

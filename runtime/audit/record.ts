import { createHmac, hash } from 'node:crypto';
import { canonicalJson, jsonQuote, sortKeys } from '../core/canonical-json.js';
import { ERROR_CODES, type ErrorCode, isErrorCode } from '../core/errors.js';
import { hashLeafOfDigest, isHashHex } from './merkle.js';

/**
 * One audit record (docs/architecture.md §7): the kernel writes an `intent` record before a syscall's effect and an `outcome`
 * record after it. This file owns the record's shape, its validation and its one encoding; the writer
 * (AuditLog), the file store's recovery and the verifier all go through the functions below, so what is
 * written is byte-for-byte what is checked.
 *
 * Encoding: canonical JSON (runtime/core/canonical-json.ts) of the record, produced by a fixed-field-order writer
 * that is faster than the generic encoder and equal to it by construction (the fields are emitted in sorted key
 * order; a test holds the two equal). A stored line is the canonical JSON of the record with `hash`.
 *
 * `hash` by version (`v`, inside the hashed body, so a record cannot change its version without changing its hash):
 * - v2 (written now): SHA-256(0x00 ‖ UTF-8 of the canonical JSON of the record without `hash`), which is exactly
 *   the record's RFC 6962 Merkle leaf hash. The leaf is the record hash, so appending a record costs one SHA-256
 *   fewer than v1 (measured: about 0.3 µs of the ~1 µs of hashing per record; bench/audit.bench.ts).
 * - v1 (read, never written): SHA-256(UTF-8 of that JSON); its Merkle leaf is H(0x00 ‖ bytes of hash).
 * The two leaf preimages cannot collide: a v1 leaf hashes 33 bytes, a v2 leaf hashes 0x00 and a JSON object far
 * longer than 32 bytes. A log may hold both (a v1 file resumed by a newer kernel): every reader takes each
 * record's leaf from `recordLeaf`, by the record's own version.
 *
 * Numbering: `seq` is global across namespaces and starts at 0, so a record's seq is also its leaf index in the
 * log's Merkle tree. `prev` is the `hash` of the previous record in the same namespace, or GENESIS_PREV for a
 * namespace's first record.
 */

/** Version of the record format the log writes; stored in every record as `v`. */
export const AUDIT_RECORD_VERSION = 2;

/** Every version a reader accepts (see the file comment for how their hashes differ). */
export type AuditRecordVersion = 1 | 2;

/** `prev` of the first record of every namespace. */
export const GENESIS_PREV = '0'.repeat(64);

/** Outcome statuses. An intent record has status null. */
export const AUDIT_STATUSES = ['ok', 'denied', 'error', 'killed'] as const;
export type AuditStatus = (typeof AUDIT_STATUSES)[number];
export type AuditPhase = 'intent' | 'outcome';

// Bounds keep one record (and so one line the verifier must hold in memory) small whatever an agent asks for.
export const MAX_ID_LENGTH = 256;
export const MAX_RESOURCE_LENGTH = 4096;
export const MAX_LABEL_TAGS = 64;
export const MAX_TAG_LENGTH = 256;
export const MAX_USAGE_KEYS = 32;
/** No valid record line is longer than this (all fields at their bounds fit well within it). */
export const MAX_RECORD_LINE_LENGTH = 256 * 1024;

// Quota names (cpu_ms, tokens_in, cost_usd…). The pattern also rules out "__proto__" and other keys that a
// plain object would treat specially.
const USAGE_KEY = /^[a-z][a-z0-9_]{0,63}$/;

/** A record before it is sealed: every field except `hash`. */
export interface AuditRecordBody {
  readonly v: AuditRecordVersion;
  readonly seq: number;
  /** Milliseconds since the Unix epoch, integer. */
  readonly time: number;
  readonly namespace: string;
  readonly agent: string;
  /** The agent's parent, or null for a root agent. */
  readonly parent: string | null;
  readonly syscall: string;
  /** The tool or action the syscall names (`fs.read`, `spawn`…). */
  readonly action: string;
  readonly resource: string | null;
  /** SHA-256 hex of the canonical JSON of the syscall's arguments (see `digestArgs`); never the arguments. */
  readonly args_sha256: string;
  /** Label tags, sorted by UTF-16 code unit and unique. */
  readonly label: readonly string[];
  readonly phase: AuditPhase;
  /** For an outcome, the seq of its intent record; null for an intent. */
  readonly ref: number | null;
  readonly status: AuditStatus | null;
  readonly code: ErrorCode | null;
  readonly duration_ms: number | null;
  /** Quota charged by the syscall (outcome only; `{}` for an intent). */
  readonly usage: Readonly<Record<string, number>>;
  readonly prev: string;
}

/** A sealed record: its body plus the SHA-256 of the body's canonical encoding. */
export interface AuditRecord extends AuditRecordBody {
  readonly hash: string;
}

/** Every key of a stored record, in canonical (sorted) order. A stored line has exactly these. */
export const RECORD_KEYS = [
  'action',
  'agent',
  'args_sha256',
  'code',
  'duration_ms',
  'hash',
  'label',
  'namespace',
  'parent',
  'phase',
  'prev',
  'ref',
  'resource',
  'seq',
  'status',
  'syscall',
  'time',
  'usage',
  'v',
] as const;

const STATUS_SET: ReadonlySet<string> = new Set(AUDIT_STATUSES);

/**
 * SHA-256 of a value no canonical encoding can produce (canonical JSON never starts with NUL). Used as the args
 * digest when the arguments have no canonical form, so the record still says "arguments were unencodable"
 * without carrying anything about them.
 */
export const NON_CANONICAL_ARGS_DIGEST: string = hash('sha256', '\u0000isokernel.audit.non-canonical-args');

/**
 * The digest stored for a syscall's arguments: SHA-256 hex of their canonical JSON, or NON_CANONICAL_ARGS_DIGEST
 * when they have none (cycles, bigints, functions, non-plain objects, or a getter that throws). With `key`, an
 * HMAC-SHA256 of that JSON instead, for arguments a short secret could be guessed back from (attempt.ts). Never
 * throws and never returns anything derived from the arguments other than the digest.
 */
export function digestArgs(args: unknown, key?: Uint8Array): string {
  let encoded: string;
  try {
    encoded = canonicalJson(args);
  } catch {
    return NON_CANONICAL_ARGS_DIGEST;
  }
  if (key !== undefined) return createHmac('sha256', key).update(encoded).digest('hex');
  if (encoded.length > DIGEST_CACHE_MAX_LENGTH) return hash('sha256', encoded);
  let digest = digestCache.get(encoded);
  if (digest === undefined) {
    digest = hash('sha256', encoded);
    if (digestCache.size >= DIGEST_CACHE_LIMIT) digestCache.clear();
    digestCache.set(encoded, digest);
  }
  return digest;
}

// Digests of recently seen short argument encodings. Agents repeat calls with the same small arguments (a poll,
// a noop, the same path), and a Map hit on the encoding costs a fraction of a SHA-256 call (measured ≈ 0.1 µs
// against ≈ 0.5 µs for a 60-byte encoding). Keyed by the exact canonical encoding, so a hit is the same digest
// the hash would give; bounded in entries and key length, so it cannot grow with input.
const DIGEST_CACHE_LIMIT = 1024;
const DIGEST_CACHE_MAX_LENGTH = 256;
const digestCache = new Map<string, string>();

function fail(field: string, problem: string, range = false): never {
  const message = `audit record field ${field} ${problem}`;
  throw range ? new RangeError(message) : new TypeError(message);
}

function checkId(value: unknown, field: string): void {
  if (typeof value !== 'string') fail(field, 'must be a string');
  if (value.length === 0 || value.length > MAX_ID_LENGTH) fail(field, `must be 1 to ${MAX_ID_LENGTH} characters`, true);
}

/** The largest time in ms since the epoch that a Date represents (ECMA-262 TimeClip). */
const MAX_DATE_MS = 8.64e15;

function checkCount(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(field, 'must be a safe integer');
  if (value < 0) fail(field, 'must not be negative', true);
}

function checkAmount(value: unknown, field: string): void {
  if (typeof value !== 'number') fail(field, 'must be a number');
  if (!Number.isFinite(value) || value < 0) fail(field, 'must be finite and not negative', true);
}

function checkDigest(value: unknown, field: string): void {
  if (!isHashHex(value)) fail(field, 'must be 64 lowercase hex characters');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks every field of a record body against the record format, including the phase rules: an intent has
 * ref, status, code and duration_ms null and empty usage; an outcome has a ref below its own seq, a status,
 * a code exactly when the status is not 'ok', and a duration. Guarantees that a body that passes encodes to a
 * record the parser accepts. Throws TypeError (wrong type) or RangeError (out of range) naming the field; the
 * messages never contain field values.
 */
export function checkRecordBody(body: AuditRecordBody): void {
  encodeFields(body, true, false);
}

// Usage keys already matched against USAGE_KEY that are also not names on Object.prototype, so `copy[key] =
// value` on a fresh plain object defines an own data property (no inherited setter or read-only slot in the
// way). Quota names are few: this saves a regex per key per record, and lets `copyUsage` assign, not define.
const knownUsageKeys = new Set<string>();

function isKnownUsageKey(key: string): boolean {
  if (knownUsageKeys.has(key)) return true;
  if (!USAGE_KEY.test(key) || key in Object.prototype) return false;
  if (knownUsageKeys.size < 1024) knownUsageKeys.add(key);
  return true;
}

// The JSON of `{ key: value }` pairs whose keys match USAGE_KEY and whose values passed checkAmount: keys need no
// escaping, and String() of a finite number is its JSON form. `keys` must be sorted. Only for `copyUsage`'s own
// copy, whose values are data properties: reading one again gives the value that was checked.
function usageJson(usage: Readonly<Record<string, unknown>>, keys: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i]!;
    out += `${i === 0 ? '' : ','}"${key}":${usage[key]}`;
  }
  return `${out}}`;
}

// The usage object `copyUsage` last made that is valid, and its encoding. That object is frozen, plain and has
// only data properties, so its encoding can never change: sealing it (the very next thing the append path does)
// reuses the encoding instead of checking and encoding the object again. One slot is enough for that.
let checkedUsage: object | null = null;
let checkedUsageJson = '';

/**
 * A frozen copy of a caller's usage for a record draft: the own enumerable string-keyed properties of `usage`,
 * each read once, as data properties of a fresh plain object, so the caller's object is never shared with the
 * record. Same result as `Object.freeze({ ...usage })` (bar symbol keys, which no record encodes), but V8 takes
 * a slow path to freeze a spread copy: measured ≈ 1 µs per outcome against ≈ 0.1 µs for this. A non-object is
 * returned as is. Checks nothing itself: sealing the draft rejects a bad copy exactly as it would have rejected
 * the spread copy. Throws only what reading `usage` throws.
 */
export function copyUsage(usage: unknown): Readonly<Record<string, number>> {
  if (typeof usage !== 'object' || usage === null) return usage as Readonly<Record<string, number>>;
  const source = usage as Readonly<Record<string, unknown>>;
  const keys = Object.keys(source);
  const copy: Record<string, unknown> = {};
  let valid = keys.length > 0 && keys.length <= MAX_USAGE_KEYS;
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i]!;
    const value = source[key];
    if (isKnownUsageKey(key)) {
      copy[key] = value;
    } else {
      // "__proto__" and the like: defined, never assigned, so they stay plain keys for the record check to reject.
      Object.defineProperty(copy, key, { value, writable: true, enumerable: true, configurable: true });
      valid = false;
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) valid = false;
  }
  Object.freeze(copy);
  if (valid) {
    checkedUsage = copy;
    checkedUsageJson = usageJson(copy, sortKeys(keys));
  }
  return copy as Readonly<Record<string, number>>;
}

/**
 * Checks and encodes usage in one pass. An intent's usage must be empty. Reads the key list once and each value
 * once, and encodes the value it checked: a usage kept as is (frozen, from the host) may have getters.
 */
function encodeUsage(usage: unknown, mustBeEmpty: boolean): string {
  if (usage === checkedUsage) {
    // Non-empty and otherwise valid (see `copyUsage`): only the phase rule is left to check.
    if (mustBeEmpty) fail('usage', 'must be empty for an intent', true);
    return checkedUsageJson;
  }
  if (!isPlainObject(usage)) fail('usage', 'must be a plain object of numbers');
  const keys = Object.keys(usage);
  if (keys.length === 0) return '{}';
  if (mustBeEmpty) fail('usage', 'must be empty for an intent', true);
  if (keys.length > MAX_USAGE_KEYS) fail('usage', `must have at most ${MAX_USAGE_KEYS} entries`, true);
  sortKeys(keys);
  let out = '{';
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i]!;
    if (!isKnownUsageKey(key) && !USAGE_KEY.test(key)) {
      fail('usage', 'keys must match /^[a-z][a-z0-9_]{0,63}$/', true);
    }
    const value = usage[key];
    checkAmount(value, 'usage');
    out += `${i === 0 ? '' : ','}"${key}":${value}`;
  }
  return `${out}}`;
}

// JSON spellings of recently seen short strings. Namespaces, agent ids, syscall and action names repeat on
// almost every record, and a Map hit is cheaper than JSON.stringify; bounded so it cannot grow with input.
const JSON_CACHE_LIMIT = 4096;
const JSON_CACHE_MAX_LENGTH = 256;
const jsonCache = new Map<string, string>();

function jsonString(value: string): string {
  let encoded = jsonCache.get(value);
  if (encoded === undefined) {
    encoded = jsonQuote(value);
    if (value.length <= JSON_CACHE_MAX_LENGTH) {
      if (jsonCache.size >= JSON_CACHE_LIMIT) jsonCache.clear();
      jsonCache.set(value, encoded);
    }
  }
  return encoded;
}

/**
 * Checks and encodes a label in one pass: at most MAX_LABEL_TAGS tags, each 1..MAX_TAG_LENGTH, sorted, unique.
 * Reads the length once and each tag once (a Proxy or a getter cannot change what was checked).
 */
function encodeLabel(label: unknown): string {
  if (!Array.isArray(label)) fail('label', 'must be an array of strings');
  const length = label.length;
  if (length === 0) return '[]';
  if (length > MAX_LABEL_TAGS) fail('label', `must have at most ${MAX_LABEL_TAGS} tags`, true);
  let out = '[';
  let previous: string | undefined;
  for (let i = 0; i < length; i += 1) {
    const tag: unknown = label[i];
    if (typeof tag !== 'string') fail('label', 'must be an array of strings');
    if (tag.length === 0 || tag.length > MAX_TAG_LENGTH) {
      fail('label', `tags must be 1 to ${MAX_TAG_LENGTH} characters`, true);
    }
    if (previous !== undefined && !(previous < tag)) fail('label', 'must be sorted and without duplicates', true);
    previous = tag;
    out += `${i === 0 ? '' : ','}${jsonString(tag)}`;
  }
  return `${out}]`;
}

const nullable = (value: string | null): string => (value === null ? 'null' : jsonString(value));

// JSON segments of the fields that repeat from record to record (an outcome repeats its intent's identity; an
// agent's calls repeat its namespace, agent and action), each kept with the field values it was built from.
// Values are compared, not objects, so a kept segment is exactly what rebuilding it would produce. A hit saves
// the JSON lookups and, mostly, rope leaves: node:crypto flattens the hash input, a rope of every piece below,
// and one flat leaf per segment instead of five to nine pieces measured ≈ 0.2 µs less per record. `undefined`
// never equals a field value, so the first record always builds them. Join, unlike `+`, makes a flat string.
let actionKey: string | undefined;
let agentKey: string | undefined;
// `{"action":…,"agent":…,"args_sha256":"`
let identitySegment = '';
let labelKey: string | undefined;
let namespaceKey: string | undefined;
let parentKey: string | null | undefined;
// `"label":…,"namespace":…,"parent":…,"phase":"`
let scopeSegment = '';
let resourceKey: string | null | undefined;
// `,"resource":…,"seq":`
let resourceSegment = '';
let syscallKey: string | undefined;
// `,"syscall":…,"time":`
let syscallSegment = '';

/** `encodeFields`' result: the halves of the encoding around `hash`, and the version they were encoded with. */
type Halves = [head: string, tail: string, v: AuditRecordVersion];

/**
 * Checks every field of a record body and returns the two halves of its canonical encoding around where `hash`
 * sorts (between duration_ms and label), so the body and the stored line are built from one encoding without
 * re-encoding. This is the single record check and encoder: the writer, the store's recovery and the verifier
 * all reach it.
 *
 * Each field is read exactly once, into a local, and only the locals are checked, encoded and used as keys of
 * the kept segments (label and usage read each entry once too). A host's body may have getters or be a Proxy:
 * reading a field again could give a value that was never checked, or keep a segment that disagrees with its
 * key and so corrupt a later, ordinary record.
 *
 * `checkDigests` false skips the args_sha256 and prev checks (see `sealDraft`); `requireFrozen` adds sealDraft's
 * rule that label and usage are frozen.
 */
function encodeFields(body: AuditRecordBody, checkDigests: boolean, requireFrozen: boolean): Halves {
  if (!isPlainObject(body)) throw new TypeError('audit record body must be a plain object');
  const v = body.v;
  const seq = body.seq;
  const time = body.time;
  const namespace = body.namespace;
  const agent = body.agent;
  const parent = body.parent;
  const syscall = body.syscall;
  const action = body.action;
  const resource = body.resource;
  const argsSha256 = body.args_sha256;
  const labelValue = body.label;
  const phase = body.phase;
  const ref = body.ref;
  const status = body.status;
  const code = body.code;
  const durationMs = body.duration_ms;
  const usage = body.usage;
  const prev = body.prev;

  if (v !== AUDIT_RECORD_VERSION && v !== 1) fail('v', 'must be 1 or 2', true);
  checkCount(seq, 'seq');
  checkCount(time, 'time');
  // A time Date cannot represent (past ±8.64e15 ms) would verify and then break every reader that formats it
  // (`audit show`, `audit export`): refused here, so no such record is written or accepted (red-team pass 132).
  if ((time as number) > MAX_DATE_MS) fail('time', `must be at most ${MAX_DATE_MS} (the range of Date)`, true);
  checkId(namespace, 'namespace');
  checkId(agent, 'agent');
  if (parent !== null) checkId(parent, 'parent');
  checkId(syscall, 'syscall');
  checkId(action, 'action');
  if (resource !== null) {
    if (typeof resource !== 'string') fail('resource', 'must be a string or null');
    if (resource.length > MAX_RESOURCE_LENGTH) {
      fail('resource', `must be at most ${MAX_RESOURCE_LENGTH} characters`, true);
    }
  }
  if (checkDigests) {
    checkDigest(argsSha256, 'args_sha256');
    checkDigest(prev, 'prev');
  }
  if (phase === 'intent') {
    if (ref !== null) fail('ref', 'must be null for an intent', true);
    if (status !== null) fail('status', 'must be null for an intent', true);
    if (code !== null) fail('code', 'must be null for an intent', true);
    if (durationMs !== null) fail('duration_ms', 'must be null for an intent', true);
  } else if (phase === 'outcome') {
    checkCount(ref, 'ref');
    if ((ref as number) >= seq) fail('ref', 'must be the seq of an earlier record', true);
    if (typeof status !== 'string' || !STATUS_SET.has(status)) {
      fail('status', `must be one of ${AUDIT_STATUSES.join(', ')}`);
    }
    if (status === 'ok') {
      if (code !== null) fail('code', "must be null when status is 'ok'", true);
    } else if (!isErrorCode(code)) {
      fail('code', `must be one of ${ERROR_CODES.join(', ')} when status is not 'ok'`);
    }
    checkAmount(durationMs, 'duration_ms');
  } else {
    fail('phase', "must be 'intent' or 'outcome'");
  }

  const label = encodeLabel(labelValue);
  if (action !== actionKey || agent !== agentKey) {
    identitySegment = ['{"action":', jsonString(action), ',"agent":', jsonString(agent), ',"args_sha256":"'].join('');
    actionKey = action;
    agentKey = agent;
  }
  if (label !== labelKey || namespace !== namespaceKey || parent !== parentKey) {
    scopeSegment = [
      '"label":',
      label,
      ',"namespace":',
      jsonString(namespace),
      ',"parent":',
      nullable(parent),
      ',"phase":"',
    ].join('');
    labelKey = label;
    namespaceKey = namespace;
    parentKey = parent;
  }
  if (resource !== resourceKey) {
    resourceSegment = [',"resource":', nullable(resource), ',"seq":'].join('');
    resourceKey = resource;
  }
  if (syscall !== syscallKey) {
    syscallSegment = [',"syscall":', jsonString(syscall), ',"time":'].join('');
    syscallKey = syscall;
  }
  const head =
    `${identitySegment}${argsSha256}","code":${code === null ? 'null' : `"${code}"`}` +
    `,"duration_ms":${durationMs === null ? 'null' : `${durationMs}`}`;
  const tail =
    `${scopeSegment}${phase}","prev":"${prev}","ref":${ref === null ? 'null' : `${ref}`}` +
    `${resourceSegment}${seq},"status":${status === null ? 'null' : `"${status}"`}` +
    `${syscallSegment}${time},"usage":${encodeUsage(usage, phase === 'intent')},"v":${v}}`;
  if (requireFrozen && (!Object.isFrozen(labelValue) || !Object.isFrozen(usage))) {
    throw new TypeError('audit record draft label and usage must be frozen');
  }
  return [head, tail, v];
}

/**
 * The canonical JSON of a record without its `hash`: the bytes (as UTF-8) its hash is taken over. Equal to
 * `canonicalJson(body)` for every checked body. Throws like `checkRecordBody` when the body is invalid.
 */
export function encodeRecordBody(body: AuditRecordBody): string {
  const [head, tail] = encodeFields(body, true, false);
  return `${head},${tail}`;
}

/**
 * The stored line of a sealed record (canonical JSON, no trailing newline). Re-derives the hash from the body,
 * so it never emits a line whose hash disagrees with its fields. Throws TypeError/RangeError when the record is
 * invalid, and RangeError when its `hash` is not the hash of its body.
 */
export function encodeRecordLine(record: AuditRecord): string {
  const { hash: stored, ...body } = record;
  const sealed = sealRecord(body);
  if (sealed.record.hash !== stored) throw new RangeError('audit record hash does not match its fields');
  return sealed.line;
}

/** The result of sealing a body: the frozen record and its stored line. */
export interface SealedRecord {
  readonly record: AuditRecord;
  readonly line: string;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A record under construction by its owner: every field, `hash` still unset (''). `label` and `usage` must be
 * frozen and not shared with anyone who could change them.
 */
export type AuditRecordDraft = Mutable<AuditRecord>;

/**
 * Seals a draft in place: checks it, computes its hash into `draft.hash`, freezes it (it is an AuditRecord
 * from then on) and returns its stored line. This, via `sealRecord`, is the only place a record hash is made.
 * Throws TypeError/RangeError like `checkRecordBody`, and TypeError when label or usage is not frozen; the draft
 * is left unsealed then.
 *
 * `digestsChecked` is for the log's append path only: the caller vouches that `prev` and `args_sha256` are
 * lowercase SHA-256 hex because it produced or already checked them, which saves two regex tests per append.
 */
export function sealDraft(draft: AuditRecordDraft, digestsChecked = false): string {
  // The version is the one the halves were encoded with: `draft` is not read again before it is frozen.
  const [head, tail, v] = encodeFields(draft, !digestsChecked, true);
  // The hash input and the stored line are both built from the two halves. '\u0000' is the single byte 0x00 in
  // UTF-8: the RFC 6962 leaf prefix of a v2 hash, without copying into a Buffer. Hashing flattens the input
  // into one string; the line takes its halves back out of it as slices (no copy), so a sink that writes the
  // line copies two flat pieces instead of walking the halves' ropes again (≈ 7% of an append to a file).
  const start = v === 1 ? 0 : 1;
  const input = v === 1 ? `${head},${tail}` : `\u0000${head},${tail}`;
  const digest = hash('sha256', input);
  draft.hash = digest;
  Object.freeze(draft);
  return `${input.slice(start, start + head.length)},"hash":"${digest}",${input.slice(start + head.length + 1)}`;
}

/**
 * Checks `body`, computes its hash and returns a new frozen record (with frozen copies of its label and usage
 * unless they are frozen already) and its stored line. Throws TypeError/RangeError like `checkRecordBody`.
 */
export function sealRecord(body: AuditRecordBody): SealedRecord {
  if (!isPlainObject(body)) throw new TypeError('audit record body must be a plain object');
  // Each field is read once: into the draft, or (label and usage, inspected before they are kept) into a local.
  const label = body.label;
  const usage = body.usage;
  const draft: AuditRecordDraft = {
    v: body.v,
    seq: body.seq,
    time: body.time,
    namespace: body.namespace,
    agent: body.agent,
    parent: body.parent,
    syscall: body.syscall,
    action: body.action,
    resource: body.resource,
    args_sha256: body.args_sha256,
    label: Array.isArray(label) && !Object.isFrozen(label) ? Object.freeze([...label]) : label,
    phase: body.phase,
    ref: body.ref,
    status: body.status,
    code: body.code,
    duration_ms: body.duration_ms,
    usage: isPlainObject(usage) && !Object.isFrozen(usage) ? copyUsage(usage) : usage,
    prev: body.prev,
    hash: '',
  };
  const line = sealDraft(draft);
  return { record: draft, line };
}

/**
 * The Merkle leaf of a record whose `hash` is already known to match its fields (it was sealed or parsed): the
 * hash itself for v2, H(0x00 ‖ bytes of hash) for v1. Never re-hashes the body; use `recordLeafHash` for a
 * record that could have been altered.
 */
export function recordLeaf(record: AuditRecord): string {
  return record.v === 1 ? hashLeafOfDigest(record.hash) : record.hash;
}

/**
 * The record's Merkle leaf hash, recomputed from its fields (v2: H(0x00 ‖ body); v1: H(0x00 ‖ SHA-256(body))):
 * a record whose fields were altered gets a different leaf even if its `hash` field was left alone. Throws
 * TypeError/RangeError when the record is invalid.
 */
export function recordLeafHash(record: AuditRecord): string {
  const { hash: _stored, ...body } = record;
  return recordLeaf(sealRecord(body).record);
}

/** Result of parsing one stored line. `reason` is fixed kernel text: it never quotes the line. */
export type ParsedRecordLine =
  | { readonly ok: true; readonly record: AuditRecord }
  | { readonly ok: false; readonly reason: string };

const bad = (reason: string): ParsedRecordLine => ({ ok: false, reason });

/**
 * Parses one stored line (without its newline) strictly: it must be a JSON object with exactly the record
 * keys (RECORD_KEYS), valid field values, a `hash` equal to the SHA-256 of the body, and it must be exactly the
 * canonical encoding of that record (so no whitespace, key order, escape or duplicate-key variation passes).
 * Never throws on bad input; throws TypeError only when `line` is not a string.
 */
export function parseRecordLine(line: string): ParsedRecordLine {
  if (typeof line !== 'string') throw new TypeError('parseRecordLine: line must be a string');
  if (line.length > MAX_RECORD_LINE_LENGTH) return bad('line is too long');
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return bad('line is not valid JSON');
  }
  if (!isPlainObject(value)) return bad('line is not a JSON object');
  if (Object.keys(value).length !== RECORD_KEYS.length) return bad('record has missing or extra fields');
  for (const key of RECORD_KEYS) if (!Object.hasOwn(value, key)) return bad('record has missing or extra fields');
  const body = {
    v: value['v'],
    seq: value['seq'],
    time: value['time'],
    namespace: value['namespace'],
    agent: value['agent'],
    parent: value['parent'],
    syscall: value['syscall'],
    action: value['action'],
    resource: value['resource'],
    args_sha256: value['args_sha256'],
    label: value['label'],
    phase: value['phase'],
    ref: value['ref'],
    status: value['status'],
    code: value['code'],
    duration_ms: value['duration_ms'],
    usage: value['usage'],
    prev: value['prev'],
  } as AuditRecordBody;
  let sealed: SealedRecord;
  try {
    sealed = sealRecord(body);
  } catch (error) {
    return bad(error instanceof Error ? error.message : 'record is invalid');
  }
  if (sealed.record.hash !== value['hash']) return bad('hash does not match the record contents');
  if (sealed.line !== line) return bad('line is not the canonical encoding of its record');
  return { ok: true, record: sealed.record };
}

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import superjson from 'superjson';
import { z } from 'zod';
import { type SigningKey, verifySignature } from '../capability/signing-key.js';
import { decodeBase64Url, encodeBase64Url } from '../core/base64.js';
import { canonicalJson } from '../core/canonical-json.js';
import { KernelError } from '../core/errors.js';
import { regexpsAsText } from './snapshot-regexp.js';
import { type SerializedState, serializeState } from './snapshot-state-encoding.js';
import { splitSnapshotText } from './snapshot-text.js';
import type { StoreShares } from './store-shares.js';

/**
 * Snapshots (docs/architecture.md §8): an agent's frozen state in a canonical encoding, addressed by the SHA-256 of that
 * encoding, so the same state gives the same id run after run. The body is superjson (rich types such as
 * Date, Map, Set and BigInt survive) in canonical JSON; the kernel's root key signs the id. A snapshot
 * that is unknown, truncated, tampered with or not signed by this kernel's key is refused with
 * E_BAD_SNAPSHOT before anything in it is used.
 */
export interface SnapshotBody {
  readonly program: { readonly name: string; readonly id: string };
  /**
   * Scopes of the capabilities the agent held (informational: restoring never mints authority). Snapshots taken
   * before red-team pass 108 also list `remainingUses`; newer ones do not (uses are data of whoever spent them).
   */
  readonly capabilities: readonly {
    readonly action: string;
    readonly resource: string;
    readonly remainingUses?: number | null;
    readonly expiresAt: number | null;
  }[];
  readonly label: readonly string[];
  /** Counted quota use (CPU and wall time vary run to run, so they are not part of the state). */
  readonly usage: {
    readonly tokens_in: number;
    readonly tokens_out: number;
    readonly cost_usd: number;
    readonly tool_calls: number;
    readonly children: number;
  };
  /** The namespace's memory, in key order: key, value, label. */
  readonly memory: readonly (readonly [string, unknown, readonly string[]])[];
  readonly state: unknown;
}

const SNAPSHOT_ID = /^[0-9a-f]{64}$/;
const SIGNED_PREFIX = 'isokernel-snapshot:v1:';
const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

/** One entry of a snapshot's memory: key, value, label. */
export type MemoryTuple = SnapshotBody['memory'][number];

const memoryTupleSchema = z.tuple([z.string(), z.unknown(), z.array(z.string())]);

/** A checked snapshot whose memory is parsed as it is read (`SnapshotStore.open`). */
export interface OpenedSnapshot {
  /** The body with `memory` empty. */
  readonly frame: SnapshotBody;
  /** How many memory entries `entries()` yields. */
  readonly size: number;
  /** The memory entries in key order, each parsed and checked when reached. */
  entries(): AsyncGenerator<MemoryTuple>;
}

const bodySchema = z.strictObject({
  program: z.strictObject({ name: z.string(), id: z.string().regex(SNAPSHOT_ID) }),
  capabilities: z.array(
    z.strictObject({
      action: z.string(),
      resource: z.string(),
      remainingUses: z.number().nullable().optional(),
      expiresAt: z.number().nullable(),
    }),
  ),
  label: z.array(z.string()),
  usage: z.strictObject({
    tokens_in: z.number().min(0),
    tokens_out: z.number().min(0),
    cost_usd: z.number().min(0),
    tool_calls: z.number().min(0),
    children: z.number().min(0),
  }),
  memory: z.array(memoryTupleSchema),
  state: z.unknown(),
});

const envelopeSchema = z.strictObject({ id: z.string().regex(SNAPSHOT_ID), body: z.string(), signature: z.string() });

/** True for a well-formed snapshot id (64 lowercase hex digits). */
export function isSnapshotId(id: unknown): id is string {
  return typeof id === 'string' && SNAPSHOT_ID.test(id);
}

/** Characters of memory encoded between two yields to the event loop (about a millisecond of work). */
const ENCODE_SLICE_CHARS = 256 * 1024;

/** How `encodeSnapshot` runs: each slice of work through `meter`, and stops when `signal` aborts. */
export interface EncodePacing {
  readonly meter?: <T>(step: () => T) => T;
  readonly signal?: AbortSignal;
  /** Characters the state's annotation paths may take together (serializeState); the kernel's payload cap. */
  readonly maxPathChars?: number;
}

type SuperJsonMeta = NonNullable<ReturnType<typeof superjson.serialize>['meta']>;

/**
 * The canonical text of a body and its id: canonical JSON of the body's superjson form. Rejects with KernelError
 * E_BAD_ARG when the state has no canonical form, E_KILLED when `pacing.signal` aborts first.
 *
 * Only the state can hold rich values (Dates, Maps: it came through the checked superjson decoder); the memory is
 * plain JSON from the store. So only the state gets superjson's form (serializeState, not superjson's own walk:
 * red-team pass 113), and the memory, up to the namespace's 16 MiB, is encoded entry by entry in slices with the
 * event loop free between them: run through superjson as one value, a namespace of deeply nested arrays held the
 * kernel's event loop for 20 s and its heap grew by 2 GB (a red-team pass). The text is the same as
 * `canonicalJson(superjson.serialize(body))` for such a body (a test holds them equal), except that a -0 in memory
 * is stored as 0.
 */
export async function encodeSnapshot(
  body: SnapshotBody,
  pacing: EncodePacing = {},
): Promise<{ id: string; text: string }> {
  const meter = pacing.meter ?? ((step) => step());
  const cannot = () => new KernelError('E_BAD_ARG', 'sys.snapshot: the state cannot be encoded');
  let state: SerializedState;
  try {
    state = meter(() => serializeState(body.state, pacing.maxPathChars));
  } catch {
    throw cannot();
  }
  // Two steps with the event loop free between them: each is linear in the state (~100 ms at 100k nodes).
  await new Promise((resolve) => setImmediate(resolve));
  if (pacing.signal?.aborted) throw new KernelError('E_KILLED', 'sys.snapshot: the agent has ended');
  let head: string;
  let tail: string;
  try {
    ({ head, tail } = meter(() => encodeFrame(body, state)));
  } catch {
    throw cannot();
  }
  const entries: string[] = [];
  let slice = 0;
  for (const entry of body.memory) {
    const text = meter(() => canonicalJson(entry));
    entries.push(text);
    slice += text.length;
    if (slice >= ENCODE_SLICE_CHARS) {
      slice = 0;
      await new Promise((resolve) => setImmediate(resolve));
      if (pacing.signal?.aborted) throw new KernelError('E_KILLED', 'sys.snapshot: the agent has ended');
    }
  }
  return meter(() => {
    const text = `${head}${entries.join(',')}${tail}`;
    return { id: createHash('sha256').update(text).digest('hex'), text };
  });
}

// The body's superjson form around its memory array: `{"json":{…,"memory":[` and `],…}[,"meta":…]}`, keys in
// canonical order (capabilities, label, memory, program, state, usage; then json, meta).
// `state` is the state's superjson form, made by serializeState: superjson's own walk is O(nodes × depth) and held
// the event loop for seconds (red-team pass 113).
function encodeFrame(body: SnapshotBody, state: SerializedState): { head: string; tail: string } {
  const { json, meta } = state;
  const stateText = json === undefined ? '' : `,"state":${canonicalJson(json)}`;
  const head = `{"json":{"capabilities":${canonicalJson(body.capabilities)},"label":${canonicalJson(body.label)},"memory":[`;
  const tail = `],"program":${canonicalJson(body.program)}${stateText},"usage":${canonicalJson(body.usage)}}${
    meta === undefined ? '' : `,"meta":${canonicalJson(metaUnderState(meta))}`
  }}`;
  return { head, tail };
}

// The state's annotations as they read with the state at key `state` of the body: a path "a.b" becomes
// "state.a.b", and an annotation of the state itself (superjson's root form, a bare array) becomes "state"'s.
function metaUnderState(meta: SuperJsonMeta): SuperJsonMeta {
  const values = meta.values;
  const equalities = meta.referentialEqualities;
  const out: Record<string, unknown> = { ...meta };
  if (values !== undefined) {
    out['values'] = Array.isArray(values)
      ? { state: values }
      : Object.fromEntries(Object.entries(values).map(([path, annotation]) => [`state.${path}`, annotation]));
  }
  if (equalities !== undefined) {
    if (Array.isArray(equalities)) throw new TypeError('a state that refers to itself');
    out['referentialEqualities'] = Object.fromEntries(
      Object.entries(equalities).map(([path, others]) => [`state.${path}`, others.map((other) => `state.${other}`)]),
    );
  }
  return out as SuperJsonMeta;
}

/**
 * Where signed snapshots are kept: files under `<store>/snapshots`, or memory. In memory, with `shares`, every
 * snapshot taken is charged to its tenant's share (two bytes per character), one stored before included (see
 * StoreShares.count), and one past it is refused with KernelError E_QUOTA.
 */
export class SnapshotStore {
  readonly #dir: string | undefined;
  readonly #key: SigningKey;
  readonly #memory = new Map<string, string>();
  readonly #shares: StoreShares | undefined;

  constructor(dir: string | undefined, key: SigningKey, shares?: StoreShares) {
    this.#dir = dir;
    this.#key = key;
    this.#shares = shares;
  }

  /**
   * Encodes, signs and stores `body`; resolves to its id. Saving the same state twice is one snapshot. `tenant`
   * is who a new snapshot is kept for (see StoreShares); absent for the host's. `sizedBy` is the label of what
   * decided the body's size (default its label), which the tenant's share takes on.
   */
  async save(
    body: SnapshotBody,
    pacing: EncodePacing = {},
    tenant?: string,
    sizedBy: readonly string[] = body.label,
  ): Promise<string> {
    const { id, text } = await encodeSnapshot(body, pacing);
    // An agent that ended while its snapshot was encoded (a kill, its wall clock) stores nothing.
    if (pacing.signal?.aborted) throw new KernelError('E_KILLED', 'sys.snapshot: the agent has ended');
    const signature = encodeBase64Url(this.#key.sign(new TextEncoder().encode(SIGNED_PREFIX + id)));
    const envelope = JSON.stringify({ id, body: text, signature });
    if (this.#dir === undefined) {
      // The snapshot's size is data of its label: the share's refusals must carry it (StoreShares.raise).
      this.#shares?.raise(tenant, sizedBy);
      if (this.#memory.has(id)) {
        this.#shares?.count(tenant, 2 * envelope.length + 64);
      } else {
        this.#shares?.take(tenant, 2 * envelope.length + 64);
        this.#memory.set(id, envelope);
      }
      return id;
    }
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const temp = join(this.#dir, `.${id}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, envelope, { mode: 0o600, flag: 'wx' });
      await rename(temp, join(this.#dir, `${id}.json`));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return id;
  }

  /**
   * Loads and checks a snapshot: the id must be well formed and known, the body must hash to it, the
   * signature must be this kernel's, and the body must have the snapshot shape. Throws KernelError
   * E_BAD_SNAPSHOT (naming which check failed, never the content) otherwise. The memory is parsed entry by
   * entry with the event loop free between slices (see `open`); the whole body is in the heap at the end.
   */
  async load(id: unknown): Promise<SnapshotBody> {
    const opened = await this.open(id);
    const memory: MemoryTuple[] = [];
    for await (const entry of opened.entries()) memory.push(entry);
    return { ...opened.frame, memory };
  }

  /**
   * Checks a snapshot as `load` does and parses all of its body but the memory, whose entries `entries()` parses
   * one at a time (red-team pass 68: an agent shaped 4 MiB of memory as 1.4 million empty arrays, and one parse
   * of the body held the event loop 0.5 s and 240 MB per restore). A restore holds one entry at a time. Throws
   * like `load`; `entries()` rejects with E_BAD_SNAPSHOT at a malformed entry (the body is the kernel's own
   * signed writing, so only a kernel bug gets there).
   */
  async open(id: unknown): Promise<OpenedSnapshot> {
    const text = await this.#verifiedText(id);
    const split = splitSnapshotText(text);
    let frame: SnapshotBody;
    try {
      if (split === undefined) return whole(bodySchema.parse(deserialize(JSON.parse(text), text)) as SnapshotBody);
      const parsed = JSON.parse(split.frame) as SuperJsonResult;
      // Annotations reach only the state in what `encodeSnapshot` writes; a body whose annotations name its
      // memory (none is known) is parsed whole, so superjson sees every value they name.
      if (annotatesMemory(parsed.meta)) {
        return whole(bodySchema.parse(deserialize(JSON.parse(text), text)) as SnapshotBody);
      }
      frame = bodySchema.parse(deserialize(parsed, split.frame)) as SnapshotBody;
    } catch {
      throw bad(`snapshot ${id} has a malformed body`);
    }
    if (frame.memory.length !== 0) throw bad(`snapshot ${id} has a malformed body`);
    const texts = split.entries;
    return {
      frame,
      size: texts.length,
      async *entries() {
        let slice = 0;
        for (const entryText of texts) {
          let entry: MemoryTuple;
          try {
            entry = memoryTupleSchema.parse(JSON.parse(entryText)) as MemoryTuple;
          } catch {
            throw bad(`snapshot ${id} has a malformed body`);
          }
          yield entry;
          slice += entryText.length;
          if (slice >= ENCODE_SLICE_CHARS) {
            slice = 0;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
      },
    };
  }

  // The body text of a known snapshot whose envelope, content id and signature check out.
  async #verifiedText(id: unknown): Promise<string> {
    if (!isSnapshotId(id)) throw bad('not a snapshot id');
    let raw: string | undefined;
    if (this.#dir === undefined) raw = this.#memory.get(id);
    else {
      try {
        const bytes = await readFile(join(this.#dir, `${id}.json`));
        raw = bytes.length > MAX_SNAPSHOT_BYTES ? undefined : bytes.toString('utf8');
      } catch {
        raw = undefined;
      }
    }
    if (raw === undefined) throw bad(`unknown snapshot ${id}`);
    let envelope: z.infer<typeof envelopeSchema>;
    try {
      envelope = envelopeSchema.parse(JSON.parse(raw));
    } catch {
      throw bad(`snapshot ${id} is truncated or malformed`);
    }
    if (envelope.id !== id || createHash('sha256').update(envelope.body).digest('hex') !== id) {
      throw bad(`snapshot ${id} does not match its content id`);
    }
    const signature = decodeBase64Url(envelope.signature);
    const message = new TextEncoder().encode(SIGNED_PREFIX + id);
    if (signature === undefined || !verifySignature(this.#key.publicKey, message, signature)) {
      throw bad(`snapshot ${id} is not signed by this kernel`);
    }
    return envelope.body;
  }

  /** Ids of the stored snapshots, sorted. */
  async list(): Promise<string[]> {
    if (this.#dir === undefined) return [...this.#memory.keys()].sort();
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return [];
    }
    return names
      .filter((name) => name.endsWith('.json') && isSnapshotId(name.slice(0, -5)))
      .map((name) => name.slice(0, -5))
      .sort();
  }
}

function bad(message: string): KernelError {
  return new KernelError('E_BAD_SNAPSHOT', message);
}

type SuperJsonResult = Parameters<typeof superjson.deserialize>[0];

// `parsed` is JSON.parse of `text`, and this call's to change.
function deserialize(parsed: unknown, text: string): unknown {
  const body = withoutPrimitiveEqualities(parsed as SuperJsonResult);
  // Only a text that names the type can hold one: most states have none, and the walk is skipped for them.
  return text.includes('"regexp"') ? regexpsAsText.deserialize(body) : superjson.deserialize(body);
}

// superjson lists a NaN or bigint reached twice as a referential equality (serializeState, as superjson does), and
// its deserializer applies each listed path with a walk from the start of every Map or Set on it: a state of 26,000
// `[NaN]` in a Set held the kernel's event loop 1.5 s at every restore or inspection (red-team pass 118). Setting a
// primitive where it already is changes nothing, so those equalities are dropped before superjson reads the body;
// an object's (a snapshot written before the kernel decoded states itself) are kept.
function withoutPrimitiveEqualities(parsed: SuperJsonResult): SuperJsonResult {
  const meta = parsed.meta;
  const equalities = meta?.referentialEqualities;
  if (meta === undefined || meta === null || equalities === undefined || Array.isArray(equalities)) return parsed;
  let kept: Record<string, string[]> | undefined;
  for (const [root, others] of Object.entries(equalities)) {
    if (isPrimitiveAnnotation(annotationAt(meta.values, root))) continue;
    kept ??= {};
    kept[root] = others;
  }
  const { referentialEqualities: _dropped, ...rest } = meta;
  return { json: parsed.json, meta: kept === undefined ? rest : { ...rest, referentialEqualities: kept } };
}

// The annotation superjson's value tree holds at an escaped path, or undefined. A node is a leaf `[type]`, a container
// `[type, children]` or plain children; children are keyed by escaped paths of one or more segments (`0.0`).
function annotationAt(values: unknown, path: string): unknown {
  const segments = splitEscapedPath(path);
  let node = values;
  for (let at = 0; at < segments.length; ) {
    if (Array.isArray(node)) node = node[1];
    if (node === null || typeof node !== 'object') return undefined;
    const children = node as Record<string, unknown>;
    let key = '';
    let next = at;
    while (next < segments.length) {
      key += (next === at ? '' : '.') + escapeSegment(segments[next] as string);
      next++;
      if (Object.hasOwn(children, key)) break;
    }
    if (!Object.hasOwn(children, key)) return undefined;
    node = children[key];
    at = next;
  }
  return node;
}

const escapeSegment = (segment: string): string => segment.replace(/\\/g, '\\\\').replace(/\./g, '\\.');

function isPrimitiveAnnotation(node: unknown): boolean {
  return Array.isArray(node) && node.length === 1 && (node[0] === 'number' || node[0] === 'bigint');
}

function splitEscapedPath(path: string): string[] {
  const segments: string[] = [];
  let segment = '';
  for (let i = 0; i < path.length; i++) {
    const char = path[i] as string;
    if (char === '\\' && i + 1 < path.length) segment += path[++i];
    else if (char === '.') {
      segments.push(segment);
      segment = '';
    } else segment += char;
  }
  segments.push(segment);
  return segments;
}

// True when the body's superjson annotations name a path outside its state.
function annotatesMemory(meta: SuperJsonResult['meta']): boolean {
  if (meta === undefined || meta === null) return false;
  const outside = (path: string): boolean => path !== 'state' && !path.startsWith('state.');
  const { values, referentialEqualities } = meta;
  // Loops, not spreads: a state of many annotated values has more paths than a call takes arguments.
  if (values !== undefined) {
    if (Array.isArray(values)) return true;
    for (const path of Object.keys(values)) if (outside(path)) return true;
  }
  if (referentialEqualities !== undefined) {
    if (Array.isArray(referentialEqualities)) return true;
    for (const [path, others] of Object.entries(referentialEqualities)) {
      if (outside(path)) return true;
      for (const other of others) if (outside(other)) return true;
    }
  }
  return false;
}

// A body parsed in one piece (a layout `splitSnapshotText` does not know): its entries are already in memory.
function whole(body: SnapshotBody): OpenedSnapshot {
  const { memory, ...rest } = body;
  return {
    frame: { ...rest, memory: [] },
    size: memory.length,
    async *entries() {
      yield* memory;
    },
  };
}

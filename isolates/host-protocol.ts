/**
 * The wire between the kernel and a sandbox host process (docs/architecture.md §11): frames of strings on one
 * socket pair. A frame is a 4-byte big-endian body length, then the body: a 2-byte field count and each field
 * as a 4-byte length and its UTF-8 bytes. Fields are only ever strings (numbers travel as decimal text), so
 * nothing but strings crosses here either, and the reader bounds every frame by its header before buffering
 * it: a hostile host cannot make the kernel hold a frame larger than the cap.
 *
 * This module imports nothing: the sandbox host loads it without any of the kernel's modules.
 */

/** What a sandbox host says to the kernel. */
export const FROM_HOST = {
  /** `[ready, pid]`: the host has loaded isolated-vm and built its first realms. */
  ready: 'ready',
  /**
   * `[sys, agent, call, name, payload]`: one syscall of `agent`; the kernel answers `reply` with `call`. A
   * payload past the kernel's cap travels as `[sys, agent, call, name, '', OVERSIZED, length]` instead (its length
   * in UTF-16 units, in decimal: what the kernel records of it).
   */
  sys: 'sys',
  /** `[cpu, agent, totalMs]`: the isolate's CPU time so far. */
  cpu: 'cpu',
  /** `[ended, agent]`: the agent has ended (sent before disposal, so later syscalls are refused). */
  ended: 'ended',
  /** `[result, agent, reply, cpuMs, wallMs, heapPeakMb]`: the outcome, sent after the isolate is disposed. */
  result: 'result',
  /** `[catastrophe, agent]`: isolated-vm reported a catastrophic error for the agent's isolate. */
  catastrophe: 'catastrophe',
  /**
   * `[busy, agent]`, before `result`: the agent ended by itself but its isolate's thread was still running when it
   * was disposed (sandbox.ts, `confirmIdleMs`), so the host must not be given to anyone else.
   */
  busy: 'busy',
  /** `[pong, token, payload]`: the answer to `ping`, echoing both (the benchmark's bare round trip). */
  pong: 'pong',
} as const;

/** What the kernel says to a sandbox host. */
export const TO_HOST = {
  /** `[init, preludeConfig, tickMs]`: the first frame; the host answers `ready`. */
  init: 'init',
  /** `[start, agent, code, filename, inputJson, limitsJson, maxPayloadBytes]` */
  start: 'start',
  /** `[reply, agent, call, reply]` */
  reply: 'reply',
  /** `[kill, agent, code, message]`: end the agent and dispose its isolate; the host answers `result`. */
  kill: 'kill',
  /**
   * `[held, agent, bytes]`: what the kernel now holds for the agent outside its isolate, which the host's
   * watchdog counts with the heap against memory_mb. Sent when it moved by HELD_REPORT_STEP_BYTES or more.
   */
  held: 'held',
  /** `[ping, token, payload]`: answered at once with `pong` (measures the channel alone). */
  ping: 'ping',
} as const;

/**
 * The kernel reports held bytes to a host only when they moved by this much (and when they fall to nothing):
 * a report per pending call (each holds a few KB) would double the frames of a syscall flood. The host's
 * figure can lag the kernel's by less than this.
 */
export const HELD_REPORT_STEP_BYTES = 256 * 1024;

/** The marker of a syscall whose payload was past the cap and was not carried. */
export const OVERSIZED = 'oversized';

const HEADER = 4;

/** Encodes one frame. Throws TypeError for a field that is not a string (a bug of the sender). */
export function encodeFrame(fields: readonly string[]): Buffer {
  if (fields.length > 0xffff) throw new TypeError('too many fields');
  const parts: Buffer[] = [];
  let size = 2;
  for (const field of fields) {
    if (typeof field !== 'string') throw new TypeError('frame fields must be strings');
    const bytes = Buffer.from(field, 'utf8');
    parts.push(bytes);
    size += 4 + bytes.length;
  }
  const frame = Buffer.allocUnsafe(HEADER + size);
  frame.writeUInt32BE(size, 0);
  frame.writeUInt16BE(fields.length, HEADER);
  let at = HEADER + 2;
  for (const bytes of parts) {
    frame.writeUInt32BE(bytes.length, at);
    at += 4;
    bytes.copy(frame, at);
    at += bytes.length;
  }
  return frame;
}

/**
 * Reads frames from a byte stream. `push` hands each complete frame's fields to `onFrame` in order. A frame
 * whose header announces more than `maxFrameBytes`, or whose body does not parse as fields, stops the reader
 * for good and reports the problem once through `onError` (the stream cannot be resynchronized: the caller
 * must drop the peer). Never throws.
 *
 * A reader whose frames may each cost much (the kernel's, where a frame is a syscall) can instead `append` what
 * arrives and `read` frames a few at a time, so that a burst is not handled in one go.
 */
export class FrameReader {
  readonly #maxFrameBytes: number;
  readonly #onFrame: (fields: string[]) => void;
  readonly #onError: (problem: 'oversized' | 'malformed') => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed = false;

  constructor(
    maxFrameBytes: number,
    onFrame: (fields: string[]) => void,
    onError: (problem: 'oversized' | 'malformed') => void,
  ) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#onFrame = onFrame;
    this.#onError = onError;
  }

  /** Bytes appended and not yet handed on as frames (a partial frame's among them). */
  get buffered(): number {
    return this.#buffered;
  }

  /** Appends `chunk` and hands on every complete frame. */
  push(chunk: Buffer): void {
    this.append(chunk);
    this.read(() => true);
  }

  /** Appends `chunk` without handing on its frames: `read` does. */
  append(chunk: Buffer): void {
    if (this.#failed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * Hands complete frames to `onFrame` in order for as long as `more()`, asked before each one, says so. Returns
   * true if a complete frame was left for a later call, false if none is buffered (or the reader has failed).
   */
  read(more: () => boolean): boolean {
    while (!this.#failed && this.#buffered >= HEADER) {
      const head = this.#peekHeader();
      if (head > this.#maxFrameBytes || head < 2) {
        this.#fail(head < 2 ? 'malformed' : 'oversized');
        return false;
      }
      if (this.#buffered < HEADER + head) return false;
      if (!more()) return true;
      const body = this.#take(HEADER + head).subarray(HEADER);
      const fields = parseFields(body);
      if (fields === undefined) {
        this.#fail('malformed');
        return false;
      }
      this.#onFrame(fields);
    }
    return false;
  }

  #peekHeader(): number {
    const first = this.#chunks[0] as Buffer;
    if (first.length >= HEADER) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined.readUInt32BE(0);
  }

  #take(bytes: number): Buffer {
    const joined = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks);
    const frame = joined.subarray(0, bytes);
    const rest = joined.subarray(bytes);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#buffered = rest.length;
    return frame;
  }

  #fail(problem: 'oversized' | 'malformed'): void {
    this.#failed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#onError(problem);
  }
}

function parseFields(body: Buffer): string[] | undefined {
  if (body.length < 2) return undefined;
  const count = body.readUInt16BE(0);
  const fields: string[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    if (at + 4 > body.length) return undefined;
    const length = body.readUInt32BE(at);
    at += 4;
    if (at + length > body.length) return undefined;
    fields.push(body.toString('utf8', at, at + length));
    at += length;
  }
  return at === body.length ? fields : undefined;
}

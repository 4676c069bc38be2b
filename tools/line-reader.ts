/**
 * Splits a byte stream into newline-terminated lines, each bounded in bytes. Chunks are kept as they came and
 * joined once per line: the MCP SDK's ReadBuffer concatenated its whole buffer with every chunk (quadratic in a
 * long message) and bounded the buffer, not the line, so a message near the cap followed by the next one in the
 * same pipe read counted as a flood (red-team pass 68).
 */
/** Pieces of one line kept apart before they are joined into one (see `push`). */
const MAX_PARTS = 1024;

export class LineReader {
  readonly #maxLineBytes: number;
  #parts: Buffer[] = [];
  #length = 0;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /**
   * The lines `chunk` completes, in order, as UTF-8 text without their `\n` (nor a `\r` before it). Throws
   * RangeError when a line passes the bound; the reader is then left as it was before the chunk.
   */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, newline);
      const length = this.#length + piece.length;
      if (length > this.#maxLineBytes) throw new RangeError('a line is longer than the bound');
      const line = (this.#parts.length === 0 ? piece : Buffer.concat([...this.#parts, piece], length)).toString('utf8');
      this.#parts = [];
      this.#length = 0;
      lines.push(line.endsWith('\r') ? line.slice(0, -1) : line);
      start = newline + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.#length + rest.length > this.#maxLineBytes) throw new RangeError('a line is longer than the bound');
      this.#parts.push(rest);
      this.#length += rest.length;
      // A line trickled a byte a read would otherwise keep a Buffer (about 100 bytes of heap) per byte.
      if (this.#parts.length >= MAX_PARTS) this.#parts = [Buffer.concat(this.#parts, this.#length)];
    }
    return lines;
  }

  /** Drops a partial line (the stream is over). */
  clear(): void {
    this.#parts = [];
    this.#length = 0;
  }
}

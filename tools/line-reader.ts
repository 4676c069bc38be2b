/**
 * Splits a byte stream into newline-terminated lines, each bounded in bytes. The start of a line a read did not
 * finish is copied into one buffer that doubles as it fills, so each byte is copied a bounded number of times
 * however the stream is cut: the MCP SDK's ReadBuffer concatenated its whole buffer with every chunk (quadratic in
 * a long message) and bounded the buffer, not the line, so a message near the cap followed by the next one in the
 * same pipe read counted as a flood (red-team pass 68); keeping the pieces apart held a Buffer per byte of a
 * trickled line, and joining them every so often was quadratic again (pass 69).
 */
export class LineReader {
  readonly #maxLineBytes: number;
  // The start of the current line: #held[0, #length).
  #held: Buffer | undefined;
  #length = 0;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  /**
   * The lines `chunk` completes, in order, as UTF-8 text without their `\n` (nor a `\r` before it). Throws
   * RangeError when a line passes the bound.
   */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, newline);
      let line: string;
      if (this.#length === 0) {
        if (piece.length > this.#maxLineBytes) throw new RangeError('a line is longer than the bound');
        line = piece.toString('utf8');
      } else {
        this.#hold(piece);
        line = (this.#held as Buffer).toString('utf8', 0, this.#length);
        this.#release();
      }
      lines.push(line.endsWith('\r') ? line.slice(0, -1) : line);
      start = newline + 1;
    }
    if (start < chunk.length) this.#hold(chunk.subarray(start));
    return lines;
  }

  /** Drops a partial line (the stream is over). */
  clear(): void {
    this.#release();
  }

  #hold(bytes: Buffer): void {
    const length = this.#length + bytes.length;
    if (length > this.#maxLineBytes) throw new RangeError('a line is longer than the bound');
    if (this.#held === undefined || this.#held.length < length) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.#maxLineBytes, Math.max(length, 2 * (this.#held?.length ?? 0), 4096)),
      );
      this.#held?.copy(grown, 0, 0, this.#length);
      this.#held = grown;
    }
    bytes.copy(this.#held, this.#length);
    this.#length = length;
  }

  // A line's buffer is not kept for the next: one long line must not pin its size for the server's life.
  #release(): void {
    this.#held = undefined;
    this.#length = 0;
  }
}

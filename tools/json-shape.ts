/**
 * A linear pre-scan of JSON text an outsider wrote (a model endpoint's answer), before anything parses it:
 * `JSON.parse` of a few MiB shaped as millions of empty arrays, or nested millions deep, takes 15–30× its size
 * in heap and seconds of the event loop (red-team pass 66: an 8 MiB answer held the kernel's loop 1.7 s and grew
 * its heap by 470 MB; four at once, 4.8 s). The scan counts structure only; strings are skipped whole.
 */

/** Bounds of `jsonShapeFits`. */
export interface JsonShapeLimits {
  /** Deepest nesting of arrays and objects. */
  readonly maxDepth: number;
  /** Most values and keys in all (each `[`, `{` and `,` counts one). */
  readonly maxNodes: number;
}

/**
 * True when `text` nests no deeper than `maxDepth` and holds no more than `maxNodes` structural elements. It does
 * not check that `text` is JSON: the parser after it does.
 */
export function jsonShapeFits(text: string, limits: JsonShapeLimits): boolean {
  let depth = 0;
  let nodes = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22 /* " */) {
      // Skip the string, escapes included: brackets and commas inside it are text.
      for (i++; i < length; i++) {
        const inner = text.charCodeAt(i);
        if (inner === 0x5c /* \ */) i++;
        else if (inner === 0x22) break;
      }
    } else if (code === 0x5b /* [ */ || code === 0x7b /* { */) {
      if (++depth > limits.maxDepth || ++nodes > limits.maxNodes) return false;
    } else if (code === 0x5d /* ] */ || code === 0x7d /* } */) {
      depth--;
    } else if (code === 0x2c /* , */) {
      if (++nodes > limits.maxNodes) return false;
    }
  }
  return true;
}

// @ts-check
/**
 * TextEncoder, TextDecoder (UTF-8, the only encoding the web's TextEncoder produces and the one agents
 * exchange), atob and btoa, inside the guest, plus the byte helpers the fetch part uses.
 *
 * These follow the WHATWG Encoding standard's UTF-8 encoder and decoder (lone surrogates encode as U+FFFD;
 * invalid sequences decode to one U+FFFD per maximal subpart, or throw a TypeError when `fatal`; a leading
 * BOM is dropped unless `ignoreBOM`; `stream: true` keeps a split sequence for the next call) and the HTML
 * forgiving-base64 rules. They are a few dozen lines each, so they are written here rather than bundled; the
 * tests compare them with Node's own implementations on random input.
 */
'use strict';

(function encoding(/** @type {import('./kit').Kit} */ kit) {
  const { p } = kit;
  const REPLACEMENT = 0xfffd;
  const CHUNK = 4096;

  /** @type {(message: string, name: string) => Error} */
  const domException = (message, name) => new (kit.require('events').DOMException)(message, name);

  // Code units to a string, CHUNK at a time (fromCharCode takes them as arguments).
  /** @type {(units: number[]) => string} */
  const unitsToString = (units) => {
    let out = '';
    for (let i = 0; i < units.length; i += CHUNK) {
      /** @type {number[]} */
      const chunk = [];
      const end = p.min(units.length, i + CHUNK);
      for (let j = i; j < end; j++) p.push(chunk, units[j]);
      out += p.apply(p.fromCharCode, undefined, chunk);
    }
    return out;
  };

  // The code point at `i` of `text` and how many units it takes (a lone surrogate is U+FFFD).
  /** @type {(text: string, i: number) => number} */
  const codePoint = (text, i) => {
    const c = p.charCodeAt(text, i);
    if (c < 0xd800 || c > 0xdfff) return c;
    const next = i + 1 < text.length ? p.charCodeAt(text, i + 1) : 0;
    if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) return 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
    return REPLACEMENT;
  };
  /** @type {(cp: number) => number} */
  const byteLength = (cp) => (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
  /** @type {(cp: number, out: Uint8Array, at: number) => void} */
  const put = (cp, out, at) => {
    if (cp < 0x80) out[at] = cp;
    else if (cp < 0x800) {
      out[at] = 0xc0 | (cp >> 6);
      out[at + 1] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      out[at] = 0xe0 | (cp >> 12);
      out[at + 1] = 0x80 | ((cp >> 6) & 0x3f);
      out[at + 2] = 0x80 | (cp & 0x3f);
    } else {
      out[at] = 0xf0 | (cp >> 18);
      out[at + 1] = 0x80 | ((cp >> 12) & 0x3f);
      out[at + 2] = 0x80 | ((cp >> 6) & 0x3f);
      out[at + 3] = 0x80 | (cp & 0x3f);
    }
  };

  /** @type {(text: string) => Uint8Array} */
  const utf8Encode = (text) => {
    let size = 0;
    for (let i = 0; i < text.length; i++) {
      const cp = codePoint(text, i);
      if (cp > 0xffff) i++;
      size += byteLength(cp);
    }
    const out = new p.Uint8Array(size);
    let at = 0;
    for (let i = 0; i < text.length; i++) {
      const cp = codePoint(text, i);
      if (cp > 0xffff) i++;
      put(cp, out, at);
      at += byteLength(cp);
    }
    return out;
  };

  // The bytes of a BufferSource (ArrayBuffer or any view), as a Uint8Array over the same memory.
  /** @type {(input: unknown, what: string) => Uint8Array} */
  const bytesOf = (input, what) => {
    if (p.isView(input)) {
      const view = /** @type {ArrayBufferView} */ (input);
      if (p.typedArrayName(view) === undefined) {
        return new p.Uint8Array(
          p.dataViewBuffer(/** @type {DataView} */ (view)),
          p.dataViewByteOffset(/** @type {DataView} */ (view)),
          p.dataViewByteLength(/** @type {DataView} */ (view)),
        );
      }
      return new p.Uint8Array(p.typedArrayBuffer(view), p.typedArrayByteOffset(view), p.typedArrayByteLength(view));
    }
    try {
      p.arrayBufferByteLength(/** @type {ArrayBuffer} */ (input));
    } catch {
      throw new p.TypeError(`${what} must be an ArrayBuffer or an ArrayBuffer view`);
    }
    return new p.Uint8Array(/** @type {ArrayBuffer} */ (input));
  };

  /**
   * The WHATWG UTF-8 decoder over `bytes`, continuing `state` (bytes of a sequence split by streaming).
   * @type {(bytes: Uint8Array, state: { seen: number, needed: number, lower: number, upper: number, cp: number }, fatal: boolean, flush: boolean) => number[]}
   */
  const decodeUnits = (bytes, state, fatal, flush) => {
    /** @type {number[]} */
    const units = [];
    /** @type {(cp: number) => void} */
    const emit = (cp) => {
      if (cp < 0x10000) p.push(units, cp);
      else {
        p.push(units, 0xd800 + ((cp - 0x10000) >> 10));
        p.push(units, 0xdc00 + ((cp - 0x10000) & 0x3ff));
      }
    };
    const error = () => {
      if (fatal) throw new p.TypeError('The encoded data was not valid for encoding utf-8');
      emit(REPLACEMENT);
    };
    for (let i = 0; i < bytes.length; i++) {
      const byte = /** @type {number} */ (bytes[i]);
      if (state.needed === 0) {
        if (byte <= 0x7f) emit(byte);
        else if (byte >= 0xc2 && byte <= 0xdf) {
          state.needed = 1;
          state.cp = byte & 0x1f;
        } else if (byte >= 0xe0 && byte <= 0xef) {
          if (byte === 0xe0) state.lower = 0xa0;
          if (byte === 0xed) state.upper = 0x9f;
          state.needed = 2;
          state.cp = byte & 0xf;
        } else if (byte >= 0xf0 && byte <= 0xf4) {
          if (byte === 0xf0) state.lower = 0x90;
          if (byte === 0xf4) state.upper = 0x8f;
          state.needed = 3;
          state.cp = byte & 0x7;
        } else error();
        continue;
      }
      if (byte < state.lower || byte > state.upper) {
        state.cp = 0;
        state.needed = 0;
        state.seen = 0;
        state.lower = 0x80;
        state.upper = 0xbf;
        error();
        i--; // The byte starts over (the maximal subpart rule).
        continue;
      }
      state.lower = 0x80;
      state.upper = 0xbf;
      state.cp = (state.cp << 6) | (byte & 0x3f);
      state.seen++;
      if (state.seen !== state.needed) continue;
      emit(state.cp);
      state.cp = 0;
      state.needed = 0;
      state.seen = 0;
    }
    if (flush && state.needed !== 0) {
      state.cp = 0;
      state.needed = 0;
      state.seen = 0;
      state.lower = 0x80;
      state.upper = 0xbf;
      error();
    }
    return units;
  };

  // UTF-8 decode (Encoding standard): replacement on errors, a leading BOM dropped unless `keepBOM`.
  /** @type {(bytes: Uint8Array, keepBOM?: boolean) => string} */
  const utf8Decode = (bytes, keepBOM = false) => {
    const state = { __proto__: null, seen: 0, needed: 0, lower: 0x80, upper: 0xbf, cp: 0 };
    const text = unitsToString(decodeUnits(bytes, state, false, true));
    return !keepBOM && text.length > 0 && p.charCodeAt(text, 0) === 0xfeff ? p.slice(text, 1) : text;
  };

  class TextEncoder {
    get encoding() {
      return 'utf-8';
    }
    encode(input = '') {
      return utf8Encode(p.String(input));
    }
    /** @param {unknown} source @param {unknown} destination */
    encodeInto(source, destination) {
      const text = p.String(source);
      if (p.typedArrayName(destination) !== 'Uint8Array') {
        throw new p.TypeError('The "destination" argument must be a Uint8Array');
      }
      const target = /** @type {Uint8Array} */ (destination);
      const room = p.typedArrayByteLength(target);
      let read = 0;
      let written = 0;
      while (read < text.length) {
        const cp = codePoint(text, read);
        const size = byteLength(cp);
        if (written + size > room) break;
        put(cp, target, written);
        written += size;
        read += cp > 0xffff ? 2 : 1;
      }
      return { read, written };
    }
  }
  kit.methods(TextEncoder.prototype, { [p.SymbolToStringTag]: 'TextEncoder' });

  const LABELS = ['unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'utf-8', 'utf8', 'x-unicode20utf8'];

  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #state = { __proto__: null, seen: 0, needed: 0, lower: 0x80, upper: 0xbf, cp: 0 };
    #started = false;
    /** @param {unknown} label @param {any} options */
    constructor(label = 'utf-8', options = undefined) {
      let name = p.toLowerCase(p.String(label));
      let from = 0;
      let to = name.length;
      const space = (/** @type {number} */ c) => c === 9 || c === 10 || c === 12 || c === 13 || c === 32;
      while (from < to && space(p.charCodeAt(name, from))) from++;
      while (to > from && space(p.charCodeAt(name, to - 1))) to--;
      name = p.slice(name, from, to);
      let known = false;
      for (let i = 0; i < LABELS.length; i++) if (LABELS[i] === name) known = true;
      if (!known) throw new p.RangeError(`The "${name}" encoding is not supported (only utf-8 is)`);
      this.#fatal = options === undefined || options === null ? false : !!options.fatal;
      this.#ignoreBOM = options === undefined || options === null ? false : !!options.ignoreBOM;
    }
    get encoding() {
      return 'utf-8';
    }
    get fatal() {
      return this.#fatal;
    }
    get ignoreBOM() {
      return this.#ignoreBOM;
    }
    /** @param {unknown} input @param {any} options */
    decode(input = undefined, options = undefined) {
      const stream = options === undefined || options === null ? false : !!options.stream;
      const bytes = input === undefined ? new p.Uint8Array(0) : bytesOf(input, 'The "input" argument');
      let units;
      try {
        units = decodeUnits(bytes, this.#state, this.#fatal, !stream);
      } catch (error) {
        this.#reset();
        throw error;
      }
      let text = unitsToString(units);
      if (!this.#started && text.length > 0) {
        this.#started = true;
        if (!this.#ignoreBOM && p.charCodeAt(text, 0) === 0xfeff) text = p.slice(text, 1);
      }
      if (!stream) this.#reset();
      return text;
    }
    #reset() {
      this.#started = false;
      this.#state = { __proto__: null, seen: 0, needed: 0, lower: 0x80, upper: 0xbf, cp: 0 };
    }
  }
  kit.methods(TextDecoder.prototype, { [p.SymbolToStringTag]: 'TextDecoder' });

  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const ch = (/** @type {number} */ i) => /** @type {string} */ (ALPHABET[i]);

  /** @type {(bytes: any) => string} */
  const base64Encode = (bytes) => {
    let out = '';
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out += ch(n >> 18) + ch((n >> 12) & 63) + ch((n >> 6) & 63) + ch(n & 63);
    }
    if (i < bytes.length) {
      const n =
        /** @type {number} */ (bytes[i] << 16) | (i + 1 < bytes.length ? /** @type {number} */ (bytes[i + 1]) << 8 : 0);
      out += ch(n >> 18) + ch((n >> 12) & 63);
      out += i + 1 < bytes.length ? `${ch((n >> 6) & 63)}=` : '==';
    }
    return out;
  };

  // The value of a base64 character, or -1.
  /** @type {(c: number) => number} */
  const sextet = (c) => {
    if (c >= 65 && c <= 90) return c - 65;
    if (c >= 97 && c <= 122) return c - 71;
    if (c >= 48 && c <= 57) return c + 4;
    if (c === 43) return 62;
    if (c === 47) return 63;
    return -1;
  };

  // HTML's forgiving-base64 decode; undefined when the input is not base64.
  /** @type {(text: string) => number[] | undefined} */
  const base64Decode = (text) => {
    /** @type {number[]} */
    const values = [];
    for (let i = 0; i < text.length; i++) {
      const c = p.charCodeAt(text, i);
      if (c === 9 || c === 10 || c === 12 || c === 13 || c === 32) continue;
      p.push(values, c);
    }
    if (values.length % 4 === 0 && values.length > 0 && values[values.length - 1] === 61) {
      p.pop(values);
      if (values[values.length - 1] === 61) p.pop(values);
    }
    if (values.length % 4 === 1) return undefined;
    /** @type {number[]} */
    const bytes = [];
    let buffer = 0;
    let bits = 0;
    for (let i = 0; i < values.length; i++) {
      const v = sextet(/** @type {number} */ (values[i]));
      if (v < 0) return undefined;
      buffer = (buffer << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        p.push(bytes, (buffer >> bits) & 0xff);
      }
    }
    return bytes;
  };

  const btoa = (/** @type {unknown[]} */ ...args) => {
    if (args.length === 0) throw new p.TypeError('btoa requires 1 argument');
    const text = p.String(args[0]);
    const bytes = new p.Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = p.charCodeAt(text, i);
      if (c > 0xff) throw domException('Invalid character', 'InvalidCharacterError');
      bytes[i] = c;
    }
    return base64Encode(bytes);
  };
  const atob = (/** @type {unknown[]} */ ...args) => {
    if (args.length === 0) throw new p.TypeError('atob requires 1 argument');
    const bytes = base64Decode(p.String(args[0]));
    if (bytes === undefined)
      throw domException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
    return unitsToString(bytes);
  };

  /** @type {(text: string) => Uint8Array | undefined} */
  const base64ToBytes = (text) => {
    const bytes = base64Decode(text);
    if (bytes === undefined) return undefined;
    const out = new p.Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = /** @type {number} */ (bytes[i]);
    return out;
  };

  return { TextEncoder, TextDecoder, atob, btoa, utf8Encode, utf8Decode, bytesOf, base64Encode, base64ToBytes };
});

// @ts-check
/**
 * crypto.getRandomValues and crypto.randomUUID, inside the guest: a ChaCha20 keystream (RFC 8439 block
 * function, 20 rounds) keyed by 32 bytes from the host's CSPRNG, asked for once per agent with the internal
 * `random` syscall on first use. So randomness costs one audited syscall per agent, not one per call, and
 * no agent can predict another's (each realm has its own key; realms are never reused).
 *
 * The block function is the whole cipher and is short, so it is written here (no bundled library has a
 * form this prelude can load without a bundler); the tests check it against RFC 8439's test vector.
 * `crypto.subtle` is not provided.
 */
'use strict';

(function crypto(/** @type {import('./kit').Kit} */ kit) {
  const { p } = kit;
  const MAX_BYTES = 65_536;
  const INTEGER_ARRAYS = [
    'Int8Array',
    'Uint8Array',
    'Uint8ClampedArray',
    'Int16Array',
    'Uint16Array',
    'Int32Array',
    'Uint32Array',
    'BigInt64Array',
    'BigUint64Array',
  ];

  /** @type {(x: number, n: number) => number} */
  const rotl = (x, n) => (x << n) | (x >>> (32 - n));
  // (Arrays typed `any`: indexing is checked by the loops, and casts inside arithmetic do not survive formatting.)
  /** @type {(s: any, a: number, b: number, c: number, d: number) => void} */
  const quarter = (s, a, b, c, d) => {
    s[a] = (s[a] + s[b]) | 0;
    s[d] = rotl(s[d] ^ s[a], 16);
    s[c] = (s[c] + s[d]) | 0;
    s[b] = rotl(s[b] ^ s[c], 12);
    s[a] = (s[a] + s[b]) | 0;
    s[d] = rotl(s[d] ^ s[a], 8);
    s[c] = (s[c] + s[d]) | 0;
    s[b] = rotl(s[b] ^ s[c], 7);
  };
  /** @type {(bytes: any, at: number) => number} */
  const word = (bytes, at) => bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);

  /**
   * One 64-byte ChaCha20 block (RFC 8439 §2.3) for a 32-byte key, a 32-bit block counter and a 12-byte nonce.
   * @type {(key: Uint8Array, counter: number, nonce: Uint8Array) => Uint8Array}
   */
  const chacha20Block = (key, counter, nonce) => {
    /** @type {any[]} */
    const state = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];
    for (let i = 0; i < 8; i++) p.push(state, word(key, i * 4));
    p.push(state, counter | 0);
    for (let i = 0; i < 3; i++) p.push(state, word(nonce, i * 4));
    /** @type {any[]} */
    const x = [];
    for (let i = 0; i < 16; i++) p.push(x, state[i]);
    for (let round = 0; round < 10; round++) {
      quarter(x, 0, 4, 8, 12);
      quarter(x, 1, 5, 9, 13);
      quarter(x, 2, 6, 10, 14);
      quarter(x, 3, 7, 11, 15);
      quarter(x, 0, 5, 10, 15);
      quarter(x, 1, 6, 11, 12);
      quarter(x, 2, 7, 8, 13);
      quarter(x, 3, 4, 9, 14);
    }
    const out = new p.Uint8Array(64);
    for (let i = 0; i < 16; i++) {
      const v = (x[i] + state[i]) | 0;
      out[i * 4] = v & 0xff;
      out[i * 4 + 1] = (v >>> 8) & 0xff;
      out[i * 4 + 2] = (v >>> 16) & 0xff;
      out[i * 4 + 3] = (v >>> 24) & 0xff;
    }
    return out;
  };

  /** @type {Uint8Array | undefined} */
  let key;
  /** @type {any} */
  const nonce = new p.Uint8Array(12);
  let counter = 0;
  /** @type {any} */
  let block = new p.Uint8Array(0);
  let used = 0;

  /** @type {(target: Uint8Array) => void} */
  const fill = (target) => {
    if (key === undefined) {
      const seed = kit.require('encoding').base64ToBytes(p.String(kit.callSync('random', [])));
      if (seed === undefined || seed.length !== 32)
        throw kit.kernelError('E_INTERNAL', 'crypto: no seed from the kernel');
      key = seed;
    }
    for (let i = 0; i < target.length; i++) {
      if (used === block.length) {
        block = chacha20Block(/** @type {Uint8Array} */ (key), counter, nonce);
        used = 0;
        counter = (counter + 1) | 0;
        // 2^32 blocks (256 GiB) per nonce; then the nonce moves on.
        for (let j = 0; counter === 0 && j < 12; j++) {
          nonce[j] = (nonce[j] + 1) & 0xff;
          if (nonce[j] !== 0) break;
        }
      }
      target[i] = block[used];
      block[used++] = 0;
    }
  };

  /** @type {(message: string, name: string) => Error} */
  const domException = (message, name) => new (kit.require('events').DOMException)(message, name);

  /** @type {(array: unknown) => unknown} */
  const getRandomValues = (array) => {
    const name = p.typedArrayName(array);
    let integer = false;
    for (let i = 0; i < INTEGER_ARRAYS.length; i++) if (INTEGER_ARRAYS[i] === name) integer = true;
    if (!integer) {
      throw domException('The data argument must be an integer-type TypedArray', 'TypeMismatchError');
    }
    const view = /** @type {ArrayBufferView} */ (array);
    const length = p.typedArrayByteLength(view);
    if (length > MAX_BYTES) {
      throw domException(`The requested length exceeds ${MAX_BYTES} bytes`, 'QuotaExceededError');
    }
    fill(new p.Uint8Array(p.typedArrayBuffer(view), p.typedArrayByteOffset(view), length));
    return array;
  };

  const HEX = '0123456789abcdef';
  const randomUUID = () => {
    /** @type {any} */
    const bytes = new p.Uint8Array(16);
    fill(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let out = '';
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
      const b = bytes[i];
      out += /** @type {string} */ (HEX[b >> 4]) + /** @type {string} */ (HEX[b & 15]);
    }
    return out;
  };

  const cryptoObject = {};
  kit.methods(cryptoObject, {
    getRandomValues: {
      /** @param {unknown} array */
      getRandomValues(array) {
        return getRandomValues(array);
      },
    }.getRandomValues,
    randomUUID: {
      randomUUID() {
        return randomUUID();
      },
    }.randomUUID,
    [p.SymbolToStringTag]: 'Crypto',
  });

  return { crypto: cryptoObject, chacha20Block };
});

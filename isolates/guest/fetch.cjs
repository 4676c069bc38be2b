// @ts-check
/**
 * fetch, Headers, Request and Response, inside the guest: a thin layer over the `net.http` tool. `fetch` is
 * one `sys.tool('net.http', { url, method, headers, body | body_base64 })` call, so it needs the same
 * capability, obeys the same SSRF rules, redirects, vault injection and size caps, carries the same labels
 * and is audited the same way as the call it makes; a refusal rejects with the kernel's Error (its `code`
 * is E_CAP_DENIED, E_TAINT, ...). The guest decides nothing: everything here could be done by agent code
 * with `sys.tool`, and the kernel checks the one string it receives.
 *
 * What differs from a browser: bodies are strings or bytes (no streams, Blob or FormData; `response.body`
 * is null), `redirect` must be 'follow' (the tool follows and re-authorizes each hop), headers the kernel
 * sets itself (content-length, accept-encoding, connection, ...) are dropped as a browser drops forbidden
 * ones, repeated response headers arrive joined with ', ' (set-cookie included), `statusText` is empty, and aborting rejects the fetch at once while the request itself runs to its
 * end or its timeout in the kernel (its result's label still joins the agent's, as any tool result's does).
 * init members are each read once, in a fixed order.
 */
'use strict';

(function fetchPart(/** @type {import('./kit').Kit} */ kit) {
  const { p } = kit;
  const encoding = kit.require('encoding');
  const events = kit.require('events');

  const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
  // Headers the kernel's HTTP client owns; dropped from what is sent, as a browser drops forbidden headers.
  const KERNEL_HEADERS = [
    'accept-encoding',
    'connection',
    'content-length',
    'expect',
    'keep-alive',
    'te',
    'trailer',
    'transfer-encoding',
  ];
  const NULL_BODY_STATUS = [101, 103, 204, 205, 304];
  const REDIRECT_STATUS = [301, 302, 303, 307, 308];

  /** @type {(list: unknown[], value: unknown) => boolean} */
  const includes = (list, value) => {
    for (let i = 0; i < list.length; i++) if (list[i] === value) return true;
    return false;
  };
  /** @type {(c: number) => boolean} */
  const httpSpace = (c) => c === 9 || c === 10 || c === 13 || c === 32;
  /** @type {(value: unknown) => string} */
  const headerValue = (value) => {
    const text = p.String(value);
    let from = 0;
    let to = text.length;
    while (from < to && httpSpace(p.charCodeAt(text, from))) from++;
    while (to > from && httpSpace(p.charCodeAt(text, to - 1))) to--;
    const trimmed = p.slice(text, from, to);
    for (let i = 0; i < trimmed.length; i++) {
      const c = p.charCodeAt(trimmed, i);
      if (c === 0 || c === 10 || c === 13 || c > 0xff) throw new p.TypeError('Invalid header value');
    }
    return trimmed;
  };
  /** @type {(name: unknown) => string} */
  const headerName = (name) => {
    const text = p.String(name);
    if (p.regexpExec(TOKEN, text) === null) throw new p.TypeError(`Invalid header name: "${p.slice(text, 0, 64)}"`);
    return p.toLowerCase(text);
  };

  class Headers {
    /** @type {[string, string][]} */
    #list = [];
    #immutable = false;

    /** @param {unknown} init */
    constructor(init = undefined) {
      if (init === undefined || init === null) return;
      if (typeof init !== 'object' && typeof init !== 'function') {
        throw new p.TypeError('Headers must be built from an object, an iterable of pairs or Headers');
      }
      if (#list in init) {
        const source = /** @type {Headers} */ (init).#list;
        for (let i = 0; i < source.length; i++) {
          const pair = /** @type {[string, string]} */ (source[i]);
          p.push(this.#list, [pair[0], pair[1]]);
        }
        return;
      }
      const iterator = /** @type {any} */ (init)[p.SymbolIterator];
      if (iterator !== undefined && iterator !== null) {
        for (const pair of /** @type {Iterable<unknown>} */ (init)) {
          /** @type {unknown[]} */
          const items = [];
          for (const item of /** @type {Iterable<unknown>} */ (pair)) p.push(items, item);
          if (items.length !== 2) throw new p.TypeError('Each header pair must have exactly a name and a value');
          this.append(items[0], items[1]);
        }
        return;
      }
      const keys = p.ownKeys(init);
      for (let i = 0; i < keys.length; i++) {
        const key = /** @type {PropertyKey} */ (keys[i]);
        if (typeof key !== 'string') continue;
        const found = p.getOwnPropertyDescriptor(init, key);
        if (found === undefined || found.enumerable !== true) continue;
        this.append(key, /** @type {any} */ (init)[key]);
      }
    }
    /** @param {unknown} name @param {unknown} value */
    append(name, value) {
      const key = headerName(name);
      const text = headerValue(value);
      this.#check();
      p.push(this.#list, [key, text]);
    }
    /** @param {unknown} name */
    delete(name) {
      const key = headerName(name);
      this.#check();
      this.#remove(key);
    }
    /** @param {unknown} name */
    get(name) {
      const key = headerName(name);
      let out = null;
      for (let i = 0; i < this.#list.length; i++) {
        const pair = /** @type {[string, string]} */ (this.#list[i]);
        if (pair[0] === key) out = out === null ? pair[1] : `${out}, ${pair[1]}`;
      }
      return out;
    }
    getSetCookie() {
      /** @type {string[]} */
      const out = [];
      for (let i = 0; i < this.#list.length; i++) {
        const pair = /** @type {[string, string]} */ (this.#list[i]);
        if (pair[0] === 'set-cookie') p.push(out, pair[1]);
      }
      return out;
    }
    /** @param {unknown} name */
    has(name) {
      const key = headerName(name);
      for (let i = 0; i < this.#list.length; i++)
        if (/** @type {[string, string]} */ (this.#list[i])[0] === key) return true;
      return false;
    }
    /** @param {unknown} name @param {unknown} value */
    set(name, value) {
      const key = headerName(name);
      const text = headerValue(value);
      this.#check();
      this.#remove(key);
      p.push(this.#list, [key, text]);
    }
    /** @param {unknown} callback @param {unknown} thisArg */
    forEach(callback, thisArg = undefined) {
      if (typeof callback !== 'function') throw new p.TypeError('The "callback" argument must be a function');
      const pairs = this.#sorted();
      for (let i = 0; i < pairs.length; i++) {
        const pair = /** @type {[string, string]} */ (pairs[i]);
        p.apply(callback, thisArg, [pair[1], pair[0], this]);
      }
    }
    *entries() {
      const pairs = this.#sorted();
      for (let i = 0; i < pairs.length; i++) yield pairs[i];
    }
    *keys() {
      const pairs = this.#sorted();
      for (let i = 0; i < pairs.length; i++) yield/** @type {[string, string]} */ (pairs[i])[0];
    }
    *values() {
      const pairs = this.#sorted();
      for (let i = 0; i < pairs.length; i++) yield/** @type {[string, string]} */ (pairs[i])[1];
    }
    // Sorted by name, same-named values combined (set-cookie kept apart), as the Fetch standard iterates.
    #sorted() {
      /** @type {string[]} */
      const names = [];
      for (let i = 0; i < this.#list.length; i++) {
        const name = /** @type {[string, string]} */ (this.#list[i])[0];
        if (!includes(names, name)) p.push(names, name);
      }
      for (let i = 1; i < names.length; i++) {
        for (let j = i; j > 0 && /** @type {string} */ (names[j - 1]) > /** @type {string} */ (names[j]); j--) {
          const t = /** @type {string} */ (names[j]);
          names[j] = /** @type {string} */ (names[j - 1]);
          names[j - 1] = t;
        }
      }
      /** @type {[string, string][]} */
      const out = [];
      for (let i = 0; i < names.length; i++) {
        const name = /** @type {string} */ (names[i]);
        if (name === 'set-cookie') {
          const cookies = this.getSetCookie();
          for (let j = 0; j < cookies.length; j++) p.push(out, [name, /** @type {string} */ (cookies[j])]);
        } else p.push(out, [name, /** @type {string} */ (this.get(name))]);
      }
      return out;
    }
    #check() {
      if (this.#immutable) throw new p.TypeError('Headers are immutable');
    }
    /** @param {string} key */
    #remove(key) {
      /** @type {[string, string][]} */
      const keep = [];
      for (let i = 0; i < this.#list.length; i++) {
        const pair = /** @type {[string, string]} */ (this.#list[i]);
        if (pair[0] !== key) p.push(keep, pair);
      }
      this.#list = keep;
    }
    /** @type {(headers: Headers) => [string, string][]} */
    static list(headers) {
      return headers.#list;
    }
    /** @type {(headers: Headers) => void} */
    static freeze(headers) {
      headers.#immutable = true;
    }
  }
  const headerList = Headers.list;
  const freezeHeaders = Headers.freeze;
  delete (/** @type {any} */ (Headers).list);
  delete (/** @type {any} */ (Headers).freeze);
  kit.methods(Headers.prototype, {
    [p.SymbolIterator]: Headers.prototype.entries,
    [p.SymbolToStringTag]: 'Headers',
  });

  // A body as bytes, with the text it came from when it was text (sent as `body`, not base64), and the
  // content type a browser would add.
  /** @typedef {{ bytes: Uint8Array, text: string | undefined, type: string | undefined }} Body */
  /** @type {(body: unknown) => Body | null} */
  const extractBody = (body) => {
    if (body === undefined || body === null) return null;
    if (typeof body === 'object' || typeof body === 'function') {
      if (p.isView(body) || p.objectToString(body) === '[object ArrayBuffer]') {
        const view = encoding.bytesOf(body, 'body');
        return { bytes: p.uint8Slice(view), text: undefined, type: undefined };
      }
      if (p.objectToString(body) === '[object URLSearchParams]') {
        const text = p.String(body);
        return { bytes: encoding.utf8Encode(text), text, type: 'application/x-www-form-urlencoded;charset=UTF-8' };
      }
      const tag = p.objectToString(body);
      if (tag === '[object ReadableStream]' || tag === '[object Blob]' || tag === '[object FormData]') {
        throw new p.TypeError('Only string, ArrayBuffer, typed array and URLSearchParams bodies are supported');
      }
    }
    const bytes = encoding.utf8Encode(p.String(body));
    // The text as sent: the string with any lone surrogate replaced, as its UTF-8 bytes say.
    return { bytes, text: encoding.utf8Decode(bytes, true), type: 'text/plain;charset=UTF-8' };
  };

  /** @type {(body: Body | null, text: string | undefined) => { text(): string, bytes(): Uint8Array }} */
  const reader = (body, text) => ({
    text: () => (text !== undefined ? text : body === null ? '' : encoding.utf8Decode(body.bytes)),
    bytes: () => (body === null ? new p.Uint8Array(0) : p.uint8Slice(body.bytes)),
  });

  // The body methods Request and Response share: each consumes the body once.
  /** @type {(target: object, consume: (self: any) => { text(): string, bytes(): Uint8Array }) => void} */
  const bodyMethods = (target, consume) => {
    kit.methods(target, {
      text() {
        try {
          return p.resolved(consume(this).text());
        } catch (error) {
          return p.rejected(error);
        }
      },
      json() {
        try {
          return p.resolved(p.JSONParse(consume(this).text()));
        } catch (error) {
          return p.rejected(error);
        }
      },
      arrayBuffer() {
        try {
          return p.resolved(p.typedArrayBuffer(consume(this).bytes()));
        } catch (error) {
          return p.rejected(error);
        }
      },
      bytes() {
        try {
          return p.resolved(consume(this).bytes());
        } catch (error) {
          return p.rejected(error);
        }
      },
    });
  };

  const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'];
  const FORBIDDEN_METHODS = ['CONNECT', 'TRACE', 'TRACK'];
  const REDIRECTS = ['follow', 'error', 'manual'];
  const CREATE = p.Symbol('create');

  class Request {
    #url = '';
    #method = 'GET';
    /** @type {Headers} */
    #headers;
    /** @type {Body | null} */
    #body = null;
    /** @type {unknown} */
    #signal;
    #redirect = 'follow';
    #used = false;

    /** @param {unknown} input @param {any} init */
    constructor(input, init = undefined) {
      const options = init === undefined || init === null ? {} : init;
      /** @type {Request | undefined} */
      const from =
        input !== null && typeof input === 'object' && #url in input ? /** @type {Request} */ (input) : undefined;
      if (from !== undefined) {
        this.#url = from.#url;
        this.#method = from.#method;
        this.#headers = new Headers(from.#headers);
        this.#body = from.#body;
        this.#signal = from.#signal;
        this.#redirect = from.#redirect;
      } else {
        this.#url = p.String(input);
        this.#headers = new Headers();
      }
      // Each member read once, in this order.
      const method = options.method;
      const headers = options.headers;
      const body = options.body;
      const signal = options.signal;
      const redirect = options.redirect;
      if (method !== undefined) {
        const text = p.String(method);
        if (p.regexpExec(TOKEN, text) === null) throw new p.TypeError(`Invalid method: "${p.slice(text, 0, 64)}"`);
        const upper = p.toUpperCase(text);
        if (includes(FORBIDDEN_METHODS, upper)) throw new p.TypeError(`The ${upper} method is not allowed`);
        this.#method = includes(METHODS, upper) ? upper : text;
      }
      if (headers !== undefined) this.#headers = new Headers(headers);
      if (signal !== undefined && signal !== null && !events.isSignal(signal)) {
        throw new p.TypeError('The "signal" option must be an AbortSignal');
      }
      if (signal !== undefined) this.#signal = signal;
      if (redirect !== undefined) {
        const text = p.String(redirect);
        if (!includes(REDIRECTS, text)) throw new p.TypeError(`Invalid redirect mode: "${p.slice(text, 0, 64)}"`);
        this.#redirect = text;
      }
      if (body !== undefined && body !== null) {
        if (this.#method === 'GET' || this.#method === 'HEAD') {
          throw new p.TypeError(`A ${this.#method} request cannot have a body`);
        }
        this.#body = extractBody(body);
        if (this.#body?.type !== undefined && !this.#headers.has('content-type')) {
          this.#headers.append('content-type', this.#body.type);
        }
      }
      if (from !== undefined && this.#body === from.#body && from.#body !== null) from.#used = true;
    }
    get url() {
      return this.#url;
    }
    get method() {
      return this.#method;
    }
    get headers() {
      return this.#headers;
    }
    get signal() {
      this.#signal ??= events.AbortSignal.any([]);
      return this.#signal;
    }
    get redirect() {
      return this.#redirect;
    }
    get bodyUsed() {
      return this.#used;
    }
    get body() {
      return null;
    }
    clone() {
      if (this.#used) throw new p.TypeError('The body has already been used');
      return new Request(this);
    }
    /** @type {(request: Request) => { text(): string, bytes(): Uint8Array }} */
    static consume(request) {
      if (!(#url in request)) throw new p.TypeError('Illegal invocation');
      if (request.#used) throw new p.TypeError('The body has already been used');
      if (request.#body !== null) request.#used = true;
      return reader(request.#body, request.#body?.text);
    }
    /** @type {(request: Request) => { url: string, method: string, headers: Headers, body: Body | null, signal: unknown, redirect: string }} */
    static parts(request) {
      return /** @type {any} */ ({
        __proto__: null,
        url: request.#url,
        method: request.#method,
        headers: request.#headers,
        body: request.#body,
        signal: request.#signal,
        redirect: request.#redirect,
      });
    }
  }
  const consumeRequest = Request.consume;
  const requestParts = Request.parts;
  delete (/** @type {any} */ (Request).consume);
  delete (/** @type {any} */ (Request).parts);
  bodyMethods(Request.prototype, consumeRequest);
  kit.methods(Request.prototype, { [p.SymbolToStringTag]: 'Request' });

  class Response {
    #status = 200;
    #statusText = '';
    /** @type {Headers} */
    #headers;
    /** @type {Body | null} */
    #body = null;
    /** @type {string | undefined} */
    #text;
    #url = '';
    #redirected = false;
    #type = 'default';
    #used = false;

    /** @param {unknown} body @param {any} init */
    constructor(body = null, init = undefined) {
      if (body === CREATE) {
        this.#headers = new Headers();
        return;
      }
      const options = init === undefined || init === null ? {} : init;
      const status = options.status === undefined ? 200 : p.Number(options.status);
      if (!p.isInteger(status) || status < 200 || status > 599) {
        throw new p.RangeError('The status must be an integer between 200 and 599');
      }
      this.#status = status;
      this.#statusText = options.statusText === undefined ? '' : p.String(options.statusText);
      this.#headers = new Headers(options.headers);
      if (body !== null && body !== undefined) {
        if (includes(NULL_BODY_STATUS, status)) throw new p.TypeError(`A ${status} response cannot have a body`);
        this.#body = extractBody(body);
        this.#text = this.#body?.text;
        if (this.#body?.type !== undefined && !this.#headers.has('content-type')) {
          this.#headers.append('content-type', this.#body.type);
        }
      }
    }
    get type() {
      return this.#type;
    }
    get url() {
      return this.#url;
    }
    get redirected() {
      return this.#redirected;
    }
    get status() {
      return this.#status;
    }
    get ok() {
      return this.#status >= 200 && this.#status <= 299;
    }
    get statusText() {
      return this.#statusText;
    }
    get headers() {
      return this.#headers;
    }
    get body() {
      return null;
    }
    get bodyUsed() {
      return this.#used;
    }
    clone() {
      if (this.#used) throw new p.TypeError('The body has already been used');
      const copy = new Response(CREATE);
      copy.#status = this.#status;
      copy.#statusText = this.#statusText;
      copy.#headers = new Headers(this.#headers);
      copy.#body = this.#body;
      copy.#text = this.#text;
      copy.#url = this.#url;
      copy.#redirected = this.#redirected;
      copy.#type = this.#type;
      return copy;
    }
    static error() {
      const response = new Response(CREATE);
      response.#status = 0;
      response.#type = 'error';
      freezeHeaders(response.#headers);
      return response;
    }
    /** @param {unknown} url @param {unknown} status */
    static redirect(url, status = 302) {
      const code = p.Number(status);
      if (!includes(REDIRECT_STATUS, code)) throw new p.RangeError('Invalid redirect status');
      const response = new Response(CREATE);
      response.#status = code;
      response.#headers.set('location', p.String(url));
      freezeHeaders(response.#headers);
      return response;
    }
    /** @param {unknown} data @param {unknown} init */
    static json(data, init = undefined) {
      const text = p.JSONStringify(data);
      if (text === undefined) throw new p.TypeError('The data is not JSON-serializable');
      const response = new Response(text, init);
      response.#headers.set('content-type', 'application/json');
      return response;
    }
    /** @type {(response: Response) => { text(): string, bytes(): Uint8Array }} */
    static consume(response) {
      if (!(#status in response)) throw new p.TypeError('Illegal invocation');
      if (response.#used) throw new p.TypeError('The body has already been used');
      if (response.#body !== null) response.#used = true;
      return reader(response.#body, response.#text);
    }
    // A Response from net.http's result: { status, url, headers, body | body_base64, redirects }.
    /** @type {(result: any) => Response} */
    static fromResult(result) {
      const response = new Response(CREATE);
      response.#status = p.Number(result.status);
      response.#url = p.String(result.url);
      response.#redirected = p.Number(result.redirects) > 0;
      response.#type = 'basic';
      const headers = result.headers ?? {};
      const names = p.ownKeys(headers);
      for (let i = 0; i < names.length; i++) {
        const name = /** @type {string} */ (names[i]);
        try {
          response.#headers.append(name, headers[name]);
        } catch {
          // A value the Headers class would refuse (the tool passes what the server sent): left out.
        }
      }
      freezeHeaders(response.#headers);
      if (typeof result.body === 'string') {
        const text = /** @type {string} */ (result.body);
        response.#text = text.length > 0 && p.charCodeAt(text, 0) === 0xfeff ? p.slice(text, 1) : text;
        response.#body = { text: undefined, type: undefined, bytes: encoding.utf8Encode(text) };
      } else if (typeof result.body_base64 === 'string') {
        const bytes = encoding.base64ToBytes(result.body_base64);
        response.#body = { text: undefined, type: undefined, bytes: bytes ?? new p.Uint8Array(0) };
      }
      return response;
    }
  }
  const consumeResponse = Response.consume;
  const responseFrom = Response.fromResult;
  delete (/** @type {any} */ (Response).consume);
  delete (/** @type {any} */ (Response).fromResult);
  bodyMethods(Response.prototype, consumeResponse);
  kit.methods(Response.prototype, { [p.SymbolToStringTag]: 'Response' });

  // The net.http arguments for a request: headers as a record (combined per name, kernel-owned ones
  // dropped), the body as text when it was text, else base64.
  /** @type {(parts: ReturnType<typeof requestParts>) => Record<string, unknown>} */
  const toolArgs = (parts) => {
    /** @type {Record<string, string>} */
    const headers = p.create(null);
    const list = headerList(parts.headers);
    let count = 0;
    for (let i = 0; i < list.length; i++) {
      const pair = /** @type {[string, string]} */ (list[i]);
      if (includes(KERNEL_HEADERS, pair[0])) continue;
      const previous = p.getOwnPropertyDescriptor(headers, pair[0])?.value;
      if (previous === undefined) count++;
      p.defineProperty(
        headers,
        pair[0],
        kit.descriptor({
          value: previous === undefined ? pair[1] : `${previous}, ${pair[1]}`,
          enumerable: true,
          writable: true,
          configurable: true,
        }),
      );
    }
    /** @type {Record<string, unknown>} */
    const args = /** @type {any} */ ({ __proto__: null, url: parts.url, method: parts.method });
    if (count > 0) args.headers = headers;
    if (parts.body !== null) {
      if (parts.body.text !== undefined) args.body = parts.body.text;
      else args.body_base64 = encoding.base64Encode(parts.body.bytes);
    }
    return args;
  };

  const fetch = (/** @type {unknown[]} */ ...args) => {
    if (args.length === 0) return p.rejected(new p.TypeError('fetch requires at least 1 argument'));
    /** @type {ReturnType<typeof requestParts>} */
    let parts;
    /** @type {Record<string, unknown>} */
    let sent;
    try {
      const request =
        args.length === 1 && isRequest(args[0]) ? /** @type {Request} */ (args[0]) : new Request(args[0], args[1]);
      parts = requestParts(request);
      if (parts.redirect !== 'follow') {
        throw new p.TypeError(`redirect: '${parts.redirect}' is not supported (the kernel follows redirects itself)`);
      }
      if (parts.body !== null) consumeRequest(request);
      sent = toolArgs(parts);
    } catch (error) {
      return p.rejected(error);
    }
    const signal = parts.signal;
    const state = signal === undefined || signal === null ? undefined : events.signalState(signal);
    if (state?.aborted === true) return p.rejected(state.reason);
    const call = kit.call('tool', ['net.http', sent, null]);
    return new p.Promise((resolve, reject) => {
      let settled = false;
      const unsubscribe =
        state === undefined
          ? () => {}
          : events.onAbort(signal, () => {
              if (settled) return;
              settled = true;
              reject(events.signalState(signal)?.reason);
            });
      p.promiseThen(
        call,
        (/** @type {unknown} */ result) => {
          if (settled) return;
          settled = true;
          unsubscribe();
          try {
            resolve(responseFrom(result));
          } catch (error) {
            reject(error);
          }
        },
        (/** @type {unknown} */ error) => {
          if (settled) return;
          settled = true;
          unsubscribe();
          reject(error);
        },
      );
    });
  };
  /** @type {(value: unknown) => boolean} */
  const isRequest = (value) => {
    try {
      requestParts(/** @type {Request} */ (value));
      return true;
    } catch {
      return false;
    }
  };

  return { fetch, Headers, Request, Response };
});

/**
 * The built-in HTTP tool (`net.http`): one request on an agent's behalf, following redirects itself.
 *
 * Why it is built the way it is:
 * - The resource is the WHATWG-normalized URL (`normalizeUrl`), so capability patterns see the same string
 *   the request is sent to; only http and https are accepted and URLs with credentials are refused.
 * - Redirects are followed here, one hop at a time, never by undici: every hop is re-authorized
 *   (`ctx.reauthorize`) and audited like a fresh call, gets its own vault injection and no other, and loses
 *   the agent's Authorization and Cookie headers once it leaves the original origin.
 * - Connections go through `guardedConnector` (address-guard.ts): no private or local address is reached
 *   unless the host allowed it, whatever the URL says or DNS answers.
 * - A response over `maxResponseBytes` fails the call (E_TOOL_FAILED) instead of being truncated, so an
 *   agent never mistakes a partial document for a whole one.
 * - Vault secrets never appear in errors or in the reported URL: the `url` of a result is the authorized
 *   URL, without the injected query. Response header values (and Location) are read as UTF-8 when they are valid
 *   UTF-8, so the scrub and the redirect check see a non-ASCII secret a server echoes as the secret itself.
 */
import { Buffer } from 'node:buffer';
import { z } from 'zod';
import { decodeBase64 } from '../runtime/core/base64.js';
import { KernelError } from '../runtime/core/errors.js';
import { parseOptions } from '../runtime/core/options.js';
import { MAX_RESOURCE_LENGTH, normalizeUrl } from '../runtime/core/resource-match.js';
import { definePolicySection, type PolicySection } from '../runtime/policy/policy.js';
import { secretReadings } from '../runtime/tool-use/secret-scrub.js';
import { defineTool, type Injection, type Tool, type ToolContext } from '../runtime/tool-use/tool-contract.js';
import { linkedSignal } from './abort-link.js';
import {
  AddressBlockedError,
  AddressGuard,
  AddressLookupError,
  guardedConnector,
  MAX_SOCKET_READS,
  parseCidr,
  type Resolver,
  TooManyReadsError,
} from './address-guard.js';
import { loadUndici } from './undici.js';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

const MAX_HEADERS = 64;
const MAX_HEADER_NAME = 256;
const MAX_HEADER_VALUE = 8192;
/** Bounds the response headers the result can carry (undici refuses a larger header block). */
const MAX_RESPONSE_HEADER_BYTES = 16 * 1024;
const MAX_TIMEOUT_MS = 600_000;
const MAX_BODY_LIMIT = 1024 * 1024 * 1024;
const MAX_REDIRECT_LIMIT = 20;

const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/**
 * Requests one agent tree may have running at once (Tool.maxInFlight): each holds a socket, its own connection pool
 * and up to maxResponseBytes of body in the kernel until it ends.
 */
export const HTTP_MAX_IN_FLIGHT = 16;
const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;
/** What a call keeps in the kernel besides its bodies (see performRequest). */
const CALL_OVERHEAD_BYTES = 128 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_REDIRECTS = 5;

// RFC 9110 token; this also keeps CR, LF, NUL, spaces and colons out of names.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII, space and tab only: no CR/LF (header injection), no NUL, nothing undici would re-encode.
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
// Framing and routing headers belong to the kernel's HTTP client, not to the agent: letting the agent set them
// enables request smuggling, virtual-host confusion, or using a proxy's credentials.
const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'expect',
  'http2-settings',
  // The kernel asks for identity encoding: a compressed body would hide a reflected vault secret from the
  // scrub that runs on every result.
  'accept-encoding',
]);
// Headers by which proxies and frameworks route a request somewhere its URL does not say (IIS URL Rewrite,
// Symfony and Zend read X-Original-URL; Flask and Django recipes and gunicorn cut X-Script-Name or SCRIPT_NAME
// off the path) or as another method: the URL is what grants and label sources were matched on, and a request
// for `/public` served the inbox a source tags, unlabelled (red-team pass 145, review 147). `x-forwarded-*` is
// refused by its prefix, and a name with `_` altogether: CGI and WSGI gateways read `X_Original_URL` as
// X-Original-URL (nginx and Apache drop such names for the same reason). `proxy` is httpoxy's route into a CGI
// program's proxy setting.
const ROUTING_HEADERS: ReadonlySet<string> = new Set([
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-script-name',
  'x-envoy-original-path',
  'forwarded',
  'x-host',
  'proxy',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);
/** Credentials the agent sent for the origin it named; never carried to another origin. */
const ORIGIN_CREDENTIALS = ['authorization', 'cookie'] as const;
/** Headers that describe a request body; dropped with the body when a redirect turns the request into GET. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'] as const;
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Options of `createHttpTool`. */
export interface HttpOptions {
  /** CIDR blocks reachable although private or local, e.g. `['127.0.0.1/32']`. Default: none. */
  readonly allowPrivate?: readonly string[];
  /** Largest response body in bytes; a larger one fails the call. Default 10 MiB. */
  readonly maxResponseBytes?: number;
  /** Largest request body in bytes (after base64 decoding). Default 1 MiB. */
  readonly maxRequestBytes?: number;
  /** Whole-call deadline in milliseconds, covering every hop and the body. Default 30 000. */
  readonly timeoutMs?: number;
  /** Redirect hops followed; a redirect past the last one is returned as the result. Default 5; 0 follows none. */
  readonly maxRedirects?: number;
  /** Host-name resolver (tests, custom DNS). Default: the OS resolver. Every address it returns is checked. */
  readonly resolve?: Resolver;
}

/** The result of a `net.http` call, as the agent receives it. */
export interface HttpResult {
  readonly status: number;
  /** The final URL (after redirects), in normal form and without vault-injected query parameters. */
  readonly url: string;
  /** Response headers, lowercased; repeated headers joined with `, `; a value read as UTF-8 when valid, else Latin-1. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as text when it is valid UTF-8 (absent for a binary body). */
  readonly body?: string;
  /** The body in base64 when it is not valid UTF-8. */
  readonly body_base64?: string;
  /** How many redirect hops were followed. */
  readonly redirects: number;
}

/**
 * The policy-file form of the HTTP tool's options (snake_case). Strict: unknown keys are refused.
 * Convert with `httpOptionsFromConfig`.
 */
export const httpConfigSchema = z.strictObject({
  allow_private: z
    .array(z.string().refine((cidr) => parseCidr(cidr) !== undefined, 'expected a CIDR block such as 127.0.0.1/32'))
    .max(256)
    .optional(),
  max_response_bytes: z.number().int().min(1).max(MAX_BODY_LIMIT).optional(),
  max_request_bytes: z.number().int().min(1).max(MAX_BODY_LIMIT).optional(),
  timeout_ms: z.number().int().min(1).max(MAX_TIMEOUT_MS).optional(),
  max_redirects: z.number().int().min(0).max(MAX_REDIRECT_LIMIT).optional(),
});

export type HttpConfig = z.output<typeof httpConfigSchema>;

/** The policy's `tools.http` section, validated by `httpConfigSchema`. */
export const httpPolicySection: PolicySection<HttpConfig> = definePolicySection('http', httpConfigSchema);

/** Maps a validated policy-file config to `HttpOptions`. Never throws for a value `httpConfigSchema` accepted. */
export function httpOptionsFromConfig(config: HttpConfig): HttpOptions {
  return {
    ...(config.allow_private === undefined ? {} : { allowPrivate: config.allow_private }),
    ...(config.max_response_bytes === undefined ? {} : { maxResponseBytes: config.max_response_bytes }),
    ...(config.max_request_bytes === undefined ? {} : { maxRequestBytes: config.max_request_bytes }),
    ...(config.timeout_ms === undefined ? {} : { timeoutMs: config.timeout_ms }),
    ...(config.max_redirects === undefined ? {} : { maxRedirects: config.max_redirects }),
  };
}

/**
 * The resource a `net.http` call acts on: the normalized http(s) URL, or undefined for anything else
 * (other schemes, credentials in the URL, unparseable or unsafe paths). Never throws.
 */
export function httpResource(url: unknown): string | undefined {
  const normal = normalizeUrl(url);
  if (normal === undefined) return undefined;
  return normal.startsWith('http://') || normal.startsWith('https://') ? normal : undefined;
}

function inputSchema(maxRequestBytes: number) {
  return z
    .strictObject({
      url: z.string().min(1).max(MAX_RESOURCE_LENGTH),
      method: z.enum(HTTP_METHODS).optional(),
      headers: z.record(z.string(), z.string()).optional(),
      // A UTF-16 code unit is at least one UTF-8 byte, so this bound never refuses a body that fits.
      body: z.string().max(maxRequestBytes).optional(),
      body_base64: z
        .string()
        .max(Math.ceil(maxRequestBytes / 3) * 4)
        .refine((text) => decodeBase64(text) !== undefined, 'must be canonical padded base64')
        .optional(),
    })
    .superRefine((args, ctx) => {
      if (args.body !== undefined && args.body_base64 !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['body_base64'], message: 'give body or body_base64, not both' });
      }
      const method = args.method ?? 'GET';
      if ((method === 'GET' || method === 'HEAD') && (args.body !== undefined || args.body_base64 !== undefined)) {
        ctx.addIssue({ code: 'custom', path: ['body'], message: `a ${method} request cannot have a body` });
      }
      const problem = args.headers === undefined ? undefined : headersProblem(args.headers);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['headers'], message: problem });
    });
}

/** Why the agent's headers are refused, or undefined. Messages name the header, never its value. */
function headersProblem(headers: Readonly<Record<string, string>>): string | undefined {
  const names = Object.keys(headers);
  if (names.length > MAX_HEADERS) return `at most ${MAX_HEADERS} headers`;
  const seen = new Set<string>();
  for (const name of names) {
    if (name.length > MAX_HEADER_NAME || !HEADER_NAME.test(name)) return 'a header name is not a valid token';
    const lower = name.toLowerCase();
    if (FORBIDDEN_HEADERS.has(lower) || lower.startsWith('proxy-')) return `header "${lower}" is set by the kernel`;
    if (ROUTING_HEADERS.has(lower) || lower.startsWith('x-forwarded-') || lower.includes('_')) {
      return `header "${lower}" is refused: proxies and frameworks route requests by it`;
    }
    if (seen.has(lower)) return `header "${lower}" is given twice`;
    seen.add(lower);
    const value = headers[name] ?? '';
    if (value.length > MAX_HEADER_VALUE || !HEADER_VALUE.test(value)) {
      return `header "${lower}" has a value with control characters or non-ASCII text, or is too long`;
    }
  }
  return undefined;
}

interface Limits {
  readonly maxResponseBytes: number;
  readonly maxRequestBytes: number;
  readonly timeoutMs: number;
  readonly maxRedirects: number;
}

const limitOption = (min: number, max: number) =>
  z.int().min(min, `must be between ${min} and ${max}`).max(max, `must be between ${min} and ${max}`);
const httpOptionsSchema = z.strictObject({
  // The address guard checks each block and names the bad entry.
  allowPrivate: z.array(z.unknown(), 'must be an array of CIDR strings').optional(),
  maxResponseBytes: limitOption(1, MAX_BODY_LIMIT).optional(),
  maxRequestBytes: limitOption(1, MAX_BODY_LIMIT).optional(),
  timeoutMs: limitOption(1, MAX_TIMEOUT_MS).optional(),
  maxRedirects: limitOption(0, MAX_REDIRECT_LIMIT).optional(),
  resolve: z.custom<Resolver>((value) => typeof value === 'function', 'must be a function').optional(),
});

/**
 * Creates the `net.http` tool. Results carry the `web` label. Throws TypeError (wrong type) or RangeError
 * (out of bounds) naming the option when `options` is invalid, including a bad `allowPrivate` CIDR.
 *
 * A call throws KernelError:
 * - E_BAD_ARG: request body over `maxRequestBytes` (schema and URL refusals are E_BAD_ARG from the kernel);
 * - E_CAP_DENIED: the host (or a redirect hop's host) is or resolves to a private or local address, or
 *   `ctx.reauthorize` refused a hop (its own code passes through);
 * - E_TOOL_FAILED: DNS failure, connection failure, timeout, abort, response over `maxResponseBytes`, or a
 *   redirect to an unusable URL or one carrying this hop's injected secrets, or a response to a hop carrying vault
 *   secrets under a content or transfer coding the scrub cannot read. Messages are fixed strings.
 */
export function createHttpTool(given: HttpOptions = {}): Tool {
  const options = parseOptions(httpOptionsSchema, given, 'createHttpTool: options');
  const limits: Limits = {
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxRedirects: options.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
  };
  const guard = new AddressGuard({
    ...(options.allowPrivate === undefined ? {} : { allowPrivate: options.allowPrivate as readonly string[] }),
    ...(options.resolve === undefined ? {} : { resolve: options.resolve }),
  });
  return defineTool({
    name: 'net.http',
    description: 'Make an HTTP(S) request. Redirects are followed and each hop is authorized.',
    input: inputSchema(limits.maxRequestBytes),
    target: 'url',
    defaults: { method: 'GET' },
    // Every argument can carry data off the machine (the URL's path and query, a header, body or body_base64),
    // so `secret` may reach none of them; a policy adds tags of its own with `labels.sinks`.
    labels: { source: ['web'], sinks: { '*': ['secret'] } },
    maxInFlight: HTTP_MAX_IN_FLIGHT,
    resource: (args) => httpResource(args.url),
    run: (args, ctx) => performRequest(args, ctx, guard, limits),
  });
}

type HttpArgs = z.output<ReturnType<typeof inputSchema>>;

async function performRequest(
  args: HttpArgs,
  ctx: ToolContext,
  guard: AddressGuard,
  limits: Limits,
): Promise<HttpResult> {
  const first = httpResource(args.url);
  if (first === undefined) throw new KernelError('E_BAD_ARG', 'net.http: the URL must be an http or https URL');
  let body = requestBody(args);
  if (body !== undefined && body.length > limits.maxRequestBytes) {
    throw new KernelError('E_BAD_ARG', `net.http: request body exceeds ${limits.maxRequestBytes} bytes`);
  }
  // What the call keeps in the kernel until it ends (its request body, the response body as it arrives) is the
  // agent's memory: a server that sends 9 MB and stalls held it, uncharged, for the whole timeout.
  // A call also keeps undici's per-connection state (an Agent, a parser, a socket): about 80-110 KB of heap measured
  // (review 131), held as a flat amount.
  const releases = [ctx.hold((body?.length ?? 0) + CALL_OVERHEAD_BYTES)];
  const timer = AbortSignal.timeout(limits.timeoutMs);
  // Through a per-call link: Node 20's AbortSignal.any keeps each combined signal in its parents' dependant sets
  // until they abort, so composing the agent's (or the host's, for kernel.submit) own signal kept about 100 bytes a
  // call for that signal's whole life (review 92).
  const link = linkedSignal(ctx.signal);
  releases.push(link.release);
  const signal = AbortSignal.any([link.signal, timer]);
  // One agent (connection pool) per call: no connection, and no DNS answer, outlives the call or is shared
  // with another agent's calls.
  const { Agent, request } = await loadUndici();
  const dispatcher = new Agent({
    connect: await guardedConnector(guard, {
      timeoutMs: limits.timeoutMs,
      signal,
      meter: ctx.metered,
      owner: ctx.tenant ?? ctx.agent,
      // The request goes out on this connection: from here the server may carry it out whatever else happens (the
      // agent ending, a hop refused, a body past memory_mb), and the outcome record says so (review 152).
      onConnected: () => ctx.tookEffect(),
    }),
    maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
    headersTimeout: limits.timeoutMs,
    bodyTimeout: limits.timeoutMs,
  });
  let url = first;
  let method: HttpMethod = args.method ?? 'GET';
  const headers = new Map(Object.entries(args.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
  let injection: Injection = ctx.inject;
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await request(withQuery(url, injection.query), {
        method,
        headers: mergeHeaders(headers, injection.headers),
        ...(body === undefined ? {} : { body }),
        signal,
        dispatcher,
      });
      const location = REDIRECT_STATUSES.has(response.statusCode) ? response.headers['location'] : undefined;
      if (location === undefined || redirects >= limits.maxRedirects) {
        if (hasSecrets(injection) && !identityEncoded(response.headers['content-encoding'])) {
          discard(response.body);
          throw new KernelError('E_TOOL_FAILED', 'net.http: an encoded response to a request carrying vault secrets');
        }
        if (hasSecrets(injection) && !chunkedOnly(response.headers['transfer-encoding'])) {
          discard(response.body);
          throw new KernelError(
            'E_TOOL_FAILED',
            'net.http: a transfer-encoded response to a request carrying vault secrets',
          );
        }
        const bytes =
          method === 'HEAD'
            ? discard(response.body)
            : await readBody(response, limits.maxResponseBytes, ctx, (release) => releases.push(release));
        // Decoding a body of up to maxResponseBytes is the call's own heavy work after its first await.
        return ctx.metered(() => result(response.statusCode, url, response.headers, bytes, redirects));
      }
      discard(response.body);
      const next = redirectTarget(url, location, injection);
      // Throws KernelError when the hop is not allowed; that refusal is the agent's answer.
      injection = ctx.reauthorize(next);
      if (
        response.statusCode === 303 ||
        ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')
      ) {
        if (method !== 'HEAD') method = 'GET';
        body = undefined;
        for (const name of BODY_HEADERS) headers.delete(name);
      }
      if (new URL(next).origin !== new URL(url).origin) {
        for (const name of ORIGIN_CREDENTIALS) headers.delete(name);
      }
      url = next;
    }
  } catch (error) {
    throw failure(error, url, timer, ctx.signal);
  } finally {
    for (const release of releases) release();
    await dispatcher.destroy().catch(() => undefined);
  }
}

function requestBody(args: HttpArgs): Buffer | undefined {
  if (args.body !== undefined) return Buffer.from(args.body, 'utf8');
  if (args.body_base64 !== undefined) {
    // The input schema accepted only canonical base64, so this decodes.
    const bytes = decodeBase64(args.body_base64) ?? new Uint8Array();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return undefined;
}

/** The URL actually sent: the authorized URL plus this hop's injected query parameters. */
function withQuery(url: string, query: Injection['query']): string {
  const entries = Object.entries(query);
  if (entries.length === 0) return url;
  const target = new URL(url);
  for (const [name, value] of entries) target.searchParams.set(name, value);
  return target.href;
}

function hasSecrets(injection: Injection): boolean {
  return Object.keys(injection.headers).length > 0 || Object.keys(injection.query).length > 0;
}

// A body the scrub can read: no content-encoding, or `identity`.
function identityEncoded(encoding: string | string[] | undefined): boolean {
  if (encoding === undefined) return true;
  const values = (Array.isArray(encoding) ? encoding : [encoding]).flatMap((value) => value.split(','));
  return values.every((value) => value.trim().toLowerCase() === 'identity' || value.trim() === '');
}

// A body the scrub can read: undici undoes only the `chunked` transfer coding and leaves any other (`gzip, chunked`)
// in the body, where a compressed echo of an injected secret would reach the agent unscrubbed (red-team pass 127).
function chunkedOnly(coding: string | string[] | undefined): boolean {
  if (coding === undefined) return true;
  const values = (Array.isArray(coding) ? coding : [coding]).flatMap((value) => value.split(','));
  return values.every((value) => value.trim().toLowerCase() === 'chunked' || value.trim() === '');
}

/**
 * A response header value as the server's bytes read in UTF-8 when they are valid UTF-8, else as undici gave it.
 * undici reads header bytes as Latin-1, so a server echoing a non-ASCII secret raw in UTF-8 produced mojibake
 * (`Ã©` for `é`) that neither the scrub nor the redirect check matched (red-team pass 127).
 */
function headerText(value: string): string {
  // ASCII reads the same either way. undici's Latin-1 strings have no code point above 0xff, so the bytes are exact.
  if (!/[\x80-\xff]/.test(value)) return value;
  return utf8(Buffer.from(value, 'latin1')) ?? value;
}

/** The agent's headers with this hop's injected headers overriding same-named ones (case-insensitively). */
function mergeHeaders(agent: ReadonlyMap<string, string>, injected: Injection['headers']): Record<string, string> {
  const merged = new Map(agent);
  for (const [name, value] of Object.entries(injected)) merged.set(name.toLowerCase(), value);
  merged.set('accept-encoding', 'identity');
  return Object.fromEntries(merged);
}

/**
 * The next hop's URL in normal form. The injected query parameters of this hop are removed (servers echo the
 * query into Location, and the next hop gets its own injection); a Location that still carries one of this
 * hop's injected values is refused, so a secret never reaches another hop or the audit log.
 */
function redirectTarget(current: string, location: string | string[], injection: Injection): string {
  if (typeof location !== 'string') throw new KernelError('E_TOOL_FAILED', 'net.http: redirect has several locations');
  let next: URL;
  try {
    next = new URL(headerText(location), current);
  } catch {
    throw new KernelError('E_TOOL_FAILED', 'net.http: redirect to an invalid URL');
  }
  for (const [name, value] of Object.entries(injection.query)) {
    if (next.searchParams.getAll(name).includes(value)) next.searchParams.delete(name, value);
  }
  const normal = httpResource(next.href);
  if (normal === undefined)
    throw new KernelError('E_TOOL_FAILED', 'net.http: redirect to a URL that is not a valid http(s) URL');
  if (carriesSecret(normal, injection)) {
    throw new KernelError('E_TOOL_FAILED', 'net.http: redirect location carries an injected secret');
  }
  return normal;
}

function carriesSecret(url: string, injection: Injection): boolean {
  // A header value is often a scheme and a token (`Bearer abc…`); a server may echo only the token.
  const tokens = Object.values(injection.headers).flatMap((value) => value.split(/\s+/).filter((t) => t.length >= 8));
  const values = [...Object.values(injection.query), ...Object.values(injection.headers), ...tokens].filter(
    (v) => v !== '',
  );
  return values.some((value) =>
    secretReadings(value).some((reading) => {
      const forms = [reading, encodeURIComponent(reading), new URLSearchParams({ v: reading }).toString().slice(2)];
      return forms.some((form) => url.includes(form));
    }),
  );
}

interface UndiciResponse {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: UndiciBody;
}

interface UndiciBody {
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  destroy(): unknown;
}

/**
 * Drops a body nobody will read. undici's body stream emits an abort error when destroyed before its end;
 * without a listener that error is uncaught and would take the whole kernel down.
 */
function discard(body: UndiciBody): Buffer {
  body.on('error', () => undefined);
  body.destroy();
  return Buffer.alloc(0);
}

/** The first capacity of a body's buffer; it doubles from there, up to the response limit. */
const FIRST_BODY_CAPACITY = 64 * 1024;

/**
 * Reads the whole body into one buffer that doubles as it fills, its capacity held against the caller's memory as
 * it grows (`kept` is given each release). Kept as undici hands them, chunks are slices of the socket's reads and
 * keep those alive: a server dripping 1-byte chunks made the kernel keep 24.9 MB for 680 KB of body, 0.74 MB of it
 * charged, with a hold (and its release) per chunk (red-team pass 127). The copies run inside the socket's reads,
 * which `meterReads` charges to the caller.
 */
async function readBody(
  response: UndiciResponse,
  limit: number,
  ctx: ToolContext,
  kept: (release: () => void) => void,
): Promise<Buffer> {
  const tooLarge = () => new KernelError('E_TOOL_FAILED', `net.http: response exceeds ${limit} bytes`);
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    discard(response.body);
    throw tooLarge();
  }
  let body = Buffer.alloc(0);
  let releaseBody = () => {};
  let size = 0;
  const append = (chunk: Buffer): void => {
    if (size + chunk.length > limit) throw tooLarge();
    if (size + chunk.length > body.length) {
      const capacity = Math.min(limit, Math.max(FIRST_BODY_CAPACITY, body.length * 2, size + chunk.length));
      // Both buffers are held while the copy is made; then only the new one (a release runs once, however called).
      const releaseGrown = ctx.hold(capacity);
      kept(releaseGrown);
      // Zeroed: only `size` bytes leave this function today, but a later change that exposed the buffer's spare
      // capacity (or its ArrayBuffer) must not hand an agent old host memory.
      const grown = Buffer.alloc(capacity);
      body.copy(grown, 0, 0, size);
      body = grown;
      releaseBody();
      releaseBody = releaseGrown;
    }
    chunk.copy(body, size);
    size += chunk.length;
  };
  // In flowing mode each chunk comes synchronously from undici's parse, which runs metered (guardedConnector's
  // meter); an async iterator took a promise and a turn of its own for every chunk, uncharged.
  await new Promise<void>((resolve, reject) => {
    response.body.on('data', (chunk: Buffer) => {
      try {
        append(chunk);
      } catch (error) {
        discard(response.body);
        reject(error);
      }
    });
    response.body.on('end', () => resolve());
    response.body.on('error', reject);
  });
  return body.subarray(0, size);
}

function result(
  status: number,
  url: string,
  raw: Readonly<Record<string, string | string[] | undefined>>,
  bytes: Buffer,
  redirects: number,
): HttpResult {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const text = Array.isArray(value) ? value.map(headerText).join(', ') : headerText(value);
    const previous = headers.get(key);
    headers.set(key, previous === undefined ? text : `${previous}, ${text}`);
  }
  const text = utf8(bytes);
  return {
    status,
    url,
    headers: Object.fromEntries(headers),
    ...(text === undefined ? { body_base64: bytes.toString('base64') } : { body: text }),
    redirects,
  };
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8(bytes: Buffer): string | undefined {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Maps whatever a request threw to a KernelError with a fixed message (never undici's or the resolver's). */
function failure(error: unknown, url: string, timer: AbortSignal, agentSignal: AbortSignal): KernelError {
  if (error instanceof KernelError) return error;
  if (hasCause(error, AddressBlockedError)) {
    return new KernelError('E_CAP_DENIED', `net.http: ${new URL(url).hostname} resolves to a private or local address`);
  }
  if (timer.aborted) return new KernelError('E_TOOL_FAILED', 'net.http: request timed out');
  if (agentSignal.aborted) return new KernelError('E_TOOL_FAILED', 'net.http: request aborted');
  if (hasCause(error, AddressLookupError))
    return new KernelError('E_TOOL_FAILED', 'net.http: the host could not be resolved');
  if (hasCause(error, TooManyReadsError)) {
    return new KernelError('E_TOOL_FAILED', `net.http: the response arrived in more than ${MAX_SOCKET_READS} reads`);
  }
  return new KernelError('E_TOOL_FAILED', 'net.http: connection failed');
}

function hasCause(error: unknown, type: new () => Error): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8; depth++) {
    if (current instanceof type) return true;
    if (!(current instanceof Error)) return false;
    current = current.cause;
  }
  return false;
}

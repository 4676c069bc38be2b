import { isActionPattern, matchAction, matchResource, resourcePatternError } from '../core/resource-match.js';
import type { Injection } from './tool-contract.js';

/** How a secret enters a request: as a header, a query parameter, or `Authorization: Bearer <secret>`. */
export type VaultInject = { readonly header: string } | { readonly query: string } | { readonly bearer: true };

export interface VaultBinding {
  /** Action pattern the secret is for, e.g. `net.http`. */
  readonly action: string;
  /** Resource pattern, e.g. `https://api.example.com/**`. */
  readonly resource: string;
}

export interface VaultEntryOptions {
  readonly bind: VaultBinding;
  readonly inject: VaultInject;
}

/** What the vault shows of an entry: never the secret. */
export interface VaultEntrySummary {
  readonly ref: string;
  readonly bind: VaultBinding;
  readonly inject: VaultInject;
}

interface Entry extends VaultEntrySummary {
  readonly secret: string;
}

const REF = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
// RFC 9110 token characters: a header name that could smuggle a second header is impossible.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const QUERY_NAME = /^[A-Za-z0-9_.~-]{1,128}$/;
const MAX_SECRET = 16 * 1024;

export const EMPTY_INJECTION: Injection = Object.freeze({ headers: Object.freeze({}), query: Object.freeze({}) });

/**
 * Credentials the kernel injects host-side into tool calls that match their binding (ISSUE 6). Agents never
 * see a secret: the kernel only hands it to the tool for a call it has authorized, records the ref (never
 * the value) in the audit log, and scrubs the value out of results and error messages.
 */
export class Vault {
  readonly #entries = new Map<string, Entry>();

  /**
   * Stores `secret` under `ref`, replacing an entry with that ref. Throws TypeError naming the argument for
   * a malformed ref, binding or injection, and for a secret that is empty, too long, or (for a header or
   * bearer injection) contains CR, LF or NUL, which could split a request.
   */
  set(ref: string, secret: string, options: VaultEntryOptions): void {
    if (typeof ref !== 'string' || !REF.test(ref)) throw new TypeError('ref must be an identifier such as "github"');
    if (typeof secret !== 'string' || secret === '' || secret.length > MAX_SECRET) {
      throw new TypeError(`secret must be a non-empty string of at most ${MAX_SECRET} characters`);
    }
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const { bind, inject } = options;
    if (bind === null || typeof bind !== 'object' || !isActionPattern(bind.action)) {
      throw new TypeError('options.bind.action must be an action pattern such as "net.http"');
    }
    const resourceError = resourcePatternError(bind.resource);
    if (resourceError !== undefined) throw new TypeError(`options.bind.resource: ${resourceError}`);
    const injectCopy = checkInject(inject, secret);
    this.#entries.set(ref, {
      ref,
      secret,
      bind: Object.freeze({ action: bind.action, resource: bind.resource }),
      inject: injectCopy,
    });
  }

  /** Removes an entry; true when it existed. */
  delete(ref: string): boolean {
    return this.#entries.delete(ref);
  }

  /** Every entry without its secret. */
  list(): VaultEntrySummary[] {
    return [...this.#entries.values()].map(({ ref, bind, inject }) => ({ ref, bind, inject }));
  }

  /** True when no entry is stored (the hot path skips matching). */
  get empty(): boolean {
    return this.#entries.size === 0;
  }

  /**
   * The secrets bound to a call of `action` on `resource`, and their refs for the audit log. The caller must
   * already have authorized the call: binding alone grants nothing.
   */
  match(action: string, resource: string): { injection: Injection; refs: string[] } {
    if (this.#entries.size === 0) return { injection: EMPTY_INJECTION, refs: [] };
    const headers: Record<string, string> = {};
    const query: Record<string, string> = {};
    const refs: string[] = [];
    for (const entry of this.#entries.values()) {
      if (!matchAction(entry.bind.action, action) || !matchResource(entry.bind.resource, resource)) continue;
      refs.push(entry.ref);
      const inject = entry.inject;
      if ('header' in inject) headers[inject.header.toLowerCase()] = entry.secret;
      else if ('query' in inject) query[inject.query] = entry.secret;
      else headers.authorization = `Bearer ${entry.secret}`;
    }
    if (refs.length === 0) return { injection: EMPTY_INJECTION, refs };
    return { injection: Object.freeze({ headers: Object.freeze(headers), query: Object.freeze(query) }), refs };
  }

  /**
   * True when `text` (a URL a tool is about to use) carries a stored secret: in a form `redact` replaces, or
   * percent-encoded in any way (a URL parser re-encodes what a server reflected into a Location).
   */
  carries(text: string): boolean {
    if (this.#entries.size === 0) return false;
    if (this.redact(text) !== text) return true;
    const decoded = [percentDecode(text), percentDecode(text.replaceAll('+', ' '))];
    return [...this.#entries.values()].some((entry) => decoded.some((form) => form.includes(entry.secret)));
  }

  /**
   * Replaces every stored secret inside `value` (strings, object keys and values, at any depth) by
   * `[vault:<ref>]`. Used on tool results and error messages before an agent or the log sees them.
   */
  redact<T>(value: T): T {
    if (this.#entries.size === 0) return value;
    // Longest first: a secret that contains another must not be left half-replaced around the shorter one.
    const entries = [...this.#entries.values()].sort((a, b) => b.secret.length - a.secret.length);
    return redactValue(value, entries.flatMap(secretForms)) as T;
  }
}

function checkInject(inject: unknown, secret: string): VaultInject {
  if (inject === null || typeof inject !== 'object') throw new TypeError('options.inject must be an object');
  const keys = Object.keys(inject);
  if (keys.length !== 1) throw new TypeError('options.inject must have exactly one of header, query, bearer');
  const record = inject as Record<string, unknown>;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: CR, LF and NUL are exactly what is refused.
  const splitsRequest = /[\r\n\u0000]/.test(secret);
  if (typeof record.header === 'string') {
    if (!HEADER_NAME.test(record.header)) throw new TypeError('options.inject.header must be a header name');
    if (splitsRequest) throw new TypeError('secret must not contain CR, LF or NUL for header injection');
    return Object.freeze({ header: record.header });
  }
  if (typeof record.query === 'string') {
    if (!QUERY_NAME.test(record.query)) throw new TypeError('options.inject.query must be a query parameter name');
    return Object.freeze({ query: record.query });
  }
  if (record.bearer === true) {
    if (splitsRequest) throw new TypeError('secret must not contain CR, LF or NUL for bearer injection');
    return Object.freeze({ bearer: true as const });
  }
  throw new TypeError('options.inject must be { header }, { query } or { bearer: true }');
}

/** A form a secret may be reflected in, and what replaces it. */
type SecretForm = readonly [form: string, replacement: string];

function secretForms(entry: Entry): SecretForm[] {
  const replacement = `[vault:${entry.ref}]`;
  // A secret reflected URL-encoded (as encodeURIComponent, or form-encoded as the query was sent) or
  // JSON-escaped (a header dump) is still the secret; so is any of those in base64 (a binary body reaches
  // the agent as base64), at any of the three byte alignments it can have inside a longer text.
  const texts = [
    ...new Set([
      entry.secret,
      encodeURIComponent(entry.secret),
      new URLSearchParams({ v: entry.secret }).toString().slice(2),
      JSON.stringify(entry.secret).slice(1, -1),
    ]),
  ];
  const base64 = texts.flatMap((text) => {
    const bytes = Buffer.from(text);
    const forms = [bytes.toString('base64')];
    for (let skip = 0; skip < 3; skip++) {
      // The whole 3-byte groups after `skip` bytes encode to the same characters wherever the text sits.
      const whole = Math.floor((bytes.length - skip) / 3) * 3;
      if (whole >= 6) forms.push(bytes.subarray(skip, skip + whole).toString('base64'));
    }
    return forms.filter((form) => form.length >= 8);
  });
  return [...new Set([...texts, ...base64])].map((form) => [form, replacement] as const);
}

/** Decodes every run of %XX escapes as UTF-8 and leaves anything else as it is. Never throws. */
function percentDecode(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'));
}

function redactString(text: string, forms: readonly SecretForm[]): string {
  let out = text;
  for (const [form, replacement] of forms) if (out.includes(form)) out = out.split(form).join(replacement);
  return out;
}

function redactValue(value: unknown, forms: readonly SecretForm[]): unknown {
  if (typeof value === 'string') return redactString(value, forms);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, forms));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[redactString(key, forms)] = redactValue(item, forms);
  return out;
}

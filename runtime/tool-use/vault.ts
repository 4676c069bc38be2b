import {
  hasLoneSurrogate,
  isActionPattern,
  matchAction,
  matchResource,
  resourcePatternError,
} from '../core/resource-match.js';
import { EMPTY_LABEL, type Label, makeLabel, SECRET_TAG } from '../labels/label.js';
import {
  type ScrubTarget,
  type Slicing,
  scrubTarget,
  scrubValue,
  scrubValueSliced,
  shortestNeedle,
  spelledIn,
  viewsOf,
} from './secret-scrub.js';
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
  /** What the scrub looks for and replaces it by, made once. */
  readonly target: ScrubTarget;
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
  /** `shortestNeedle` of the entries' targets, kept with them: `carried` runs for every string of every call. */
  #shortest = Number.POSITIVE_INFINITY;

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
    // A marker that shows a secret would be found again in what the scrub wrote, and carry it (red-team pass 107).
    if (hasLoneSurrogate(secret)) throw new TypeError('secret must not hold a lone surrogate');
    for (const [other, entry] of [...this.#entries, [ref, undefined] as const]) {
      if (`[vault:${other}]`.includes(secret)) throw new TypeError('secret must not occur in a marker "[vault:<ref>]"');
      if (other !== ref && entry !== undefined && `[vault:${ref}]`.includes(entry.secret)) {
        throw new TypeError("ref's marker must not hold another entry's secret");
      }
    }
    this.#entries.set(ref, {
      ref,
      secret,
      bind: Object.freeze({ action: bind.action, resource: bind.resource }),
      inject: injectCopy,
      target: scrubTarget(secret, `[vault:${ref}]`),
    });
    this.#shortest = shortestNeedle(this.#targets());
  }

  /** Removes an entry; true when it existed. */
  delete(ref: string): boolean {
    const deleted = this.#entries.delete(ref);
    this.#shortest = shortestNeedle(this.#targets());
    return deleted;
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
   * True when `text` (a URL a tool is about to use) carries a stored secret: in a form `redact` replaces, or in
   * any spelling `echoViews` undoes (a URL parser re-encodes what a server reflected into a Location).
   */
  carries(text: string): boolean {
    return this.carried(text).length > 0;
  }

  /** The refs of the secrets `text` carries, as `carries` decides. */
  carried(text: string): string[] {
    if (this.#entries.size === 0 || text.length < this.#shortest) return [];
    const views = viewsOf(text);
    return [...this.#entries.values()].filter((entry) => spelledIn(views, entry.target)).map((entry) => entry.ref);
  }

  /**
   * `VAULT_LABEL` when `resource` carries a stored secret, else empty: the label to describe an attempt with, so
   * that its audit records keep a digest of the resource instead of a guess that matched.
   */
  resourceLabel(resource: string | null): Label {
    return resource !== null && this.carries(resource) ? VAULT_LABEL : EMPTY_LABEL;
  }

  /**
   * True when some string in `value` (object keys included, at any depth) `carries` a stored secret. Every string
   * is searched, even after one carried a secret: stopping there made a right guess placed before padding come
   * back sooner than a wrong one (review 112 read a dictionary password that way).
   */
  carriedIn(value: unknown): boolean {
    if (this.#entries.size === 0) return false;
    const stack: unknown[] = [value];
    // Substituted handles repeat one string many times: each is decoded and searched once.
    const seen = new Set<string>();
    let carried = false;
    while (stack.length > 0) {
      const item = stack.pop();
      if (typeof item === 'string') {
        if (seen.has(item)) continue;
        seen.add(item);
        if (this.carries(item)) carried = true;
      } else if (Array.isArray(item)) {
        for (const inner of item) stack.push(inner);
      } else if (item !== null && typeof item === 'object') {
        for (const [key, inner] of Object.entries(item)) stack.push(key, inner);
      }
    }
    return carried;
  }

  /**
   * Replaces every stored secret inside `value` (strings, object keys and values, at any depth) by
   * `[vault:<ref>]`. Used on tool results and error messages before an agent or the log sees them.
   */
  redact<T>(value: T): T {
    return this.scrub(value).value;
  }

  /**
   * `scrub` for a tool call's result, searched in metered slices, each after a turn of the event loop
   * (`scrubValueSliced`), whenever the vault holds a secret; at once when it is empty. Undefined when
   * `slicing.stopped()` turned true.
   */
  scrubSliced<T>(value: T, slicing: Slicing): VaultScrubbed<T> | Promise<VaultScrubbed<T> | undefined> {
    if (this.#entries.size === 0) return { value, label: EMPTY_LABEL };
    return scrubValueSliced(value, this.#targets(), slicing).then((done) =>
      done === undefined ? undefined : { value: done.value, label: done.found ? VAULT_LABEL : EMPTY_LABEL },
    );
  }

  #targets(): ScrubTarget[] {
    return [...this.#entries.values()].map((entry) => entry.target);
  }

  /**
   * `redact`, and the label that adds: `VAULT_LABEL` when it replaced anything, else empty. A replacement is an
   * observation of a secret: an agent that sends its own guesses through a tool that hands them back (an
   * echo, a file it writes and reads back) sees which guess was replaced (red-team pass 46 read a 4-digit PIN
   * and a dictionary password back in clear, unlabelled, in two calls). Even a server reflecting the secret
   * the call itself injected taints: pass 47 showed that exempting it let any bound endpoint that reflects a
   * decoded field, a header name or a redirect target carry the agent's guesses past the exemption.
   */
  scrub<T>(value: T): VaultScrubbed<T> {
    if (this.#entries.size === 0) return { value, label: EMPTY_LABEL };
    const scrubbed = scrubValue(value, this.#targets());
    return { value: scrubbed.value, label: scrubbed.found ? VAULT_LABEL : EMPTY_LABEL };
  }
}

/** A value with vault secrets scrubbed, and the label that adds (`VAULT_LABEL` when anything was replaced). */
export interface VaultScrubbed<T> {
  readonly value: T;
  readonly label: Label;
}

/** The tag of anything a vault secret was observed in: the label a secret's own data would have. */
export const VAULT_TAG = SECRET_TAG;
/** `VAULT_TAG` as a label. */
export const VAULT_LABEL: Label = makeLabel([VAULT_TAG]);

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

/**
 * Replacing a secret wherever a result spells it. A secret comes back in a form known in advance (URL- or
 * form-encoded, JSON-escaped, base64 or base64url at any alignment), or in any of those with one more layer of
 * escaping, or spelled in a way only a decoder finds (PHP's `\/`, Go's `\u0026`, an HTML reference, lower-case
 * escapes, two layers of them: `echo-spellings.ts`). Every spelling of every secret in a string is found first and
 * replaced in one pass, so a shorter secret's replacement never cuts a longer one's spelling in two (red-team pass
 * 106), and only the escapes that spell a secret are replaced. Used by the vault and by the model tool for its key.
 */

import { hasLoneSurrogate } from '../core/resource-match.js';
import {
  type EchoView,
  echoViews,
  locate,
  mergeSpans,
  replaceSpans,
  type Spelling,
  spacesAsPlus,
} from './echo-spellings.js';

/** One secret: what to look for, and what replaces it. */
export interface ScrubTarget {
  readonly secret: string;
  readonly replacement: string;
  /** Searched in a text and in its views of one step: every known form (`secretForms`), spaces as `+` too. */
  readonly forms: readonly string[];
  /** Searched in views of two steps as well: the secret, and its spaces as `+`. */
  readonly core: readonly string[];
  /** The length of the shortest needle: a shorter text holds none. */
  readonly shortest: number;
}

/**
 * The target for `secret`, replaced by `replacement`. Throws TypeError when the replacement shows the secret (a
 * secret inside its own marker would be found again in what replaced it).
 */
export function scrubTarget(secret: string, replacement: string): ScrubTarget {
  if (replacement.includes(secret)) throw new TypeError('the secret must not occur in its replacement');
  if (hasLoneSurrogate(secret)) throw new TypeError('the secret must not hold a lone surrogate');
  const core = [secret, spacesAsPlus(secret)].filter((text) => text !== undefined);
  const forms = [...new Set([...secretForms(secret), ...core])];
  return { secret, replacement, forms, core, shortest: Math.min(...forms.map((form) => form.length)) };
}

/** A text and its decoded views, each with the steps that made it. */
export type Views = readonly EchoView[];

/** `text` itself, then every view `echoViews` makes of it. */
export function viewsOf(text: string): Views {
  return [{ view: text, spelling: [], chain: [text] }, ...echoViews(text)];
}

/** What of `target` to search a view made by `spelling` for. */
function searchedIn(target: ScrubTarget, spelling: Spelling): readonly string[] {
  return spelling.length < 2 ? target.forms : target.core;
}

/** True when one of `views` (`viewsOf` a text) spells `target`'s secret. */
export function spelledIn(views: Views, target: ScrubTarget): boolean {
  return views.some(({ view, spelling }) => searchedIn(target, spelling).some((needle) => view.includes(needle)));
}

/** A scrubbed value, and whether anything in it was replaced. */
export interface Scrubbed<T> {
  readonly value: T;
  readonly found: boolean;
}

/**
 * `value` with every target's secret replaced, in strings, object keys and values at any depth, and whether
 * anything was. `value` itself is not changed.
 */
export function scrubValue<T>(value: T, targets: readonly ScrubTarget[]): Scrubbed<T> {
  if (targets.length === 0) return { value, found: false };
  const scrub = newScrub(targets);
  const out = scrubUnknown(value, scrub) as T;
  return { value: out, found: scrub.found };
}

/** Runs `call` and charges its time to whoever the work is for (AgentSession.metered). */
export type Meter = <R>(call: () => R) => R;

/** How sliced work runs: each slice inside `meter`; it stops between slices once `stopped` says so. */
export interface Slicing {
  readonly meter: Meter;
  readonly stopped: () => boolean;
}

// Work on one value in one turn of the event loop, at most (about: a single string is never cut).
const SLICE_MS = 8;

/**
 * `scrubValue`, with the event loop free every few milliseconds: an agent chooses what an echoing tool returns, and
 * one megabyte of distinct short strings of escapes held every tenant's calls for a third of a second or more
 * (red-team passes 109 and 110). Always a promise, even for a small value: when a value went async only past a
 * size, a clean agent read the size of a labelled handle it echoed, and which guess repeated one of its strings,
 * from whether its next call came back first (red-team pass 111: a PIN in 122 guesses). Gives undefined when
 * `slicing.stopped()` turned true between two slices.
 */
export async function scrubValueSliced<T>(
  value: T,
  targets: readonly ScrubTarget[],
  slicing: Slicing,
): Promise<Scrubbed<T> | undefined> {
  const scrub = newScrub(targets);
  const each = (text: string): void => void scrubText(text, scrub);
  if (!(await inSlices(stringsOf(value, scrub.shortest), each, slicing))) return undefined;
  return slicing.meter(() => ({ value: scrubUnknown(value, scrub) as T, found: scrub.found }));
}

/** The distinct strings of `value` (object keys included) at least `shortest` long. */
function stringsOf(value: unknown, shortest: number): string[] {
  const seen = new Set<string>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (item.length >= shortest) seen.add(item);
    } else if (Array.isArray(item)) {
      for (const inner of item) stack.push(inner);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, inner] of Object.entries(item)) stack.push(key, inner);
    }
  }
  return [...seen];
}

/**
 * Calls `each` on every string in slices of SLICE_MS inside `slicing.meter`, each after a turn of the event loop;
 * false when `slicing.stopped()` turned true first. Never stops early otherwise: how many slices a value takes must
 * not depend on what was found in it.
 */
async function inSlices(strings: readonly string[], each: (text: string) => void, slicing: Slicing): Promise<boolean> {
  let next = 0;
  const slice = (): void => {
    const until = performance.now() + SLICE_MS;
    while (next < strings.length) {
      each(strings[next++] ?? '');
      if (performance.now() >= until) return;
    }
  };
  do {
    await new Promise((resolve) => setImmediate(resolve));
    if (slicing.stopped()) return false;
    slicing.meter(slice);
  } while (next < strings.length);
  return true;
}

/** A scrub's state: its targets longest first (where two secrets' spellings overlap, the longer one's replacement covers both). */
function newScrub(targets: readonly ScrubTarget[]): Scrub {
  const sorted = [...targets].sort((a, b) => b.secret.length - a.secret.length);
  return { targets: sorted, shortest: shortestNeedle(sorted), found: false, seen: new Map<string, string>() };
}

/**
 * The length of the shortest needle of any of `targets`: a shorter text spells none of them, in any view (undoing
 * an escape never gives more units than it spells), so it needs no views at all (red-team pass 109 stalled the
 * event loop with a result of 45,000 short strings, each decoded into its views).
 */
export function shortestNeedle(targets: readonly ScrubTarget[]): number {
  let shortest = Number.POSITIVE_INFINITY;
  for (const target of targets) shortest = Math.min(shortest, target.shortest);
  return shortest;
}

/**
 * The texts a secret can arrive as before any encoding: itself and, when it is not ASCII, its UTF-8 bytes read as
 * Latin-1. HTTP header bytes reach the kernel as Latin-1 (undici), and net.http reads a value as UTF-8 only when the
 * whole of it is: one stray byte beside an echoed secret left it as mojibake (review 130).
 */
export function secretReadings(secret: string): string[] {
  const latin1 = Buffer.from(secret, 'utf8').toString('latin1');
  return latin1 === secret ? [secret] : [secret, latin1];
}

/** The spellings of a secret known in advance, searched for in a text and in its views of one step. */
function secretForms(secret: string): string[] {
  // A secret reflected URL-encoded (as encodeURIComponent, or form-encoded as the query was sent) or
  // JSON-escaped (a header dump) is still the secret; so is any of those in base64 (a binary body reaches
  // the agent as base64), at any of the three byte alignments it can have inside a longer text.
  const texts = [
    ...new Set(
      secretReadings(secret).flatMap((reading) => [
        reading,
        encodeURIComponent(reading),
        new URLSearchParams({ v: reading }).toString().slice(2),
        JSON.stringify(reading).slice(1, -1),
      ]),
    ),
  ];
  const base64 = texts.flatMap((text) => [Buffer.from(text).toString('base64'), ...alignedBase64(Buffer.from(text))]);
  // base64url (a JWT, a URL-safe token) writes `-` and `_` for `+` and `/`, without padding.
  const base64url = base64.map((form) => form.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, ''));
  return [...new Set([...texts, ...base64, ...base64url])];
}

// A shorter run of base64 characters turns up by chance in large binary bodies (8 characters: once in 2^48).
const MIN_BASE64_FORM = 8;

/**
 * The characters of base64 that `bytes` alone decide, wherever they sit in a longer buffer: after 0, 1 or 2
 * bytes of a group, each character covers 6 bits, and one that covers a bit outside `bytes` depends on the
 * neighbours. Every other character is the same in any buffer with `bytes` at that offset (red-team pass 107
 * read `bob:1234` back from the edges an earlier cut to whole groups left).
 */
function alignedBase64(bytes: Buffer): string[] {
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes, Buffer.alloc(3)]).toString('base64');
    const firstBit = offset * 8;
    const endBit = (offset + bytes.length) * 8;
    const first = Math.ceil(firstBit / 6);
    const last = Math.floor((endBit - 6) / 6);
    const form = encoded.slice(first, last + 1);
    if (form.length >= MIN_BASE64_FORM) forms.push(form);
  }
  return forms;
}

function scrubString(text: string, targets: readonly ScrubTarget[]): string {
  const spans: { start: number; end: number; needle: number }[] = [];
  for (const { view, spelling, chain } of viewsOf(text)) {
    // The needles this view holds, each with the rank of its target (targets come longest first).
    const needles: string[] = [];
    const ranks: number[] = [];
    targets.forEach((target, rank) => {
      if (view.length < target.shortest) return;
      for (const needle of searchedIn(target, spelling)) {
        if (!view.includes(needle)) continue;
        needles.push(needle);
        ranks.push(rank);
      }
    });
    if (needles.length === 0) continue;
    for (const span of locate(text, spelling, needles, chain)) spans.push({ ...span, needle: ranks[span.needle] ?? 0 });
  }
  if (spans.length === 0) return text;
  return replaceSpans(
    text,
    mergeSpans(spans, (rank) => rank),
    (rank) => targets[rank]?.replacement ?? '',
  );
}

/** One scrub of a value: its targets, whether it replaced anything, and each string's result (values repeat). */
interface Scrub {
  readonly targets: readonly ScrubTarget[];
  /** `shortestNeedle` of the targets. */
  readonly shortest: number;
  found: boolean;
  readonly seen: Map<string, string>;
}

function scrubText(text: string, scrub: Scrub): string {
  if (text.length < scrub.shortest) return text;
  let out = scrub.seen.get(text);
  if (out === undefined) {
    out = scrubString(text, scrub.targets);
    scrub.seen.set(text, out);
  }
  if (out !== text) scrub.found = true;
  return out;
}

function scrubUnknown(value: unknown, scrub: Scrub): unknown {
  if (typeof value === 'string') return scrubText(value, scrub);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => scrubUnknown(item, scrub));
  // fromEntries defines each key as an own property: assigning to `{}` would drop an own `__proto__` key, but only
  // when the vault holds something (red-team pass 106 told an empty vault from a full one that way).
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [scrubText(key, scrub), scrubUnknown(item, scrub)]),
  );
}

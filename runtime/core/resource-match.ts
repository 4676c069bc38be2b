/**
 * Action and resource patterns of capabilities, and how requests are matched against them.
 *
 * Actions: a name is dot/colon-separated words (`fs.read`, `tool:search`); a pattern is a name, `*` (every
 * action), or a name followed by `.*` / `:*` (every action with that prefix and separator).
 *
 * Resources come in three kinds, told apart by their syntax:
 * - path: absolute posix path (`/workspace/a.txt`); pattern `/workspace/**`.
 * - url: `http(s)://` or `ws(s)://` URL; pattern `https://api.example.com/v1/**`. The scheme and the port must be
 *   equal (a pattern that names no port matches only the scheme's default port); the host is a literal
 *   (matched exactly) or a host glob over its dot-separated labels, where `*` stays within one label and a
 *   whole-label `**` spans labels: `https://*.example.com/**` matches `https://api.example.com/x`, not
 *   `https://a.b.example.com/x` nor `https://example.com/x`; `https://**` (agent_os_kernel's "any HTTPS
 *   endpoint") matches every host on port 443, any path. A host glob with no path means any path. The path
 *   glob applies to the pathname only, so the query can never influence a match. Matching is on the
 *   normalized URL's parts (scheme, host name, port, pathname), never on its text, so userinfo, a lookalike
 *   host in the path or query, or another port cannot satisfy a host glob.
 * - name: anything else, slash-separated (`git`, `my_server/tool`); pattern `git`, `my_server/**`. A name may
 *   not start with `http:`, `https:`, `ws:` or `wss:` (a lenient URL parser would read `https:evil.com` as a
 *   URL).
 * A pattern only matches resources of its own kind. In globs `*` and `?` stay within one segment, `**` (a
 * whole segment) spans segments and matches at least one at the end (`/a/**` does not match `/a`); matching
 * is minimatch's, with braces, extglobs, negation and comments off. A pattern without glob characters
 * matches only that exact string (minimatch would also let a URL's trailing slash through).
 *
 * Requests are never repaired here: a resource that is not already in normal form (`..` or `.` segments,
 * empty segments, trailing slash, backslash, NUL or other control characters, a non-canonical URL, a URL
 * with credentials, or an encoded slash, backslash, percent or dot segment in its path) matches nothing.
 * Tools normalize and real-path with `normalizePath` / `normalizeUrl` first and then authorize exactly the
 * string they will use. Symlinks are the tools' business.
 *
 * Pure (no node:crypto): shared with the standalone token verifier.
 */
import { Minimatch, type MinimatchOptions } from 'minimatch';

export const MAX_ACTION_LENGTH = 128;
export const MAX_RESOURCE_LENGTH = 4096;
export const MAX_PATTERN_LENGTH = 1024;
export const MAX_PATTERN_SEGMENTS = 64;
/** More globstars buy no expressiveness, only matching work. */
export const MAX_GLOBSTARS = 8;
/**
 * The longest glob (a pattern with `*`, `?` or `[`) an agent may ask for when it delegates (`sys.spawn` and
 * `sys.handoff` caps). A glob test walks up to about |glob| x |text| steps (`/ws/*aaa…ab*` against
 * `/ws/aaa…a`), so this bounds what one test of an agent-written capability can cost (about 4 ms against a
 * 4096-character resource). Policy grants may be longer (MAX_PATTERN_LENGTH): the host writes them.
 */
export const MAX_REQUESTED_GLOB_LENGTH = 256;
/**
 * The glob-walk steps (see `resourceTestCost`, `resourceCoverCost`) one check over many capabilities may
 * spend: an authorization without a capability id, or the planning of one spawn's delegations. A step costs
 * 4-15 ns here by the pattern's shape (segment-by-segment cover checks are the dearest: red-team pass 61 spent
 * 4M of them in 46-62 ms), so this is at most about 30 ms of the kernel's event loop.
 */
export const MAX_MATCH_WORK = 2_000_000;

const MATCH_OPTIONS: MinimatchOptions = Object.freeze({
  // Requests never contain `.`/`..` segments, so dot only decides whether dotfiles under a granted tree are
  // included; a grant of `/workspace/**` that silently excluded `/workspace/.env` would surprise its author.
  dot: true,
  // Braces multiply one pattern into many (work, and grants that are hard to read); extglobs compile to
  // backtracking regexes; a leading `!` would turn a grant into "everything except"; a leading `#` would make
  // a grant silently match nothing.
  nobrace: true,
  noext: true,
  nonegate: true,
  nocomment: true,
  nocase: false,
  matchBase: false,
  // Never treat `\` as a separator, whatever the host OS (backslashes are refused anyway).
  platform: 'linux',
});

const ACTION_NAME = /^[A-Za-z0-9_-]+(?:[.:][A-Za-z0-9_-]+)*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
const FORBIDDEN_CHAR = /[\u0000-\u001f\u007f\\]/;
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` holds a lone surrogate: UTF-8 (the file system's names, LevelDB's keys) writes each as U+FFFD, so
 * two strings that differ only there name one thing outside the process.
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
// `https:host/x` is a name by syntax but a URL to a lenient parser; such names are refused, not guessed at.
const SCHEME_PREFIX = /^(?:https?|wss?):/i;
const URL_SCHEMES: ReadonlySet<string> = new Set(['http:', 'https:', 'ws:', 'wss:']);
const GLOB_MAGIC = /[*?[]/;
// Segments all non-empty, not `.`/`..`, free of backslash and control characters. Linear: segments cannot
// overlap, so there is nothing to backtrack into.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
const NORMAL_PATH = /^(?:\/(?!\.\.?(?:\/|$))[^/\u0000-\u001f\u007f\\]+)+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
const NORMAL_NAME = /^(?!\.\.?(?:\/|$))[^/\u0000-\u001f\u007f\\]+(?:\/(?!\.\.?(?:\/|$))[^/\u0000-\u001f\u007f\\]+)*$/;

// ---------------------------------------------------------------------------------------------- actions

/** True when `action` is a concrete action name such as `fs.read` or `tool:search`. Never throws. */
export function isActionName(action: unknown): action is string {
  return typeof action === 'string' && action.length <= MAX_ACTION_LENGTH && ACTION_NAME.test(action);
}

/** True when `pattern` is `*`, an action name, or an action name followed by `.*` or `:*`. Never throws. */
export function isActionPattern(pattern: unknown): pattern is string {
  if (typeof pattern !== 'string' || pattern.length > MAX_ACTION_LENGTH) return false;
  if (pattern === '*') return true;
  if (pattern.endsWith('.*') || pattern.endsWith(':*')) return ACTION_NAME.test(pattern.slice(0, -2));
  return ACTION_NAME.test(pattern);
}

/**
 * True when the action pattern allows the action. False (never throws) when either is malformed. A prefix
 * pattern needs its separator: `fs.*` allows `fs.read`, not `fsx` or `fs:read`.
 */
export function matchAction(pattern: string, action: string): boolean {
  return isActionPattern(pattern) && isActionName(action) && actionAllows(pattern, action);
}

/** `matchAction` for a pattern and name already known to be well formed (the hot path). Never throws for strings. */
export function actionAllows(pattern: string, action: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return action.startsWith(pattern.slice(0, -1));
  return pattern === action;
}

/**
 * True when every action the child pattern allows is allowed by the parent pattern. Exact, not heuristic.
 * False for malformed patterns. Never throws.
 */
export function actionPatternCovers(parent: string, child: string): boolean {
  if (!isActionPattern(parent) || !isActionPattern(child)) return false;
  if (parent === '*' || parent === child) return true;
  if (child === '*' || !parent.endsWith('*')) return false;
  return child.startsWith(parent.slice(0, -1));
}

// -------------------------------------------------------------------------------------------- resources

export type ResourceKind = 'path' | 'url' | 'name';

/** A request's resource after validation: what patterns are tested against. */
export interface ResourceTarget {
  readonly kind: ResourceKind;
  /** `scheme://host[:port]` for URLs, '' otherwise. */
  readonly origin: string;
  /** URLs: the scheme with its colon (`https:`); '' otherwise. */
  readonly scheme: string;
  /** URLs: the canonical host name (lower case, punycode, IPv6 in brackets); '' otherwise. */
  readonly hostname: string;
  /** URLs: the port, '' for the scheme's default; '' otherwise. */
  readonly port: string;
  /** The path, the name, or the URL's pathname. */
  readonly text: string;
}

/** A validated, compiled resource pattern. */
export interface ResourcePattern {
  readonly source: string;
  readonly kind: ResourceKind;
  /** `scheme://host[:port]` as written for URL patterns (the host may be a glob), '' otherwise. */
  readonly origin: string;
  /** URL patterns: the scheme with its colon, the host (literal or glob) and the port ('' for the default). */
  readonly scheme: string;
  readonly hostname: string;
  readonly port: string;
  /** URL patterns whose host is a glob: its labels (`['*', 'example', 'com']`); undefined otherwise. */
  readonly hostGlob: readonly string[] | undefined;
  /** Glob segments after the leading `/` (path, url) or of the whole name. */
  readonly segments: readonly string[];
  /** True when the pattern contains no glob characters. */
  readonly literal: boolean;
  /**
   * True when `test` walks a minimatch glob (up to about |source| x |text| steps); false when it is a string
   * comparison (a literal pattern, `<literal>/**`, a `**` host).
   */
  readonly walks: boolean;
  /** An upper estimate of the heap the compiled pattern keeps (`patternBytes`), for whoever keeps it to count. */
  readonly heldBytes: number;
  readonly test: (target: ResourceTarget) => boolean;
}

/** Whether `resource` is a glob (holds `*`, `?` or `[`). Never throws for a string. */
export function isGlob(resource: string): boolean {
  return GLOB_MAGIC.test(resource);
}

/**
 * An upper bound, in steps comparable with MAX_MATCH_WORK, on the work of `pattern.test(target)`: 1 for a
 * string comparison, |pattern| x |text| for a glob walk.
 */
export function resourceTestCost(pattern: ResourcePattern, target: ResourceTarget): number {
  return pattern.walks ? pattern.source.length * (target.text.length + target.hostname.length + 1) : 1;
}

/**
 * An upper bound, in steps comparable with MAX_MATCH_WORK, on the work of `resourcePatternCovers(parent,
 * child)`: linear when the parent's test is a string comparison, |parent| x |child| when it walks a glob
 * (against the child's text, or segment by segment against the child's segments). Never throws.
 */
export function resourceCoverCost(parent: string, child: string): number {
  const p = compileResourcePattern(parent);
  if (p === undefined || typeof child !== 'string' || parent === child) return 1;
  return p.walks ? parent.length * (child.length + 1) : parent.length + child.length;
}

/** Which kind of resource a string is, by syntax alone. Never throws for a string. */
export function resourceKind(resource: string): ResourceKind {
  if (resource.startsWith('/')) return 'path';
  return URL_LIKE.test(resource) ? 'url' : 'name';
}

/**
 * Validates a request's resource. Returns undefined (never throws) unless it is a string already in normal
 * form for its kind (see the module comment): nothing is resolved, decoded or guessed.
 */
export function parseResource(resource: unknown): ResourceTarget | undefined {
  if (typeof resource !== 'string' || resource.length === 0 || resource.length > MAX_RESOURCE_LENGTH) {
    return undefined;
  }
  // Every capability check parses its request's resource, and agents repeat resources (the same file, the same
  // endpoint): a hit skips a regex, or a WHATWG URL parse for a URL. The result is a pure function of the string
  // and frozen, so sharing it is safe; the cache is bounded in entries and key length.
  if (resource.length <= TARGET_CACHE_MAX_LENGTH) {
    const cached = targetCache.get(resource);
    if (cached !== undefined) return cached === null ? undefined : cached;
    const target = parseResourceUncached(resource);
    if (targetCache.size >= TARGET_CACHE_LIMIT) targetCache.clear();
    targetCache.set(resource, target === undefined ? null : Object.freeze(target));
    return target;
  }
  return parseResourceUncached(resource);
}

const TARGET_CACHE_LIMIT = 1024;
const TARGET_CACHE_MAX_LENGTH = 512;
const targetCache = new Map<string, ResourceTarget | null>();

function parseResourceUncached(resource: string): ResourceTarget | undefined {
  const kind = resourceKind(resource);
  if (kind === 'path') {
    return resource === '/' || NORMAL_PATH.test(resource) ? plainTarget(kind, resource) : undefined;
  }
  if (kind === 'name') {
    return NORMAL_NAME.test(resource) && !SCHEME_PREFIX.test(resource) ? plainTarget(kind, resource) : undefined;
  }
  if (resource.includes('#') || FORBIDDEN_CHAR.test(resource)) return undefined;
  const url = acceptableUrl(resource);
  if (url === undefined || url.href !== resource) return undefined;
  return {
    kind,
    origin: `${url.protocol}//${url.host}`,
    scheme: url.protocol,
    hostname: url.hostname,
    port: url.port,
    text: url.pathname,
  };
}

function plainTarget(kind: ResourceKind, text: string): ResourceTarget {
  return { kind, origin: '', scheme: '', hostname: '', port: '', text };
}

/**
 * Posix-normalizes an absolute path for a tool: resolves `.` and `..` lexically (`..` at the root stays at
 * the root), drops empty segments and a trailing slash. Returns undefined for relative paths, NUL, other
 * control characters, backslashes or lone surrogates, or an over-long result. Never throws. Does not resolve
 * symlinks.
 */
export function normalizePath(path: unknown): string | undefined {
  if (typeof path !== 'string' || !path.startsWith('/') || path.length > MAX_RESOURCE_LENGTH) return undefined;
  // A lone surrogate is written to the file system as U+FFFD, so two strings would name one file, and what is kept
  // by the string (its label) would not follow the file (red-team pass 102 read a `web` file clean by listing it).
  if (FORBIDDEN_CHAR.test(path) || hasLoneSurrogate(path)) return undefined;
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') out.pop();
    else out.push(segment);
  }
  return `/${out.join('/')}`;
}

/**
 * Canonicalizes a URL for a tool with the WHATWG parser (lower-case host, punycode, default port dropped,
 * dot segments resolved) and drops the fragment. Returns undefined (never throws) for unparseable URLs,
 * schemes other than http, https, ws, wss, credentials in the URL, or a path `parseResource` would refuse.
 */
export function normalizeUrl(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > MAX_RESOURCE_LENGTH || FORBIDDEN_CHAR.test(input)) return undefined;
  const url = acceptableUrl(input);
  if (url === undefined) return undefined;
  // One spelling per server: a trailing dot (DNS drops it) and an IPv4-mapped IPv6 address name the server another
  // spelling names, and a label source matched on the string missed them (red-team pass 105 read a mail server's
  // inbox as `mail.corp.test.` and as `[::ffff:127.0.0.1]`, unlabelled).
  if (url.hostname.endsWith('.') || IPV4_MAPPED.test(url.hostname)) return undefined;
  url.hash = '';
  // And one per path: RFC 3986's equivalent escapes, so `/%69nbox` is `/inbox`.
  const pathname = canonicalEscapes(url.pathname);
  if (pathname !== url.pathname) url.pathname = pathname;
  const search = canonicalEscapes(url.search);
  if (search !== url.search) url.search = search;
  return url.href.length <= MAX_RESOURCE_LENGTH ? url.href : undefined;
}

const IPV4_MAPPED = /^\[::ffff:/i;
const UNRESERVED = /^[A-Za-z0-9._~-]$/;

// Decodes the escapes of unreserved characters and writes every other escape in upper case (RFC 3986, 6.2.2).
function canonicalEscapes(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_escape, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

function acceptableUrl(text: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!URL_SCHEMES.has(url.protocol) || url.hostname === '') return undefined;
  // Credentials are never needed to name a resource, and `user@host` is how allow-lists get fooled.
  if (url.username !== '' || url.password !== '') return undefined;
  return urlPathIsSafe(url.pathname) ? url : undefined;
}

// Servers disagree about decoding, so anything that could decode to a separator or a dot segment is refused:
// `..%2f`, `%5c`, double encoding (`%252f`), and Tomcat-style `..;` segments.
function urlPathIsSafe(pathname: string): boolean {
  const segments = pathname.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '') {
      if (i === segments.length - 1) continue;
      return false;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return false;
    }
    if (FORBIDDEN_CHAR.test(decoded) || decoded.includes('/') || decoded.includes('%')) return false;
    const bare = decoded.split(';')[0];
    if (bare === '.' || bare === '..') return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------- patterns

// Measured with Node 20 (heap retained per compiled pattern, 1,500 distinct patterns of each shape): a string
// comparison keeps 1.1-3.0 KB for 16-1,000 characters; a minimatch glob 3.5-4.6 KB at 16 characters and
// 60-69 KB at 1,000 (stars, `?` runs, classes, a host glob), about 70 bytes a character. Red-team pass 133:
// a capability was charged 4.5 KB for a 256-character glob that kept 19 KB, and 4,096 cached ones kept 72 MB
// after every kernel had closed.
const COMPARED_BYTES = 1536;
const GLOB_BYTES = 4096;
const GLOB_BYTES_PER_CHAR = 72;

/** An upper estimate of the heap a pattern of `length` characters keeps once compiled, glob or not. */
function patternBytes(length: number, glob: boolean): number {
  return glob ? GLOB_BYTES + GLOB_BYTES_PER_CHAR * length : COMPARED_BYTES + 2 * length;
}

/**
 * A cache of compiled patterns bounded by the heap its entries keep as well as by their number: the patterns
 * come from agents (the caps they ask for), and the cache is the process's, shared by every kernel in it and
 * charged to none of them. Full, it starts over.
 */
class CompiledCache<T> {
  readonly #entries = new Map<string, T>();
  #bytes = 0;
  readonly #maxEntries: number;
  readonly #maxBytes: number;

  constructor(maxEntries: number, maxBytes: number) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  get(key: string): T | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: T, bytes: number): void {
    if (this.#entries.size >= this.#maxEntries || this.#bytes + bytes > this.#maxBytes) {
      this.#entries.clear();
      this.#bytes = 0;
    }
    this.#entries.set(key, value);
    this.#bytes += bytes;
  }
}

const PATTERN_CACHE_LIMIT = 4096;
/** What each of the two caches below may keep: about 120 compiled 1,000-character globs, or 4,096 short ones. */
const PATTERN_CACHE_BYTES = 8 * 1024 * 1024;
const patternCache = new CompiledCache<ResourcePattern | string>(PATTERN_CACHE_LIMIT, PATTERN_CACHE_BYTES);

/**
 * Validates and compiles a resource pattern (cached). Returns undefined (never throws) when the pattern is
 * invalid; `resourcePatternError` says why.
 */
export function compileResourcePattern(pattern: unknown): ResourcePattern | undefined {
  const result = analyzePattern(pattern);
  return typeof result === 'string' ? undefined : result;
}

/** Why a resource pattern is invalid, or undefined when it is valid. Never throws. */
export function resourcePatternError(pattern: unknown): string | undefined {
  const result = analyzePattern(pattern);
  return typeof result === 'string' ? result : undefined;
}

/** True when `pattern` is a valid resource pattern. Never throws. */
export function isResourcePattern(pattern: unknown): pattern is string {
  return compileResourcePattern(pattern) !== undefined;
}

/**
 * True when the resource pattern matches the request's resource. False (never throws) for an invalid
 * pattern or a resource `parseResource` refuses.
 */
export function matchResource(pattern: string, resource: string): boolean {
  const compiled = compileResourcePattern(pattern);
  const target = parseResource(resource);
  return compiled !== undefined && target !== undefined && compiled.test(target);
}

/**
 * True when the resource pattern matches `resource` or some resource below it (the same with one or more
 * further segments): what a directory's listing, size or emptiness reveals of the paths it holds. A pattern
 * and a resource of different kinds or origins never match. False (never throws) for an invalid pattern or a
 * resource `parseResource` refuses. Memoized, so O(pattern segments x resource segments).
 */
export function matchResourceAtOrBelow(pattern: string, resource: string): boolean {
  const compiled = compileResourcePattern(pattern);
  const target = parseResource(resource);
  if (compiled === undefined || target === undefined) return false;
  if (compiled.kind !== target.kind || compiled.origin !== target.origin) return false;
  if (compiled.test(target)) return true;
  const text = target.kind === 'name' ? target.text : target.text.slice(1);
  return segmentsReach(compiled.segments, text === '' ? [] : text.split('/'));
}

// Whether some continuation of `resource` (zero or more segments) matches `pattern`: the pattern consumes
// the resource's segments (a `**` any run of them) and whatever pattern is left can always be satisfied by
// segments still to come (every glob segment matches some name; a trailing `**` at least one).
function segmentsReach(pattern: readonly string[], resource: readonly string[]): boolean {
  const memo = new Map<number, boolean>();
  const reach = (ri: number, pi: number): boolean => {
    if (ri === resource.length) return true;
    if (pi === pattern.length) return false;
    const key = ri * (pattern.length + 1) + pi;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const glob = pattern[pi]!;
    const result =
      glob === '**'
        ? pi === pattern.length - 1 || reach(ri, pi + 1) || reach(ri + 1, pi)
        : segmentGlobMatches(glob, resource[ri]!) && reach(ri + 1, pi + 1);
    memo.set(key, result);
    return result;
  };
  return reach(0, 0);
}

const segmentMatchers = new CompiledCache<Minimatch>(PATTERN_CACHE_LIMIT, PATTERN_CACHE_BYTES);

// One glob segment against one literal segment, with compiled segments kept (patterns come from the policy and
// from the caps agents ask for).
function segmentGlobMatches(glob: string, segment: string): boolean {
  if (!GLOB_MAGIC.test(glob)) return glob === segment;
  let matcher = segmentMatchers.get(glob);
  if (matcher === undefined) {
    matcher = new Minimatch(glob, MATCH_OPTIONS);
    segmentMatchers.set(glob, matcher, patternBytes(glob.length, true));
  }
  return matcher.match(segment);
}

function analyzePattern(pattern: unknown): ResourcePattern | string {
  if (typeof pattern !== 'string') return 'pattern must be a string';
  const cached = patternCache.get(pattern);
  if (cached !== undefined) return cached;
  const result = buildPattern(pattern);
  // A refusal keeps its reason, a fixed text, and the pattern as its key.
  patternCache.set(
    pattern,
    result,
    typeof result === 'string' ? patternBytes(pattern.length, false) : result.heldBytes,
  );
  return result;
}

function buildPattern(pattern: string): ResourcePattern | string {
  if (pattern.length === 0) return 'pattern is empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `pattern is longer than ${MAX_PATTERN_LENGTH} characters`;
  if (FORBIDDEN_CHAR.test(pattern)) return 'pattern contains a backslash or a control character';
  const kind = resourceKind(pattern);
  if (kind === 'path') {
    if (pattern === '/') return makePattern(pattern, kind, NO_ORIGIN, []);
    const segments = pattern.slice(1).split('/');
    const error = segmentsError(segments, false);
    return error ?? makePattern(pattern, kind, NO_ORIGIN, segments);
  }
  if (kind === 'name') {
    if (SCHEME_PREFIX.test(pattern)) return 'a name pattern must not start with a URL scheme (write scheme://host/...)';
    const segments = pattern.split('/');
    const error = segmentsError(segments, false);
    return error ?? makePattern(pattern, kind, NO_ORIGIN, segments);
  }
  return buildUrlPattern(pattern);
}

/** Where a URL pattern points: scheme, host (literal or glob labels) and port. */
interface PatternOrigin {
  readonly origin: string;
  readonly scheme: string;
  readonly hostname: string;
  readonly port: string;
  readonly hostGlob: readonly string[] | undefined;
}

const NO_ORIGIN: PatternOrigin = Object.freeze({ origin: '', scheme: '', hostname: '', port: '', hostGlob: undefined });

// A host glob label: `**` alone, or letters, digits, `-`, `_` and `*` (within the label). The URL parser has
// already lower-cased and punycoded the host, so a literal part here is what a normalized URL would carry.
const HOST_GLOB_LABEL = /^(?:\*\*|[a-z0-9_*-]+)$/;

function hostGlobError(labels: readonly string[]): string | undefined {
  let globstars = 0;
  for (const label of labels) {
    if (label === '') return 'URL pattern host has an empty label';
    if (!HOST_GLOB_LABEL.test(label)) return 'URL pattern host glob labels may hold only a-z, 0-9, -, _ and *';
    if (label.includes('**') && label !== '**') return '`**` must be a whole label of a URL pattern host';
    if (label === '**') globstars++;
  }
  return globstars > MAX_GLOBSTARS ? `URL pattern host has more than ${MAX_GLOBSTARS} \`**\` labels` : undefined;
}

function buildUrlPattern(pattern: string): ResourcePattern | string {
  if (pattern.includes('?') || pattern.includes('#')) return 'URL pattern must not have a query or fragment';
  let url: URL;
  try {
    url = new URL(pattern);
  } catch {
    return 'URL pattern does not parse';
  }
  if (!URL_SCHEMES.has(url.protocol)) return 'URL pattern scheme must be http, https, ws or wss';
  if (url.username !== '' || url.password !== '') return 'URL pattern must not contain credentials';
  if (url.hostname === '') return 'URL pattern must name a host';
  const glob = GLOB_MAGIC.test(url.hostname);
  if (glob) {
    const labels = url.hostname.split('.');
    const error = hostGlobError(labels);
    if (error !== undefined) return error;
  }
  const where: PatternOrigin = {
    origin: `${url.protocol}//${url.host}`,
    scheme: url.protocol,
    hostname: url.hostname,
    port: url.port,
    hostGlob: glob ? Object.freeze(url.hostname.split('.')) : undefined,
  };
  // `https://**` and `https://*.example.com` (no path, as agent_os_kernel writes them) mean any path: the same
  // pattern as `/**`. A literal host keeps the canonical form (`https://api.example.com/`), so that a pattern
  // never reads as broader than it is.
  if (glob && url.pathname === '/' && `${pattern}/` === url.href) return makePattern(pattern, 'url', where, ['**']);
  if (url.href !== pattern) return `URL pattern is not in canonical form (expected ${url.href})`;
  if (url.pathname === '/') return makePattern(pattern, 'url', where, ['']);
  const segments = url.pathname.slice(1).split('/');
  const error = segmentsError(segments, true);
  if (error !== undefined) return error;
  if (!urlPathIsSafe(url.pathname)) return 'URL pattern path contains an encoded separator or dot segment';
  return makePattern(pattern, 'url', where, segments);
}

function segmentsError(segments: readonly string[], trailingSlashAllowed: boolean): string | undefined {
  if (segments.length > MAX_PATTERN_SEGMENTS) return `pattern has more than ${MAX_PATTERN_SEGMENTS} segments`;
  let globstars = 0;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '') {
      if (trailingSlashAllowed && i === segments.length - 1) continue;
      return 'pattern has an empty segment (`//` or a trailing `/`)';
    }
    if (segment === '.' || segment === '..') return 'pattern has a `.` or `..` segment';
    if (segment.includes('**') && segment !== '**') return '`**` must be a whole segment';
    if (segment === '**') globstars++;
  }
  if (globstars > MAX_GLOBSTARS) return `pattern has more than ${MAX_GLOBSTARS} \`**\` segments`;
  return undefined;
}

function makePattern(source: string, kind: ResourceKind, where: PatternOrigin, segments: string[]): ResourcePattern {
  const glob = kind === 'name' ? segments.join('/') : `/${segments.join('/')}`;
  const literal = !segments.some((segment) => GLOB_MAGIC.test(segment));
  const last = segments.length - 1;
  let matchText: (text: string) => boolean;
  let walks = true;
  if (literal) {
    walks = false;
    matchText = (text) => text === glob;
  } else if (last >= 1 && segments[last] === '**' && !segments.slice(0, last).some((s) => GLOB_MAGIC.test(s))) {
    // `<literal>/**`, the common grant: for normal-form input this is exactly minimatch's answer (the
    // differential property test checks it) at a fraction of the cost.
    const prefix = glob.slice(0, -2);
    walks = false;
    matchText = (text) => text.startsWith(prefix);
  } else {
    const matcher = new Minimatch(glob, MATCH_OPTIONS);
    matchText = (text) => matcher.match(text);
  }
  const { origin, scheme, hostname, port, hostGlob } = where;
  const matchOrigin: (target: ResourceTarget) => boolean =
    hostGlob === undefined ? (target) => target.origin === origin : hostMatcher(scheme, port, hostGlob);
  // A walk is a minimatch the pattern keeps, for its path or its host.
  const walksGlob = walks || (hostGlob !== undefined && !isMatchAllHost(hostGlob));
  return Object.freeze({
    source,
    kind,
    origin,
    scheme,
    hostname,
    port,
    hostGlob,
    segments: Object.freeze(segments),
    // A host glob is a glob: such a pattern is never literal, whatever its path.
    literal: literal && hostGlob === undefined,
    walks: walksGlob,
    // A host glob and a path glob are two matchers (review 136: 1.07x the estimate of one).
    heldBytes:
      patternBytes(source.length, walksGlob) +
      (walks && hostGlob !== undefined && !isMatchAllHost(hostGlob) ? GLOB_BYTES : 0),
    test: (target: ResourceTarget) => target.kind === kind && matchOrigin(target) && matchText(target.text),
  });
}

// Scheme and port compared exactly (the target's '' is the default port, and so is a pattern's ''); the host
// name label by label, as path segments. Labels are joined with `/` for minimatch, which no host name holds.
function hostMatcher(scheme: string, port: string, labels: readonly string[]): (target: ResourceTarget) => boolean {
  const glob = `/${labels.join('/')}`;
  const matchAll = isMatchAllHost(labels);
  const matcher = matchAll ? undefined : new Minimatch(glob, MATCH_OPTIONS);
  return (target) => {
    if (target.scheme !== scheme || target.port !== port || target.hostname === '') return false;
    if (matchAll) return true;
    const host = target.hostname;
    // An empty label (`a..b`, a trailing dot) or a `/` would make the label path mean something else.
    if (host.startsWith('.') || host.endsWith('.') || host.includes('..') || host.includes('/')) return false;
    return matcher!.match(`/${host.replaceAll('.', '/')}`);
  };
}

function isMatchAllHost(labels: readonly string[] | undefined): boolean {
  return labels !== undefined && labels.length === 1 && labels[0] === '**';
}

/**
 * True only when every resource the child pattern matches is also matched by the parent pattern. Sound but
 * conservative: it may answer false for some pairs where the child really is narrower (for instance
 * `/a/x*` under `/a/*x*`), never true for a wider child. False for invalid patterns. Never throws.
 */
export function resourcePatternCovers(parent: string, child: string): boolean {
  const p = compileResourcePattern(parent);
  const c = compileResourcePattern(child);
  if (p === undefined || c === undefined || p.kind !== c.kind || !originCovers(p, c)) return false;
  if (p.source === c.source) return true;
  if (c.literal) {
    const text = c.kind === 'name' ? c.segments.join('/') : `/${c.segments.join('/')}`;
    return p.test({ kind: c.kind, origin: c.origin, scheme: c.scheme, hostname: c.hostname, port: c.port, text });
  }
  return segmentsCover(p.segments, c.segments);
}

// Every origin the child can match is one the parent matches: equal literal origins, or the same scheme and
// port with the parent's host glob covering the child's host (a literal host, or a narrower glob).
function originCovers(p: ResourcePattern, c: ResourcePattern): boolean {
  if (p.hostGlob === undefined) return c.hostGlob === undefined && p.origin === c.origin;
  if (p.scheme !== c.scheme || p.port !== c.port) return false;
  // A lone `**` label matches every host name, even ones no other host glob does (`a..b`, a trailing dot:
  // hostMatcher), so only the same lone `**` covers it.
  if (isMatchAllHost(c.hostGlob)) return isMatchAllHost(p.hostGlob);
  if (c.hostGlob === undefined) {
    const probe: ResourceTarget = { ...plainTarget('url', '/'), scheme: c.scheme, hostname: c.hostname, port: c.port };
    return hostMatcher(p.scheme, p.port, p.hostGlob)(probe);
  }
  return segmentsCover(p.hostGlob, c.hostGlob);
}

// Segment-wise inclusion: a parent `**` may absorb any run of child segments (including child globs and
// `**`), except that a trailing `**` must absorb at least one (minimatch: `/a/**` does not match `/a`).
// Other parent segments must cover the child segment one to one. Memoized, so O(parent x child).
function segmentsCover(parent: readonly string[], child: readonly string[]): boolean {
  const memo = new Map<number, boolean>();
  const cover = (ci: number, pi: number): boolean => {
    const key = ci * (parent.length + 1) + pi;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (pi === parent.length) {
      result = ci === child.length;
    } else if (parent[pi] === '**') {
      result =
        pi === parent.length - 1 ? ci < child.length : cover(ci, pi + 1) || (ci < child.length && cover(ci + 1, pi));
    } else if (ci === child.length || child[ci] === '**') {
      result = false;
    } else {
      result = segmentCovers(parent[pi]!, child[ci]!) && cover(ci + 1, pi + 1);
    }
    memo.set(key, result);
    return result;
  };
  return cover(0, 0);
}

function segmentCovers(parent: string, child: string): boolean {
  if (parent === child) return true;
  // `*` matches any single non-empty segment (dot files included); child segments are never empty here.
  if (parent === '*') return child !== '';
  return !GLOB_MAGIC.test(child) && segmentGlobMatches(parent, child);
}

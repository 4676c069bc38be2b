import { parseResource, resourceKind } from '../core/resource-match.js';

/**
 * The spellings under which common servers serve one document, for matching policy label sources on URLs. A
 * capability that misses a spelling fails closed; a label source that misses one leaves the document unlabelled, so
 * sources are matched on more than the URL's normal form (red-team pass 145 and review 147 read a mailbox tagged at
 * `/inbox/**` unlabelled under each of these):
 * - path case: Express's router, ASP.NET Core and IIS match paths case-insensitively (`/INBOX/1`);
 * - path parameters: Tomcat, Jetty and Spring drop a segment's `;…` before routing (`/inbox;v=1/1`);
 * - escapes: nginx and static file servers decode the path before they look it up (`/%40alice` is `/@alice`);
 * - trailing dots and spaces of a segment, which Windows drops from file names (`/inbox./1`, `/inbox/1%20`);
 * - a format suffix: Rails, Django REST framework and older Spring route `/inbox/1.json` to `/inbox/1`;
 * - the index: a source on `X/**` or `X/*` covers `X` itself (`/inbox`, `/inbox/`).
 * A resource is matched on its own spelling first and on the folded ones only when that misses, against the source's
 * pattern folded the same way, so folding only ever adds a tag. Other routes to a document (a query parameter a
 * framework routes by, an application's own aliases) are beyond any spelling: a source is best written for a whole
 * origin (SECURITY.md).
 *
 * A file path has the spellings a case-insensitive file system gives one file (a FUSE or network mount of a macOS or
 * Windows share, vfat, ext4 with casefold): case, Unicode normalization, and a name's trailing dots and spaces, which
 * Windows drops (`foldPath`; red-team pass 150 read an inbox tagged at `/ws/inbox/**` unlabelled as `/ws/INBOX/1`
 * through such a mount).
 */

// Characters a URL path may hold unescaped in its normal form (WHATWG's path percent-encode set leaves them), so a
// decoded escape of one is still a normal spelling; `[` and `]` stay escaped, being glob syntax in patterns.
const RAW_IN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,=:@^|]$/;
const ESCAPES_OR_TEXT = /(?:%[0-9A-Fa-f]{2})+|[^%]+|%/g;
const FORMAT_SUFFIX = /^(.+)\.[a-z0-9]{1,8}$/;

/**
 * The folded spellings of a URL resource in normal form (none for any other resource), at most two: its path folded
 * segment by segment, and that without the last segment's format suffix when it has one.
 */
export function foldedSpellings(resource: string): readonly string[] {
  const known = spellingCache.get(resource);
  if (known !== undefined) return known;
  const spellings = foldSpellings(resource);
  if (spellingCache.size >= SPELLING_CACHE_LIMIT) spellingCache.clear();
  spellingCache.set(resource, spellings);
  return spellings;
}

const SPELLING_CACHE_LIMIT = 512;
const spellingCache = new Map<string, readonly string[]>();

/**
 * `path` (absolute, in normal form) as a case-insensitive file system that keeps names in any normalization sees it:
 * each name in NFC and lower case (upper-cased first, twice, so `ß`, `ẞ` and `SS` meet), without trailing dots and
 * spaces. Folding a folded path changes nothing.
 */
export function foldPath(path: string): string {
  return path
    .split('/')
    .map((name) => {
      const folded = name.normalize('NFC').toUpperCase().toLowerCase().toUpperCase().toLowerCase().normalize('NFC');
      return folded.replace(/[. ]+$/, '') || folded;
    })
    .join('/');
}

function foldSpellings(resource: string): readonly string[] {
  const target = parseResource(resource);
  if (target?.kind === 'path') return [foldPath(target.text)];
  if (target === undefined || target.kind !== 'url') return [];
  const segments: string[] = [];
  for (const segment of target.text.split('/').slice(1)) {
    const folded = foldSegment(segment.split(';')[0] ?? '');
    if (folded === undefined) return [];
    // A segment left empty (all parameters, or dots) is gone, as a server that merges slashes sees it.
    if (folded !== '') segments.push(folded);
  }
  const path = `${target.origin}/${segments.join('/')}`;
  const last = segments.at(-1);
  const bare = last === undefined ? null : FORMAT_SUFFIX.exec(last);
  if (bare === null || bare[1] === undefined) return [path];
  return [path, `${target.origin}/${[...segments.slice(0, -1), bare[1]].join('/')}`];
}

// A segment in lower case, its escapes of characters a path holds unescaped decoded (and every other one in upper
// case), without trailing dots and spaces; undefined when an escape run is not UTF-8.
function foldSegment(segment: string): string | undefined {
  let out = '';
  for (const piece of segment.match(ESCAPES_OR_TEXT) ?? []) {
    const folded = foldPiece(piece);
    if (folded === undefined) return undefined;
    out += folded;
  }
  return out.replace(/(?:\.|%20)+$/, '');
}

// A run of escapes decoded, or a run of text, in lower case and written back as a normal path writes it.
function foldPiece(piece: string): string | undefined {
  let text = piece;
  if (piece.length >= 3 && piece.startsWith('%')) {
    try {
      text = decodeURIComponent(piece);
    } catch {
      return undefined;
    }
  }
  let out = '';
  for (const char of text.toLowerCase()) out += RAW_IN_PATH.test(char) ? char : encodeURIComponent(char);
  return out;
}

/**
 * A URL source pattern folded as `foldedSpellings` folds resources (path case and escapes), and the pattern of its
 * index when it ends in `/**` or `/*`; none for a pattern that is not a URL pattern.
 */
export function foldedSourcePatterns(pattern: string): readonly string[] {
  // A path pattern's names in lower case, as `foldPath` folds them (its glob characters have no case).
  if (resourceKind(pattern) === 'path') return [foldPath(pattern)];
  if (resourceKind(pattern) !== 'url') return [];
  // Text is only lower-cased: a pattern's glob characters stay what they are.
  const folded = pattern
    .replace(ESCAPES_OR_TEXT, (piece) =>
      piece.startsWith('%') ? (foldPiece(piece) ?? piece.toUpperCase()) : piece.toLowerCase(),
    )
    .replace(/;[^/]*/g, '');
  const index = /^(.+[^/])\/\*\*?$/.exec(folded)?.[1];
  return index === undefined ? [folded] : [folded, index];
}

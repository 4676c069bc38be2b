// Where the peer suites find what `npm run bench:peers` prepared (bench/thirdparty/prepare.ts): npm packages in
// bench/thirdparty/node_modules, and the peers taken from git mirrors, with a manifest, under
// bench/thirdparty/node_modules/.cache/isokernel-peers/ (inside node_modules, so git, tsc and biome leave it
// alone and npm does not prune it). None of it is committed; a suite skips a peer that is not there, saying how
// to get it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const THIRDPARTY = fileURLToPath(new URL('.', import.meta.url));
export const CACHE = join(THIRDPARTY, 'node_modules', '.cache', 'isokernel-peers');
export const MANIFEST = join(CACHE, 'peers.json');
export const PREPARE_HINT = 'run npm run bench:peers, which installs and prepares the peers';

/** What prepare.ts found for one peer: where it is and which version, or why it is missing. */
export type PeerEntry =
  | { readonly ok: true; readonly path: string; readonly version: string; readonly source: string }
  | { readonly ok: false; readonly missing: string };

export interface PeerManifest {
  readonly agentOs: PeerEntry;
  readonly agentKernel: PeerEntry & { readonly python?: string };
}

/** The manifest prepare.ts wrote, or undefined before the first `npm run bench:peers`. */
export function readManifest(): PeerManifest | undefined {
  if (!existsSync(MANIFEST)) return undefined;
  return JSON.parse(readFileSync(MANIFEST, 'utf8')) as PeerManifest;
}

/**
 * Imports a peer package installed in bench/thirdparty/node_modules, typed by the caller (the peers are not
 * dependencies of the project, so their types are not available to its typecheck). Resolves to a reason
 * string when it is not installed.
 */
export async function importPeer<T>(specifier: string): Promise<T | string> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    return `${specifier} is not installed (${(error as Error).message.split('\n')[0]}): ${PREPARE_HINT}`;
  }
}

/** Imports a module by file path (a peer prepared from a mirror). */
export async function importPath<T>(path: string): Promise<T | string> {
  try {
    return (await import(pathToFileURL(path).href)) as T;
  } catch (error) {
    return `cannot load ${path} (${(error as Error).message.split('\n')[0]}): ${PREPARE_HINT}`;
  }
}

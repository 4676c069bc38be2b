import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobAccess } from '../tool-use/tool-contract.js';
import type { StoreShares } from './store-shares.js';

/**
 * Content-addressed bytes (docs/architecture.md §8): a blob's id is the hex SHA-256 of its content, so the same content
 * is stored once and a blob that changed on disk is detected when read. Snapshots and the previous contents
 * that undo records point to live here.
 */
export interface BlobStore extends BlobAccess {
  /** Stores `bytes` (once per content); `tenant` is who a new blob is kept for (see StoreShares). */
  put(bytes: Uint8Array, tenant?: string): Promise<string>;
  /** Ids of every stored blob, sorted. */
  list(): Promise<string[]>;
}

const BLOB_ID = /^[0-9a-f]{64}$/;

/** True for a well-formed blob id (64 lowercase hex digits); anything else never reaches the file system. */
export function isBlobId(id: unknown): id is string {
  return typeof id === 'string' && BLOB_ID.test(id);
}

/** The blob id of `bytes`. */
export function blobId(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Blobs in memory, for a kernel without a store directory. With `shares`, every put is charged to its tenant's
 * share, content stored before included (see StoreShares.count), and a put past it is refused with KernelError
 * E_QUOTA.
 */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, Uint8Array>();
  readonly #shares: StoreShares | undefined;

  constructor(shares?: StoreShares) {
    this.#shares = shares;
  }

  async put(bytes: Uint8Array, tenant?: string): Promise<string> {
    const id = blobId(bytes);
    if (this.#blobs.has(id)) {
      this.#shares?.count(tenant, bytes.length + 64);
    } else {
      this.#shares?.take(tenant, bytes.length + 64);
      this.#blobs.set(id, Uint8Array.from(bytes));
    }
    return id;
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    if (!isBlobId(id)) return undefined;
    const bytes = this.#blobs.get(id);
    return bytes === undefined ? undefined : Uint8Array.from(bytes);
  }

  async list(): Promise<string[]> {
    return [...this.#blobs.keys()].sort();
  }
}

/**
 * Blobs as files `<dir>/<first two hex digits>/<id>` (mode 0600, directories 0700). A write goes to a
 * temporary file that is renamed into place, so a crash never leaves a partial blob under its id.
 */
export class DirectoryBlobStore implements BlobStore {
  readonly #dir: string;

  /** Throws TypeError when `dir` is not a non-empty path. The directory is created on first write. */
  constructor(dir: string) {
    if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a directory path');
    this.#dir = dir;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const id = blobId(bytes);
    const folder = join(this.#dir, id.slice(0, 2));
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const temp = join(folder, `.${id}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, bytes, { mode: 0o600, flag: 'wx' });
      await rename(temp, join(folder, id));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return id;
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    if (!isBlobId(id)) return undefined;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.#dir, id.slice(0, 2), id));
    } catch {
      return undefined;
    }
    // A plain Uint8Array, as the memory store returns: callers see one type whatever the store.
    return blobId(bytes) === id ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined;
  }

  async list(): Promise<string[]> {
    let folders: string[];
    try {
      folders = await readdir(this.#dir);
    } catch {
      return [];
    }
    const ids: string[] = [];
    for (const folder of folders) {
      if (!/^[0-9a-f]{2}$/.test(folder)) continue;
      for (const name of await readdir(join(this.#dir, folder))) if (isBlobId(name)) ids.push(name);
    }
    return ids.sort();
  }
}

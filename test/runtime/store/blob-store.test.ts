// One contract, run against every BlobStore implementation: snapshots and undo records rely on the same
// content addressing in memory and on disk (a real temp directory).
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { type BlobStore, DirectoryBlobStore, isBlobId, MemoryBlobStore } from '../../../runtime/store/blob-store.js';

const base = mkdtempSync(join(tmpdir(), 'isokernel-blobs-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let dirs = 0;

const IMPLEMENTATIONS: { name: string; open(): { store: BlobStore; dir?: string } }[] = [
  { name: 'MemoryBlobStore', open: () => ({ store: new MemoryBlobStore() }) },
  {
    name: 'DirectoryBlobStore',
    open: () => {
      const dir = join(base, `blobs-${dirs++}`);
      return { store: new DirectoryBlobStore(dir), dir };
    },
  },
];

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const bytes = (...values: number[]) => new Uint8Array(values);

describe.each(IMPLEMENTATIONS)('BlobStore contract: $name', (implementation) => {
  let store: BlobStore;
  let dir: string | undefined;
  beforeEach(() => {
    ({ store, dir } = implementation.open());
  });

  it('property: put returns the SHA-256 of the content and get returns the same bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 256 }), async (content) => {
        const id = await store.put(content);
        expect(id).toBe(sha256(content));
        expect(await store.get(id)).toEqual(content);
      }),
      { numRuns: 25 },
    );
  });

  it('the empty blob is a blob', async () => {
    const id = await store.put(new Uint8Array());
    expect(await store.get(id)).toEqual(new Uint8Array());
  });

  it('the same content is stored once', async () => {
    await store.put(bytes(1, 2, 3));
    await store.put(bytes(1, 2, 3));
    expect(await store.list()).toEqual([sha256(bytes(1, 2, 3))]);
  });

  it('list returns every id, sorted', async () => {
    const ids = await Promise.all([bytes(1), bytes(2), bytes(3)].map((content) => store.put(content)));
    expect(await store.list()).toEqual([...ids].sort());
  });

  it('list of an empty store is empty', async () => {
    expect(await store.list()).toEqual([]);
  });

  it('get of an unknown id is undefined', async () => {
    expect(await store.get('0'.repeat(64))).toBeUndefined();
  });

  it.each(['../../etc/passwd', 'A'.repeat(64), '0'.repeat(63), '', '0'.repeat(64) + '/'])(
    'get of the malformed id %j is undefined (never a path)',
    async (id) => {
      expect(isBlobId(id)).toBe(false);
      expect(await store.get(id)).toBeUndefined();
    },
  );

  it('bytes read back are a copy: mutating them does not change the blob', async () => {
    const id = await store.put(bytes(1, 2));
    (await store.get(id))?.fill(9);
    expect(await store.get(id)).toEqual(bytes(1, 2));
  });

  it('bytes written are copied: mutating them after put does not change the blob', async () => {
    const content = bytes(1, 2);
    const id = await store.put(content);
    content.fill(9);
    expect(await store.get(id)).toEqual(bytes(1, 2));
  });

  it.runIf(implementation.name === 'DirectoryBlobStore')('a blob changed on disk reads as missing', async () => {
    const id = await store.put(bytes(1, 2, 3));
    writeFileSync(join(dir!, id.slice(0, 2), id), bytes(6, 6, 6));
    expect(await store.get(id)).toBeUndefined();
  });

  it.runIf(implementation.name === 'DirectoryBlobStore')(
    'files are 0600 in 0700 folders, no temp file left',
    async () => {
      const id = await store.put(bytes(4));
      const folder = join(dir!, id.slice(0, 2));
      expect(statSync(folder).mode & 0o777).toBe(0o700);
      expect(statSync(join(folder, id)).mode & 0o777).toBe(0o600);
      expect(readdirSync(folder)).toEqual([id]);
    },
  );
});

describe('DirectoryBlobStore', () => {
  it('a directory that does not exist yet lists nothing and is created on the first put', async () => {
    const dir = join(base, 'later', 'blobs');
    const store = new DirectoryBlobStore(dir);
    expect(await store.list()).toEqual([]);
    await store.put(bytes(1));
    expect(statSync(dir).isDirectory()).toBe(true);
  });

  it('throws TypeError for an empty directory path', () => {
    expect(() => new DirectoryBlobStore('')).toThrow(TypeError);
  });
});

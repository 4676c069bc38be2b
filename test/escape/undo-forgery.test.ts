// Attack: make `kernel.rollback` act on a file the rollback was not authorized for. Rollback authorizes the
// record's action and resource for the host, then hands the record's tool data to the tool's undo, which
// names its own path. Someone who can write the kernel's kv store (an agent before the store was kept out of
// the fs roots, a program run by proc.exec, a shared host account) rewrites an undo record so that the
// authorized resource stays inside the host's grant while the data's path points at a file the host's policy
// does not cover. Also: a file replaced by a symlink before a forced rollback, and a record whose data path
// is spelled unnormalized.

import { mkdir, mkdtemp, readFile, realpath, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, Kernel } from '../../index.js';
import { ISOLATION_MODES } from '../helpers/kernel.js';

// Every attack of this suite runs against both isolation tiers.
describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let base = '';
  let root = '';

  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-undo-forgery-')));
    root = join(base, 'root');
    await mkdir(join(root, 'public'), { recursive: true });
    await mkdir(join(root, 'private'), { recursive: true });
    await writeFile(join(root, 'private', 'ledger.txt'), 'the real ledger');
    await writeFile(join(base, 'outside.txt'), 'outside');
  });

  afterEach(() => rm(base, { recursive: true, force: true }));

  function open(actions: readonly string[] = ['fs.write', 'fs.delete']): Kernel {
    return Kernel.create({
      isolation,
      store: join(base, 'store'),
      tools: createFsTools({ roots: [root] }),
      policy: { capabilities: actions.map((action) => ({ action, resource: `${root}/public/**` })) },
    });
  }

  /** An agent writes `path`; returns the undo record id. The kernel is closed afterwards. */
  async function agentWrites(path: string, content: string): Promise<string> {
    const kernel = open();
    try {
      const result = await kernel.run({
        code: `export default async (a) => (await sys.tool('fs.write', a)).recordId`,
        input: { path, content },
      });
      if (!result.ok) throw new Error(JSON.stringify(result.error));
      return String(result.value);
    } finally {
      await kernel.close();
    }
  }

  /** Rewrites the stored record's tool data with `edit` (the kernel must be closed). */
  async function tamper(
    id: string,
    edit: (data: Record<string, unknown>, record: Record<string, unknown>) => void,
  ): Promise<void> {
    const db = new ClassicLevel<string, Record<string, unknown>>(join(base, 'store', 'kv'), { valueEncoding: 'json' });
    try {
      const record = await db.get(`undo:${id}`);
      if (record === undefined) throw new Error('no record');
      const data = record.data as Record<string, unknown>;
      edit(data, record);
      await db.put(`undo:${id}`, record);
    } finally {
      await db.close();
    }
  }

  async function rollback(id: string, force = false, actions?: readonly string[]) {
    const kernel = open(actions);
    try {
      return await kernel.rollback(id, { force });
    } finally {
      await kernel.close();
    }
  }

  describe('undo record forgery', () => {
    it('a record authorized for a public path cannot delete a private file named in its data', async () => {
      const id = await agentWrites(`${root}/public/new.txt`, 'x');
      await tamper(id, (data) => {
        data.path = `${root}/private/ledger.txt`;
      });
      const result = await rollback(id, true);
      expect(result).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
      expect(await readFile(join(root, 'private', 'ledger.txt'), 'utf8')).toBe('the real ledger');
    });

    it('a record authorized for a public path cannot overwrite a private file named in its data', async () => {
      await writeFile(join(root, 'public', 'a.txt'), 'before');
      const id = await agentWrites(`${root}/public/a.txt`, 'after');
      await tamper(id, (data) => {
        data.path = `${root}/private/ledger.txt`;
      });
      const result = await rollback(id, true);
      expect(result).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
      expect(await readFile(join(root, 'private', 'ledger.txt'), 'utf8')).toBe('the real ledger');
      expect(await readFile(join(root, 'public', 'a.txt'), 'utf8')).toBe('after');
    });

    it('a created-file record relabelled as fs.write cannot delete under a write-only grant', async () => {
      const id = await agentWrites(`${root}/public/keep.txt`, 'keep');
      await tamper(id, (_data, record) => {
        record.action = 'fs.write';
      });
      const result = await rollback(id, true, ['fs.write']);
      expect(result).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_DENIED' } });
      expect(await readFile(join(root, 'public', 'keep.txt'), 'utf8')).toBe('keep');
    });

    it('a data path outside the roots or unnormalized is refused before any effect', async () => {
      const id = await agentWrites(`${root}/public/b.txt`, 'x');
      await tamper(id, (data) => {
        data.path = `${root}/public/../../outside.txt`;
      });
      expect(await rollback(id, true)).toMatchObject({ status: 'ERROR', error: { code: 'E_TOOL_FAILED' } });
      expect(await readFile(join(base, 'outside.txt'), 'utf8')).toBe('outside');
    });

    it('a file replaced by a symlink before a forced rollback is not followed', async () => {
      await writeFile(join(root, 'public', 'c.txt'), 'before');
      const id = await agentWrites(`${root}/public/c.txt`, 'after');
      await unlink(join(root, 'public', 'c.txt'));
      await symlink(join(root, 'private', 'ledger.txt'), join(root, 'public', 'c.txt'));
      const result = await rollback(id, true);
      expect(result.status).not.toBe('OK');
      expect(await readFile(join(root, 'private', 'ledger.txt'), 'utf8')).toBe('the real ledger');
    });
  });
});

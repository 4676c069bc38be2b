import { describe, expect, it } from 'vitest';
import { EMPTY_LABEL } from '../../../runtime/labels/label.js';
import { HeldMemoryPool } from '../../../runtime/process/held-memory.js';
import { MemoryKvStore } from '../../../runtime/store/kv-store.js';
import { StoreShares } from '../../../runtime/store/store-shares.js';
import { UndoJournal } from '../../../runtime/tool-use/undo-journal.js';

const capture = { action: 'fs.write', resource: '/workspace/a.txt', data: { v: 1 } };

describe('UndoJournal', () => {
  it('saves a record under a fresh id and reads it back', async () => {
    const journal = new UndoJournal(new MemoryKvStore());
    const id = await journal.save('fs.write', 'agent-1', capture, undefined, EMPTY_LABEL);
    expect(id).toMatch(/^u_[0-9a-f]{32}$/);
    expect(await journal.get(id)).toMatchObject({ id, tool: 'fs.write', agent: 'agent-1', ...capture });
    expect((await journal.list(10)).map((record) => record.id)).toEqual([id]);
  });

  it('refuses a malformed id with E_BAD_ARG and an unknown one with E_NOT_FOUND', async () => {
    const journal = new UndoJournal(new MemoryKvStore());
    await expect(journal.get('../evil')).rejects.toMatchObject({ code: 'E_BAD_ARG' });
    await expect(journal.get(`u_${'0'.repeat(32)}`)).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(
      journal.save('fs.write', 'a', { action: 'not an action', resource: '/x', data: null }, undefined, EMPTY_LABEL),
    ).rejects.toMatchObject({
      code: 'E_BAD_ARG',
    });
  });

  it('claims a record for one rollback at a time', async () => {
    const journal = new UndoJournal(new MemoryKvStore());
    const id = await journal.save('fs.write', 'agent-1', capture, undefined, EMPTY_LABEL);
    const release = journal.claim(id);
    expect(() => journal.claim(id)).toThrow(expect.objectContaining({ code: 'E_TOOL_FAILED' }));
    release();
    journal.claim(id)();
  });

  it("a record stays on its tenant's share when the host marks it rolled back", async () => {
    // Rewritten as the host's, a rolled-back record left its tenant's share while it stayed in memory.
    const shares = new StoreShares(new HeldMemoryPool(1_000_000), 100_000);
    const journal = new UndoJournal(new MemoryKvStore(shares));
    const id = await journal.save('fs.write', 'agent-1', capture, 'mallory', EMPTY_LABEL);
    const charged = shares.used('mallory');
    expect(charged).toBeGreaterThan(0);
    await journal.markRolledBack(await journal.get(id));
    expect((await journal.get(id)).rolledBackAt).toBeTypeOf('number');
    expect(shares.used('mallory')).toBeGreaterThanOrEqual(charged);
    expect(shares.pool.used).toBe(shares.used('mallory'));
  });

  it("keeps the saving call's label; a record saved without one reads as the top", async () => {
    const kv = new MemoryKvStore();
    const journal = new UndoJournal(kv);
    const id = await journal.save('fs.write', 'agent-1', capture, undefined, ['secret']);
    expect((await journal.get(id)).label).toEqual(['secret']);
    // As an older kernel stored it: no label.
    const { label: _, ...old } = await journal.get(id);
    await kv.put(`undo:${id}`, old);
    expect((await journal.get(id)).label).toEqual(['*']);
    expect((await journal.list(10))[0]?.label).toEqual(['*']);
  });
});

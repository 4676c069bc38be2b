import { describe, expect, it } from 'vitest';
import { foldedKey, pathLabels } from '../../tools/fs-path-labels.js';
import { memoryLabelStore } from '../helpers/tool-context.js';

describe('pathLabels', () => {
  it('mirrors path keys (and prefixed path keys) under their folded key, apart from every exact key', () => {
    expect(foldedKey('/ws/INBOX./1')).toBe('folded:/ws/inbox/1');
    expect(foldedKey('removed-from:/ws/Out')).toBe('folded:removed-from:/ws/out');
    expect(foldedKey('mcp:server')).toBeUndefined();
    expect(foldedKey('untracked-writes')).toBeUndefined();
    expect(foldedKey('a/b')).toBeUndefined();
  });

  it('a label kept under one spelling is read under another; a write under one sets both', async () => {
    const store = memoryLabelStore();
    const labels = pathLabels(store);
    expect(await labels.raise('/ws/out/page.txt', ['web'])).toEqual(['web']);
    expect(await labels.get('/ws/OUT/PAGE.txt')).toEqual(['web']);
    // Another name that folds alike keeps its own exact key: the folded one only adds.
    await labels.set('/ws/Out/Page.txt', []);
    expect(await labels.get('/ws/out/page.txt')).toEqual(['web']);
    expect(await labels.get('/ws/OUT/PAGE.txt')).toEqual([]);
    // Keys that are not paths pass through untouched.
    await labels.raise('mcp:s', ['email']);
    expect(await store.get('mcp:s')).toEqual(['email']);
    expect(await labels.all()).toEqual(['email', 'web']);
  });
});

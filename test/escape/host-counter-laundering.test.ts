import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, Kernel, ObservedRefusal } from '../../index.js';
import { createFsTools } from '../../tools/fs.js';

/**
 * Attack: a host path tells of a counter a `secret` use moved, and answers clean. The host's policy grants are
 * shared by everything the host does, so one `secret` submit (or an `execute` run of `mcp serve`) spends uses
 * that a later rollback, delegation or listing reads: `kernel.rollback` was refused E_CAP_EXHAUSTED or not by
 * one secret bit, `kernel.delegate` likewise, and `kernel.capabilities` / `kernel.authority.list` showed one use
 * fewer, each without a label (review 99; `kernel.submit` took the label in pass 97's fix). Each now answers with
 * the label of the uses that moved what it read, and records it.
 */
const tick = defineTool({
  name: 'tick',
  description: 'counts a slot',
  input: z.strictObject({ slot: z.string() }),
  resource: (args) => args.slot,
  target: 'slot',
  run: () => 'ok',
});

let kernel: Kernel | undefined;
let base = '';
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  if (base !== '') await rm(base, { recursive: true, force: true });
  base = '';
});

const outcomes = (k: Kernel, syscall: string) =>
  k.audit.records().filter((r) => r.agent === 'host' && r.syscall === syscall && r.phase === 'outcome');

/** A kernel whose host may write `maxUses` times in a fresh root that holds `a.txt`. */
async function writer(maxUses: number): Promise<Kernel> {
  base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-host-counter-')));
  const root = join(base, 'root');
  await mkdir(root);
  await writeFile(join(root, 'a.txt'), 'original');
  kernel = Kernel.create({
    tools: createFsTools({ roots: [root] }),
    policy: { capabilities: [{ action: 'fs.write', resource: `${root}/**`, max_uses: maxUses }] },
  });
  return kernel;
}

describe('host answers that read a counter a secret use moved', () => {
  it('kernel.rollback: refused or not by the secret use, the answer and its record carry secret', async () => {
    const kernel = await writer(2);
    const write = await kernel.submit({ action: 'fs.write', params: { path: 'a.txt', content: 'a' } });
    expect(write.status).toBe('OK');
    const undo = (write.data as { recordId: string }).recordId;
    expect(
      await kernel.submit({ action: 'fs.write', params: { path: 'b.txt', content: 'b' }, label: ['secret'] }),
    ).toMatchObject({ status: 'OK' });
    const rollback = await kernel.rollback(undo);
    expect(rollback).toMatchObject({ status: 'DENIED', error: { code: 'E_CAP_EXHAUSTED' } });
    expect(rollback.label).toContain('secret');
    expect(outcomes(kernel, 'rollback').at(-1)?.label).toContain('secret');
  });

  it('kernel.rollback that the counter allows carries the label of the uses it read', async () => {
    const kernel = await writer(3);
    const write = await kernel.submit({
      action: 'fs.write',
      params: { path: 'a.txt', content: 'a' },
      label: ['secret'],
    });
    const rollback = await kernel.rollback((write.data as { recordId: string }).recordId);
    expect(rollback).toMatchObject({ status: 'OK', label: ['secret'] });
  });

  it('kernel.delegate, kernel.capabilities and kernel.authority.list', async () => {
    kernel = Kernel.create({
      tools: [tick],
      policy: { capabilities: [{ action: 'tick', resource: 'd0', max_uses: 2 }] },
    });
    const [rule] = kernel.capabilities(kernel.hostPublicKey);
    expect(rule).toMatchObject({ remainingUses: 2, label: [] });
    const clean = kernel.delegate(rule?.id ?? '', kernel.hostPublicKey, {});
    expect(clean.label).toEqual([]);

    await kernel.submit({ action: 'tick', target: 'd0', label: ['secret'] });
    expect(kernel.capabilities(kernel.hostPublicKey)[0]).toMatchObject({ remainingUses: 1, label: ['secret'] });
    expect(kernel.authority.list(kernel.hostPublicKey)[0]).toMatchObject({ remainingUses: 1, label: ['secret'] });
    expect(kernel.delegate(rule?.id ?? '', kernel.hostPublicKey, {}).label).toEqual(['secret']);

    await kernel.submit({ action: 'tick', target: 'd0' });
    let refused: unknown;
    try {
      kernel.delegate(rule?.id ?? '', kernel.hostPublicKey, {});
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ObservedRefusal);
    expect(refused).toMatchObject({ code: 'E_CAP_EXHAUSTED', observed: ['secret'] });
    expect(outcomes(kernel, 'delegate').at(-1)).toMatchObject({ status: 'denied', code: 'E_CAP_EXHAUSTED' });
    expect(outcomes(kernel, 'delegate').at(-1)?.label).toContain('secret');
  });
});

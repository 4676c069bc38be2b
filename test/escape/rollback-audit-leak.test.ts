// Attack (red-team pass 69): put a secret into the audit log through a host's rollback. The log keeps the resource
// of a call labelled `secret` as a keyed digest, so an agent that read a PIN and wrote `out-<PIN>.txt` leaves no
// PIN in the write's records. Its undo record kept the path but not the label, and the host's rollback described
// itself with neither: its two records held the path, PIN and all, in clear. The undo record now keeps the saving
// call's label and the rollback's records carry it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createFsTools } from '../../index.js';
import { tempRootSuite } from '../helpers/fs-sandbox.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

const PIN = '4711';

// The records' text without their hex digests (hashes, argument digests, keyed digests of redacted resources), where
// four given digits turn up by chance about once in a hundred runs.
const spelled = (records: readonly object[]): string => JSON.stringify(records).replace(/[0-9a-f]{64}/g, '');
const suite = tempRootSuite('isokernel-rollback-leak-');

it.each(ISOLATION_MODES)('%s tier: a rollback of a secret write keeps the PIN out of the log', async (isolation) => {
  const root = suite.root;
  await mkdir(join(root, 'secret'));
  await writeFile(join(root, 'secret', 'pin.txt'), PIN);
  const kernel = testKernel({
    isolation,
    tools: createFsTools({ roots: [root] }),
    policy: {
      capabilities: [
        { action: 'fs.read', resource: `${root}/**` },
        { action: 'fs.write', resource: `${root}/**` },
        { action: 'fs.delete', resource: `${root}/**` },
      ],
      labels: { sources: [{ tool: 'fs.read', resource: `${root}/secret/**`, tags: ['secret'] }] },
    },
  });
  suite.kernel = kernel;
  const writer = await kernel.run({
    code: `export default async () => {
  const pin = (await sys.tool('fs.read', { path: 'secret/pin.txt' })).content;
  return (await sys.tool('fs.write', { path: 'out-' + pin + '.txt', content: 'x' })).recordId;
}`,
  });
  if (!writer.ok) throw new Error(`writer failed: ${writer.error.code}`);
  expect(spelled(kernel.audit.records({ limit: 100_000 }))).not.toContain(PIN);
  const rollback = await kernel.rollback(writer.value as string);
  expect(rollback).toMatchObject({ status: 'OK' });
  const records = kernel.audit.records({ limit: 100_000 });
  expect(spelled(records)).not.toContain(PIN);
  // The rollback's records carry the label of the call whose effect they undid.
  const undone = records.filter((record) => record.syscall === 'rollback' && record.action === 'fs.delete');
  expect(undone.map((record) => record.label)).toEqual([['secret'], ['secret']]);
});

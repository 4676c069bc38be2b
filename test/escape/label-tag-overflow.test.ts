// Attack: push a label past the 64 tags a label may hold, where tools tag data by something outsiders choose (a
// tag per mail sender, per site). Labels joined past 64 used to stay as they were, and the stores read a label
// past 64 back as `secret` ("corrupt: fail closed"):
// - what a `web` agent and another deleted from one directory, their labels passing 64 tags together, was kept
//   under a label that read back as `secret`: a clean agent listed the directory and sent what it learnt to a
//   sink refusing `web`;
// - the union of every file label a store keeps (what `proc.exec` output and truncated listings carry) passed 64
//   with no single label near it, so `cat` of a `web` file read back as `secret`, the same laundering;
// - a listing of entries whose labels passed 64 together failed `E_INTERNAL` (its tags "malformed");
// - an agent whose own label passed 64 could make no syscall at all: each was refused `E_INTERNAL` before its
//   effect, and without an audit record (an audit record holds at most 64 tags).
// - (pass 67, on the fix) a call under the top label logged its resource in clear: the audit log keeps the
//   resource of a `secret` call as a keyed digest, and the check looked for the string 'secret' in the label.
// A join past 64 tags is now the top label `*` (every tag): every sink that refuses any tag refuses it, a store
// keeps it as it is, and nothing reads a stored label past 64 (or a malformed one) as anything less.
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFsTools, createProcTool, type Kernel } from '../../index.js';
import { ISOLATION_MODES, testKernel } from '../helpers/kernel.js';

// Two vocabularies of outsider-chosen tags, 40 each: either fits a label, both together do not.
const senders = (prefix: string) => Array.from({ length: 40 }, (_, i) => `from:${prefix}${i}`);
const WEB_AND_ALICE = ['web', ...senders('alice').slice(1)];
const BOB = senders('bob');

describe.each(ISOLATION_MODES)('%s tier', (isolation) => {
  let kernel: Kernel | undefined;
  let base = '';

  beforeEach(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'isokernel-overflow-')));
    await mkdir(join(base, 'root'));
  });

  afterEach(async () => {
    await kernel?.close();
    kernel = undefined;
    await rm(base, { recursive: true, force: true });
  });

  function makeKernel(): Kernel {
    const root = join(base, 'root');
    kernel = testKernel({
      isolation,
      tools: [
        ...createFsTools({ roots: [root] }),
        createProcTool({ roots: [root], programs: { cat: { path: '/bin/cat', args: ['*'] } } }),
      ],
      policy: {
        capabilities: [
          { action: 'fs.read', resource: `${root}/**` },
          { action: 'fs.write', resource: `${root}/**` },
          { action: 'fs.list', resource: root },
          { action: 'fs.list', resource: `${root}/**` },
          { action: 'fs.delete', resource: `${root}/**` },
          { action: 'proc.exec', resource: '*' },
          { action: 'echo', resource: 'echo' },
          { action: 'noop', resource: 'noop' },
        ],
        labels: { sinks: [{ tool: 'echo', arg: 'text', deny: ['web'] }] },
      },
    });
    return kernel;
  }

  const write = (k: Kernel, label: string[], path: string) =>
    k.run({
      label,
      code: `export default async () => { await sys.tool('fs.write', { path: '${path}', content: 'PAYLOAD-${path}' }); }`,
    });

  /** A clean agent that reads `expr` and tries to send it to the `web`-refusing sink. */
  const SEND = (expr: string) => `export default async () => {
  const value = await (${expr});
  try { await sys.tool('echo', { text: value }); return { sent: value, label: await sys.label() }; }
  catch (e) { return { refused: e.code, label: await sys.label() }; }
}`;

  it('attack: what two agents deleted from a directory, 64 tags and more together, reads back as every tag', async () => {
    const k = makeKernel();
    await mkdir(join(base, 'root', 'd'));
    await writeFile(join(base, 'root', 'd', 'x'), 'x');
    await writeFile(join(base, 'root', 'd', 'y'), 'y');
    // What a directory no longer holds is the deleters' decision: a listing carries their labels.
    const remove = (label: string[], path: string) =>
      k.run({ label, code: `export default async () => { await sys.tool('fs.delete', { path: '${path}' }); }` });
    expect(await remove(WEB_AND_ALICE, 'd/x')).toMatchObject({ ok: true });
    expect(await remove(BOB, 'd/y')).toMatchObject({ ok: true });
    const reader = await k.run({
      code: SEND(`sys.tool('fs.list', { path: 'd' }).then((l) => String(l.entries.length))`),
    });
    expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', label: ['*'] } });
  });

  it("attack: the store's union of file labels passes 64 tags, and `cat` of a web file reads back as every tag", async () => {
    const k = makeKernel();
    expect(await write(k, WEB_AND_ALICE, 'web.txt')).toMatchObject({ ok: true });
    expect(await write(k, BOB, 'bob.txt')).toMatchObject({ ok: true });
    const reader = await k.run({
      code: SEND(`sys.tool('proc.exec', { program: 'cat', args: ['web.txt'] }).then((r) => r.stdout)`),
    });
    expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', label: ['*'] } });
  });

  it('a listing whose entries carry 64 tags and more together answers, under every tag', async () => {
    const k = makeKernel();
    expect(await write(k, WEB_AND_ALICE, 'a.txt')).toMatchObject({ ok: true });
    expect(await write(k, BOB, 'b.txt')).toMatchObject({ ok: true });
    // Before, the tool's 80 tags were refused as malformed: the listing failed E_INTERNAL.
    const reader = await k.run({
      code: SEND(`sys.tool('fs.list', { path: '.' }).then((l) => l.entries.map((e) => e.name).join(','))`),
    });
    expect(reader).toMatchObject({ ok: true, value: { refused: 'E_TAINT', label: ['*'] } });
  });

  it('an agent whose label passes 64 tags keeps making syscalls, each audited; every sink that refuses a tag refuses it', async () => {
    const k = makeKernel();
    expect(await write(k, BOB, 'bob.txt')).toMatchObject({ ok: true });
    const before = k.audit.records({ limit: 100_000 }).length;
    const result = await k.run({
      label: senders('alice'),
      code: `export default async () => {
  const read = await sys.tool('fs.read', { path: 'bob.txt' });
  const label = await sys.label();
  const noop = await sys.tool('noop', {}).then(() => 'ok', (e) => e.code);
  const echo = await sys.tool('echo', { text: read.content }).then(() => 'sent', (e) => e.code);
  return { label, noop, echo };
}`,
    });
    expect(result).toMatchObject({ ok: true, value: { label: ['*'], noop: 'ok', echo: 'E_TAINT' }, label: ['*'] });
    const records = k.audit.records({ limit: 100_000 }).slice(before);
    // Both calls made under the top label have an intent and an outcome record carrying it (their resources kept
    // as digests, as a `secret` call's are), and so does the outcome of the read that took the agent there.
    const tools = records.filter((record) => record.syscall === 'tool' && record.label[0] === '*');
    expect(tools.map((record) => [record.action, record.phase, record.code ?? null])).toEqual([
      ['fs.read', 'outcome', null],
      ['noop', 'intent', null],
      ['noop', 'outcome', null],
      ['echo', 'intent', null],
      ['echo', 'outcome', 'E_TAINT'],
    ]);
  });

  it('a call under the top label keeps its resource out of the audit log, as a `secret` call does', async () => {
    const k = makeKernel();
    const PIN = 'PIN-4921';
    expect(await write(k, ['from:carol'], 'overflow.txt')).toMatchObject({ ok: true });
    // 64 tags, `secret` among them; the file's tag makes 65.
    const result = await k.run({
      label: [...senders('alice'), ...senders('bob').slice(0, 23), 'secret'],
      code: `export default async () => {
  await sys.tool('fs.read', { path: 'overflow.txt' }).catch(() => {});
  return await sys.tool('fs.read', { path: '${PIN}.txt' }).then(() => 'read', (e) => e.code);
}`,
    });
    expect(result).toMatchObject({ ok: true, value: 'E_NOT_FOUND' });
    expect(result.label).toEqual(['*']);
    const reads = k.audit.records({ limit: 100_000 }).filter((record) => record.action === 'fs.read');
    expect(reads.length).toBeGreaterThanOrEqual(4);
    for (const record of reads) expect(record.resource).toMatch(/^redacted:hmac-sha256:/);
    expect(JSON.stringify(k.audit.records({ limit: 100_000 }))).not.toContain(PIN);
  });
});

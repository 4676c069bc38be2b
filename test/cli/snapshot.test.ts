import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import superjson, { type SuperJSONResult } from 'superjson';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { snapshotShow } from '../../cli/snapshot.js';
import { Kernel } from '../../index.js';
import { json, type Workspace, workspace } from '../helpers/cli-process.js';

// `isokernel snapshot ls / show` and `isokernel run --restore` in real processes, over a store of the
// test's own. The agent branches on sys.restored(): a first run freezes its state, a restored run reads it
// back and freezes it again unchanged, which must give the same content id.

const COUNTER = `
export default async function main(input) {
  const previous = await sys.restored();
  if (previous === undefined || previous === null) {
    await sys.mem.put('seen', 'first run');
    const id = await sys.snapshot({ count: 1, items: ['a', 'b'], note: input?.note ?? null });
    return { restored: false, id };
  }
  const again = await sys.snapshot(previous);
  return { restored: true, state: previous, memory: await sys.mem.get('seen'), id: again };
}
`;

interface FirstRun {
  restored: false;
  id: string;
}

let ws: Workspace;
let agent: string;
beforeEach(() => {
  ws = workspace();
  agent = ws.file('counter.js', COUNTER);
});
afterEach(() => ws.cleanup());

async function snapshotOnce(input: unknown = { note: 'hi' }): Promise<string> {
  const run = await ws.run(['run', agent, '--store', ws.store, '--input', JSON.stringify(input)]);
  expect(run.status, run.stderr).toBe(0);
  const out = json<FirstRun>(run);
  expect(out.restored).toBe(false);
  expect(out.id).toMatch(/^[0-9a-f]{64}$/);
  return out.id;
}

const snapshotFile = (id: string): string => join(ws.store, 'snapshots', `${id}.json`);

/** Rewrites the snapshot's body with `edit`; with `rehash`, also moves it to the id of the new body. */
function tamper(id: string, edit: (body: string) => string, rehash: boolean): string {
  const envelope = JSON.parse(readFileSync(snapshotFile(id), 'utf8')) as { id: string; body: string };
  const body = edit(envelope.body);
  expect(body).not.toBe(envelope.body);
  const newId = rehash ? createHash('sha256').update(body).digest('hex') : id;
  writeFileSync(snapshotFile(id), JSON.stringify({ ...envelope, id: newId, body }));
  if (newId !== id) renameSync(snapshotFile(id), snapshotFile(newId));
  return newId;
}

describe('isokernel snapshot ls / show', { timeout: 90_000 }, () => {
  it('lists a snapshot with its program and shows its verified content as JSON', async () => {
    const id = await snapshotOnce();
    const second = await snapshotOnce({ note: 'other' });
    expect(second).not.toBe(id);

    const ls = await ws.run(['snapshot', 'ls', '--store', ws.store]);
    expect(ls.status, ls.stderr).toBe(0);
    const lines = ls.stdout.trim().split('\n').sort();
    expect(lines).toEqual([`${id}  program=counter.js label=[]`, `${second}  program=counter.js label=[]`].sort());

    const show = await ws.run(['snapshot', 'show', id, '--store', ws.store]);
    expect(show.status, show.stderr).toBe(0);
    expect(json(show)).toMatchObject({
      id,
      program: { name: 'counter.js', id: expect.stringMatching(/^[0-9a-f]{64}$/) },
      capabilities: [],
      label: [],
      memory: [['seen', 'first run', []]],
      state: { count: 1, items: ['a', 'b'], note: 'hi' },
    });
  });

  it('prints nothing for a store without snapshots', async () => {
    const ls = await ws.run(['snapshot', 'ls', '--store', ws.store]);
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toBe('');
  });

  it('refuses an unknown id and a path-like id with E_BAD_SNAPSHOT and exit 1', async () => {
    await snapshotOnce();
    for (const id of ['0'.repeat(64), '../x', '../../etc/passwd', 'A'.repeat(64)]) {
      const show = await ws.run(['snapshot', 'show', id, '--store', ws.store]);
      expect(show.status, id).toBe(1);
      expect(show.stdout, id).toBe('');
      expect(show.stderr, id).toMatch(/^isokernel snapshot show: E_BAD_SNAPSHOT: /);
    }
  });

  it('reports an edited snapshot INVALID in ls and refuses to show it', async () => {
    const id = await snapshotOnce();
    const intact = await snapshotOnce({ note: 'intact' });
    tamper(id, (body) => body.replace('"count":1', '"count":9'), false);

    const ls = await ws.run(['snapshot', 'ls', '--store', ws.store]);
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toContain(`${id}  INVALID (`);
    expect(ls.stdout).toContain(`${intact}  program=counter.js`);
    const show = await ws.run(['snapshot', 'show', id, '--store', ws.store]);
    expect(show.status).toBe(1);
    expect(show.stdout).toBe('');
    expect(show.stderr).toMatch(/E_BAD_SNAPSHOT: snapshot [0-9a-f]{64} does not match its content id/);
  });

  it('refuses an edited snapshot filed under the hash of its new body: the signature no longer matches', async () => {
    const id = await snapshotOnce();
    const forged = tamper(id, (body) => body.replace('"count":1', '"count":9'), true);
    const ls = await ws.run(['snapshot', 'ls', '--store', ws.store]);
    expect(ls.stdout.trim()).toBe(`${forged}  INVALID (snapshot ${forged} is not signed by this kernel)`);
    const show = await ws.run(['snapshot', 'show', forged, '--store', ws.store]);
    expect(show.status).toBe(1);
    expect(show.stderr).toMatch(/E_BAD_SNAPSHOT: snapshot [0-9a-f]{64} is not signed by this kernel/);
  });

  it('refuses a truncated snapshot', async () => {
    const id = await snapshotOnce();
    const text = readFileSync(snapshotFile(id), 'utf8');
    writeFileSync(snapshotFile(id), text.slice(0, text.length / 2));
    const ls = await ws.run(['snapshot', 'ls', '--store', ws.store]);
    expect(ls.stdout).toContain(`${id}  INVALID (`);
    const show = await ws.run(['snapshot', 'show', id, '--store', ws.store]);
    expect(show.status).toBe(1);
    expect(show.stderr).toMatch(/E_BAD_SNAPSHOT/);
  });
});

describe('isokernel run --restore', { timeout: 90_000 }, () => {
  it('starts the snapshot program with its state, and the same state snapshots to the same id', async () => {
    const id = await snapshotOnce();
    const restored = await ws.run(['run', '--restore', id, '--store', ws.store]);
    expect(restored.status, restored.stderr).toBe(0);
    expect(json(restored)).toEqual({
      restored: true,
      state: { count: 1, items: ['a', 'b'], note: 'hi' },
      memory: 'first run',
      id,
    });
    // Restoring twice forks: each run starts from the same frozen state.
    const again = await ws.run(['run', '--restore', id, '--store', ws.store]);
    expect(json(again)).toMatchObject({ restored: true, id });
    expect(readdirSync(join(ws.store, 'snapshots')).filter((name) => name.endsWith('.json'))).toEqual([`${id}.json`]);
  });

  it('exits 1 with E_BAD_SNAPSHOT for a tampered, an unknown or a malformed snapshot id', async () => {
    const id = await snapshotOnce();
    tamper(id, (body) => body.replace('"count":1', '"count":9'), false);
    for (const bad of [id, '0'.repeat(64), '../x']) {
      const run = await ws.run(['run', '--restore', bad, '--store', ws.store]);
      expect(run.status, `${bad}: ${run.stderr}`).toBe(1);
      expect(run.stderr, bad).toMatch(/E_BAD_SNAPSHOT/);
    }
  });
});

describe('isokernel snapshot show prints rich state faithfully', () => {
  // snapshotShow in this process (no built bin needed): what it prints is the point.
  async function snapshotOf(state: string): Promise<string> {
    const kernel = Kernel.create({ store: ws.store, isolation: 'inline' });
    try {
      const made = await kernel.run({ code: `export default async () => sys.snapshot(${state})` });
      expect(made.ok).toBe(true);
      return (made as { value: string }).value;
    } finally {
      await kernel.close();
    }
  }

  async function show(id: string): Promise<{ printed: { state: unknown; stateMeta?: unknown }; state: unknown }> {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (text: string) => void out.push(text), err: (text: string) => void err.push(text) };
    expect(await snapshotShow(ws.store, id, io), err.join('\n')).toBe(0);
    const printed = JSON.parse(out.join('\n')) as { state: SuperJSONResult['json']; stateMeta?: unknown };
    return {
      printed,
      state: superjson.deserialize({ json: printed.state, meta: printed.stateMeta } as SuperJSONResult),
    };
  }

  it('shows a Map and a Set with their entries, not as {} (red-team pass 71)', async () => {
    const id = await snapshotOf(`{ m: new Map([['plan', 'delete /srv after restore']]), s: new Set(['exfiltrate']) }`);
    const { printed, state } = await show(id);
    expect(printed.state).toEqual({ m: [['plan', 'delete /srv after restore']], s: ['exfiltrate'] });
    expect(state).toEqual({ m: new Map([['plan', 'delete /srv after restore']]), s: new Set(['exfiltrate']) });
  });

  it('shows a BigInt and a Date instead of calling the snapshot unreadable (red-team pass 71)', async () => {
    const { printed, state } = await show(await snapshotOf('{ b: 10n, when: new Date(0) }'));
    expect(printed.state).toEqual({ b: '10', when: '1970-01-01T00:00:00.000Z' });
    expect(state).toEqual({ b: 10n, when: new Date(0) });
  });
});

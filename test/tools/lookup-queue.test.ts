import { describe, expect, it } from 'vitest';
import { LookupAbortedError, LookupQueue, PER_OWNER, TOTAL } from '../../tools/lookup-queue.js';

// A resolver whose lookups settle when the test says: the started ones, by host name.
function controlled() {
  const started: string[] = [];
  const pending = new Map<string, (addresses: readonly string[]) => void>();
  const queue = new LookupQueue(
    (hostname) =>
      new Promise((resolve) => {
        started.push(hostname);
        pending.set(hostname, resolve);
      }),
  );
  const answer = (hostname: string) => pending.get(hostname)?.(['127.0.0.1']);
  return { queue, started, answer };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('lookup-queue', () => {
  it('starts one lookup of an owner at a time, the rest in order as earlier ones settle', async () => {
    const { queue, started, answer } = controlled();
    expect([PER_OWNER, TOTAL]).toEqual([1, 2]);
    const results = ['a1', 'a2', 'a3'].map((name) => queue.lookup(name, 'a'));
    await tick();
    expect(started).toEqual(['a1']);
    answer('a1');
    await expect(results[0]).resolves.toEqual(['127.0.0.1']);
    await tick();
    expect(started).toEqual(['a1', 'a2']);
    expect(queue.started).toBe(1);
  });

  it('starts at most two in the process, and gives a free place to the owner with fewest running', async () => {
    const { queue, started, answer } = controlled();
    ['tree', 'tree', 'tree', 'x', 'y'].forEach((owner, i) => void queue.lookup(`${owner}-${i}`, owner));
    await tick();
    expect(started).toEqual(['tree-0', 'x-3']);
    // y has none running: it goes before the tree's waiting lookups, though they waited longer.
    answer('x-3');
    await tick();
    expect(started).toEqual(['tree-0', 'x-3', 'y-4']);
    answer('tree-0');
    await tick();
    expect(started).toEqual(['tree-0', 'x-3', 'y-4', 'tree-1']);
  });

  it('drops a waiting lookup whose call ended, and counts a started one until it settles', async () => {
    const { queue, started, answer } = controlled();
    const controller = new AbortController();
    const first = queue.lookup('s1', 'a', controller.signal);
    const waiting = queue.lookup('s2', 'a', controller.signal);
    await tick();
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(LookupAbortedError);
    await expect(queue.lookup('late', 'a', controller.signal)).rejects.toBeInstanceOf(LookupAbortedError);
    // The started one still counts: another lookup of the owner waits for it.
    void queue.lookup('s3', 'a');
    await tick();
    expect(started).toEqual(['s1']);
    answer('s1');
    await expect(first).resolves.toEqual(['127.0.0.1']);
    await tick();
    expect(started).toEqual(['s1', 's3']);
  });

  it('gives the place of a lookup that never settles back after the hold time', async () => {
    const started: string[] = [];
    const queue = new LookupQueue((hostname) => {
      started.push(hostname);
      return new Promise(() => {});
    }, 50);
    for (const owner of ['a', 'b', 'c']) void queue.lookup(owner, owner);
    await tick();
    expect(started).toEqual(['a', 'b']);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('passes a failure on and frees the place, whether the resolver rejects, throws or answers at once', async () => {
    const rejecting = new LookupQueue(async (hostname) => {
      throw new Error(`no ${hostname}`);
    });
    await expect(rejecting.lookup('x', 'a')).rejects.toThrow('no x');
    expect(rejecting.started).toBe(0);
    const throwing = new LookupQueue((hostname) => {
      throw new Error(`no ${hostname}`);
    });
    await expect(throwing.lookup('y', 'a')).rejects.toThrow('no y');
    expect(throwing.started).toBe(0);
    // A host's resolver written in plain JavaScript may answer with the array itself (review 148: the places leaked).
    const direct = new LookupQueue(((_hostname: string) => ['127.0.0.1']) as never);
    for (let i = 0; i < 5; i++) await expect(direct.lookup(`h${i}`, 'a')).resolves.toEqual(['127.0.0.1']);
    expect(direct.started).toBe(0);
  });
});

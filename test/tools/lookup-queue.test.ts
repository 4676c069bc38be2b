import { describe, expect, it } from 'vitest';
import { LookupAbortedError, LookupQueue, PER_AGENT, TOTAL } from '../../tools/lookup-queue.js';

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
  it('starts at most PER_AGENT lookups of one agent at once, the rest in order as earlier ones settle', async () => {
    const { queue, started, answer } = controlled();
    const names = ['a1', 'a2', 'a3', 'a4'];
    const results = names.map((name) => queue.lookup(name, 'a'));
    await tick();
    expect(PER_AGENT).toBe(2);
    expect(started).toEqual(['a1', 'a2']);
    answer('a1');
    await expect(results[0]).resolves.toEqual(['127.0.0.1']);
    await tick();
    expect(started).toEqual(['a1', 'a2', 'a3']);
    expect(queue.started).toBe(2);
  });

  it('starts at most TOTAL at once in the process, serving the agents in turn', async () => {
    const { queue, started, answer } = controlled();
    for (let agent = 0; agent < 6; agent++)
      for (let i = 0; i < 3; i++) void queue.lookup(`n${agent}-${i}`, `agent${agent}`);
    await tick();
    expect(started.length).toBe(TOTAL);
    // Each of the first four agents has its two; the others wait for a free place.
    expect(started).toEqual(['n0-0', 'n0-1', 'n1-0', 'n1-1', 'n2-0', 'n2-1', 'n3-0', 'n3-1']);
    answer('n0-0');
    await tick();
    // The place goes to an agent with none running, not to the agent that had it.
    expect(started.at(-1)).toBe('n4-0');
    // Among agents with none running, the one waiting longest.
    answer('n0-1');
    await tick();
    expect(started.at(-1)).toBe('n0-2');
    answer('n1-0');
    await tick();
    expect(started.at(-1)).toBe('n5-0');
  });

  it('drops a waiting lookup whose call ended, and counts a started one until it settles', async () => {
    const { queue, started, answer } = controlled();
    const controller = new AbortController();
    const first = queue.lookup('s1', 'a', controller.signal);
    void queue.lookup('s2', 'a', controller.signal);
    const waiting = queue.lookup('s3', 'a', controller.signal);
    await tick();
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(LookupAbortedError);
    await expect(queue.lookup('late', 'a', controller.signal)).rejects.toBeInstanceOf(LookupAbortedError);
    // The started two still count: another lookup of the agent waits for them.
    void queue.lookup('s4', 'a');
    await tick();
    expect(started).toEqual(['s1', 's2']);
    answer('s1');
    await expect(first).resolves.toEqual(['127.0.0.1']);
    await tick();
    expect(started).toEqual(['s1', 's2', 's4']);
  });

  it('passes a failure on and frees the place', async () => {
    const queue = new LookupQueue(async (hostname) => {
      throw new Error(`no ${hostname}`);
    });
    await expect(queue.lookup('x', 'a')).rejects.toThrow('no x');
    expect(queue.started).toBe(0);
  });
});

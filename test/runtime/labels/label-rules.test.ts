import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { makeLabel } from '../../../runtime/labels/label.js';
import { LabelRules } from '../../../runtime/labels/label-rules.js';
import { defineTool } from '../../../runtime/tool-use/tool-contract.js';

const fetchTool = defineTool({
  name: 'web.fetch',
  description: 'fetch',
  action: 'net.http',
  input: z.unknown(),
  labels: { source: ['web'], sinks: { url: ['secret'], body: ['secret'] } },
  run: () => null,
});
const sendTool = defineTool({
  name: 'email.send',
  description: 'send',
  input: z.unknown(),
  labels: { sinks: { '*': ['web', 'email'] } },
  run: () => null,
});

describe('LabelRules.sourceTags', () => {
  it('uses the tool declaration and adds policy sources matched by name or action and resource', () => {
    const rules = new LabelRules({
      sources: [
        { tool: 'net.http', resource: 'https://mail.example.com/**', tags: ['email'] },
        { tool: 'web.fetch', tags: ['untrusted'] },
      ],
      sinks: [],
    });
    expect(rules.sourceTags(fetchTool, 'https://mail.example.com/inbox')).toEqual(['email', 'untrusted', 'web']);
    expect(rules.sourceTags(fetchTool, 'https://news.example.com/')).toEqual(['untrusted', 'web']);
    expect(rules.sourceTags(sendTool, 'email.send')).toEqual([]);
  });
});

describe('LabelRules.sourceTags for tools that observe other actions', () => {
  const observer = (name: string, scope: 'resource' | 'subtree' | 'anywhere') =>
    defineTool({
      name,
      description: name,
      input: z.unknown(),
      labels: { observes: { actions: ['files.read'], scope } },
      run: () => null,
    });
  const rules = new LabelRules({
    sources: [{ tool: 'files.read', resource: '/w/inbox/**', tags: ['email'] }],
    sinks: [],
  });

  it('a source on an observed action tags the observer at the resource, and below it for a subtree observer', () => {
    const stat = observer('files.stat', 'resource');
    const list = observer('files.list', 'subtree');
    const exec = observer('exec', 'anywhere');
    expect(rules.sourceTags(stat, '/w/inbox/a.eml')).toEqual(['email']);
    expect(rules.sourceTags(stat, '/w/inbox')).toEqual([]);
    expect(rules.sourceTags(list, '/w/inbox')).toEqual(['email']);
    expect(rules.sourceTags(list, '/w')).toEqual(['email']);
    expect(rules.sourceTags(list, '/w/out')).toEqual([]);
    expect(rules.sourceTags(exec, 'git')).toEqual(['email']);
  });

  it('a source naming the observer itself matches by resource, below it for a subtree observer', () => {
    const own = new LabelRules({ sources: [{ tool: 'files.*', resource: '/w/inbox/**', tags: ['email'] }], sinks: [] });
    expect(own.sourceTags(observer('files.stat', 'resource'), '/w/inbox')).toEqual([]);
    expect(own.sourceTags(observer('files.list', 'subtree'), '/w/inbox')).toEqual(['email']);
  });

  it('defineTool refuses a malformed observes declaration', () => {
    const bad = { actions: ['Not An Action'] };
    const badScope = { actions: ['files.read'], scope: 'everything' } as unknown as { actions: string[] };
    expect(() =>
      defineTool({
        name: 'x.y',
        description: 'x',
        input: z.unknown(),
        labels: { observes: badScope },
        run: () => null,
      }),
    ).toThrow(TypeError);
    expect(() =>
      defineTool({ name: 'x.y', description: 'x', input: z.unknown(), labels: { observes: bad }, run: () => null }),
    ).toThrow(TypeError);
  });
});

describe('LabelRules.check', () => {
  const rules = new LabelRules(undefined);

  it('lets a clean call through and finds the first broken sink', () => {
    expect(rules.check(fetchTool, { url: 'x', body: 'y' }, makeLabel([]))).toBeUndefined();
    expect(rules.check(fetchTool, { url: 'x' }, makeLabel(['web']))).toBeUndefined();
    expect(rules.check(fetchTool, { url: 'x' }, makeLabel(['secret', 'web']))).toEqual({
      arg: 'url',
      tags: ['secret'],
    });
  });

  it('applies a rule only when its argument is present, and * always', () => {
    expect(rules.check(fetchTool, { headers: {} }, makeLabel(['secret']))).toBeUndefined();
    expect(rules.check(sendTool, { bcc: 'x' }, makeLabel(['email']))).toEqual({ arg: '*', tags: ['email'] });
    expect(rules.check(sendTool, 'not an object', makeLabel(['web']))).toEqual({ arg: '*', tags: ['web'] });
  });

  it('agrees with the rule read literally, on first sight of a label and on every repeat (the per-label cache)', () => {
    const tags = ['web', 'email', 'secret', 'pii', 'agent:a1'];
    const policy = new LabelRules({
      sources: [],
      sinks: [
        { tool: 'net.http', arg: 'url', deny: ['email'] },
        { tool: 'web.fetch', arg: 'headers', deny: ['pii', 'secret'] },
      ],
    });
    const sinks: [string, string[]][] = [
      ['url', ['email', 'secret']],
      ['body', ['secret']],
      ['headers', ['pii', 'secret']],
    ];
    const naive = (args: unknown, label: readonly string[]) => {
      const present = args !== null && typeof args === 'object' && !Array.isArray(args) ? args : undefined;
      for (const [arg, deny] of sinks) {
        if (present !== undefined && !Object.hasOwn(present, arg)) continue;
        const hit = label.filter((tag) => deny.includes(tag));
        if (hit.length > 0) return { arg, tags: hit };
      }
      return undefined;
    };
    const labels = tags.flatMap((a) => tags.map((b) => makeLabel([a, b])));
    const argsArb = fc.oneof(
      fc.subarray(['url', 'body', 'headers', 'to']).map((keys) => Object.fromEntries(keys.map((k) => [k, 'x']))),
      fc.constant('bare string'),
      fc.constant(['an', 'array']),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(labels.length - 1), argsArb, fc.boolean()), { maxLength: 30 }), (calls) => {
        for (const [index, args, thaw] of calls) {
          const label = thaw ? [...labels[index]!] : labels[index]!;
          expect(policy.check(fetchTool, args, label)).toEqual(naive(args, label));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('policy sinks only add: the tool’s own tags stay denied, new arguments add rules', () => {
    const policy = new LabelRules({
      sources: [],
      sinks: [
        { tool: 'net.http', arg: 'url', deny: ['email'] },
        { tool: 'web.fetch', arg: 'headers', deny: ['secret'] },
      ],
    });
    expect(policy.check(fetchTool, { url: 'x' }, makeLabel(['email']))).toEqual({ arg: 'url', tags: ['email'] });
    expect(policy.check(fetchTool, { url: 'x' }, makeLabel(['secret']))).toEqual({ arg: 'url', tags: ['secret'] });
    expect(policy.check(fetchTool, { headers: {} }, makeLabel(['secret']))).toEqual({
      arg: 'headers',
      tags: ['secret'],
    });
  });
});

// Attack: stall or grow the kernel through an MCP tool's JSON Schema. The kernel checks an agent's arguments
// against the schema the server declared, in its own process, before the server sees them, so the check must
// cost time linear in what both say:
// - `uniqueItems: true` on items not declared scalars made Ajv compare every pair: 20,000 small objects (160 KB)
//   held the kernel's event loop 8.2 s while the agent was charged 229 ms.
// - `format: url` (ajv-formats' full set) backtracks quadratically: `http://` and 40,000 `:` took 0.9 s.
// And a hostile server that exits after every call made the kernel relist and recompile its 400 tools on one
// module-wide Ajv instance per dialect, which caches every schema it compiled for ever: 7.5 MB of heap a start.
// The servers here are real SDK servers (the low-level Server: it declares any raw JSON Schema and checks
// nothing itself), run with `node -e` from the repository so the SDK resolves.

import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { createMcpTool } from '../../tools/mcp.js';
import { CAPPED_FORMATS, linearFormats } from '../../tools/mcp-formats.js';
import { compileArgumentCheck, createSchemaCompiler } from '../../tools/mcp-schema.js';
import { testKernel } from '../helpers/kernel.js';
import { longestGap } from '../helpers/stall.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1 << 20;

/**
 * An SDK server listing tools whose schemas come from SCHEMAS (JSON), or with GENERATED=n, n tools t0… of 12
 * patterned string properties each; it answers every call "ok" at once (a tool given an output schema in
 * OUTPUT_SCHEMAS also returns its arguments as its structured result) and, with EXIT_AFTER_CALL, exits just
 * after answering (the next call restarts it).
 */
const SERVER_SOURCE = `
import { Server } from '@modelcontextprotocol/server';
import { StdioServerTransport } from '@modelcontextprotocol/server/stdio';
const generated = (i) => {
  const properties = {};
  for (let p = 0; p < 12; p++) properties['p' + i + '_' + p] = { type: 'string', minLength: 1, maxLength: 100 + p, pattern: '^[a-z]{1,' + (p + 3) + '}$' };
  return { type: 'object', properties, required: ['p' + i + '_0'] };
};
const schemas = process.env.GENERATED
  ? Object.fromEntries(Array.from({ length: Number(process.env.GENERATED) }, (_, i) => ['t' + i, generated(i)]))
  : JSON.parse(process.env.SCHEMAS);
const outputs = JSON.parse(process.env.OUTPUT_SCHEMAS ?? '{}');
const tools = Object.entries(schemas).map(([name, inputSchema]) =>
  outputs[name] === undefined ? { name, description: name, inputSchema } : { name, description: name, inputSchema, outputSchema: outputs[name] });
const server = new Server({ name: 'schemas', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler('tools/list', async () => ({ tools }));
server.setRequestHandler('tools/call', async (request) => {
  if (process.env.EXIT_AFTER_CALL === '1') setTimeout(() => process.exit(0), 20);
  const content = [{ type: 'text', text: 'ok' }];
  // A tool with an output schema stores and returns its arguments as its structured result.
  return outputs[request.params.name] === undefined ? { content } : { content, structuredContent: request.params.arguments };
});
await server.connect(new StdioServerTransport());
`;

function schemaServer(schemas: Record<string, unknown>, extra: Record<string, string> = {}) {
  return {
    command: process.execPath,
    args: ['--input-type=module', '-e', SERVER_SOURCE],
    cwd: ROOT,
    timeout_ms: 30_000,
    env: { SCHEMAS: JSON.stringify(schemas), ...extra },
  };
}

const kernels: Kernel[] = [];
afterEach(async () => {
  for (const kernel of kernels.splice(0)) await kernel.close();
});

function kernelWith(schemas: Record<string, unknown>, extra: Record<string, string> = {}): Kernel {
  const kernel = testKernel({
    policy: { capabilities: [{ action: 'mcp.call', resource: 'schemas/*' }] },
    tools: [createMcpTool({ servers: { schemas: schemaServer(schemas, extra) } })],
  });
  kernels.push(kernel);
  return kernel;
}

/** An agent that calls `tool` with the arguments `args` (an expression it evaluates) and returns 'ok' or the code. */
const CALL = (tool: string, args: string) => `export default async function main() {
  const args = ${args};
  try { await sys.tool('mcp.call', { server: 'schemas', tool: ${JSON.stringify(tool)}, arguments: args }); return 'ok'; }
  catch (e) { return e.code; }
}`;

async function call(kernel: Kernel, tool: string, args: string): Promise<{ stall: number; outcome: unknown }> {
  const { gapMs: stall, value } = await longestGap(() =>
    kernel.run({ code: CALL(tool, args), limits: { cpu_ms: 30_000, wall_ms: 300_000 } }),
  );
  if (!value.ok) throw new Error(`agent failed: ${JSON.stringify(value.error)}`);
  return { stall, outcome: value.value };
}

describe("an agent's arguments checked against a server's schema", () => {
  const SCHEMAS = {
    plain: { type: 'object' },
    tags: { type: 'object', properties: { tags: { type: 'array', uniqueItems: true } } },
    urls: { type: 'object', properties: { urls: { type: 'array', items: { type: 'string', format: 'url' } } } },
  };

  it('uniqueItems on 1 MiB of objects: refused in linear time, the event loop never stalls', async () => {
    const kernel = kernelWith(SCHEMAS);
    // 20,000 distinct objects of ~48 bytes, the first two equal: Ajv's pairwise loop meets that pair last.
    const tags = `{ tags: Array.from({ length: 20000 }, (_, i) => ({ i: i === 0 ? 1 : i, pad: 'x'.repeat(30) })) }`;
    expect(JSON.stringify(new Function(`return ${tags}`)()).length).toBeGreaterThan(0.9 * MiB);
    await call(kernel, 'plain', '{}'); // the server's start is not what is measured
    const benign = await call(kernel, 'plain', tags);
    const attack = await call(kernel, 'tags', tags);
    console.log(
      `uniqueItems: stall ${attack.stall.toFixed(0)} ms (benign call of the same size ${benign.stall.toFixed(0)} ms)`,
    );
    expect(benign.outcome).toBe('ok');
    expect(attack.outcome).toBe('E_BAD_ARG');
    // Generous: 8.2 s for 160 KB before, ~6 minutes for this (quadratic).
    expect(attack.stall).toBeLessThan(1000 + 3 * benign.stall);
  }, 600_000);

  it('format url on 1 MiB of near misses: not a backtracking regex, the event loop never stalls', async () => {
    const kernel = kernelWith(SCHEMAS);
    const urls = `{ urls: Array.from({ length: 23 }, () => 'http://' + ':'.repeat(43000)) }`;
    await call(kernel, 'plain', '{}');
    const benign = await call(kernel, 'plain', urls);
    const attack = await call(kernel, 'urls', urls);
    console.log(
      `format url: stall ${attack.stall.toFixed(0)} ms (benign call of the same size ${benign.stall.toFixed(0)} ms)`,
    );
    expect(benign.outcome).toBe('ok');
    // `url` is an annotation now (as every format is by default in JSON Schema 2020-12): the server decides.
    expect(attack.outcome).toBe('ok');
    // Generous: ~1 s per string before, 24 strings.
    expect(attack.stall).toBeLessThan(1000 + 3 * benign.stall);
  }, 600_000);
});

// Red-team pass 53: the SDK checked a tool's structured result against the output schema its server declared,
// with its own Ajv, on the kernel's event loop and out of any meter: an honest "store and return" tool whose
// output schema says `uniqueItems` held the loop 17 s on an agent's 40,000 small objects (400 KB), and a server's
// backtracking `pattern` or `format: url` seconds more. A server's claim about its own output protects nothing.
describe("a server's output schema", () => {
  const SCHEMAS = { plain: { type: 'object' }, store: { type: 'object' } };
  const OUTPUTS = {
    store: {
      type: 'object',
      properties: {
        tags: { type: 'array', uniqueItems: true },
        names: { type: 'array', items: { type: 'string', pattern: '^([a-z0-9]+-?)+$' } },
        urls: { type: 'array', items: { type: 'string', format: 'url' } },
      },
    },
  };

  it('is not checked in the kernel: results that would stall its validator come back at once', async () => {
    const kernel = kernelWith(SCHEMAS, { OUTPUT_SCHEMAS: JSON.stringify(OUTPUTS) });
    const args = `{
      tags: Array.from({ length: 20000 }, (_, i) => ({ i: i === 0 ? 1 : i, pad: 'x'.repeat(10) })),
      names: Array.from({ length: 8 }, () => 'a1'.repeat(14) + '!'),
      urls: Array.from({ length: 4 }, () => 'http://' + ':'.repeat(40000)),
    }`;
    await call(kernel, 'plain', '{}');
    const benign = await call(kernel, 'plain', args);
    const attack = await call(kernel, 'store', args);
    console.log(
      `output schema: stall ${attack.stall.toFixed(0)} ms (the same call without one ${benign.stall.toFixed(0)} ms)`,
    );
    expect(benign.outcome).toBe('ok');
    expect(attack.outcome).toBe('ok');
    // Generous: 3.9 s for the 20,000 objects alone before (quadratic), seconds more for the pattern and the urls.
    expect(attack.stall).toBeLessThan(1000 + 3 * benign.stall);
  }, 600_000);
});

describe('the schema check', () => {
  it('uniqueItems keeps JSON Schema equality: key order ignored, 1 and 1.0 equal, types distinct', () => {
    const check = compileArgumentCheck({ type: 'array', uniqueItems: true });
    expect(check).toBeDefined();
    const valid = (value: unknown) => check?.(value).valid;
    expect(
      valid([
        { a: 1, b: [1, { c: 2 }] },
        { b: [1, { c: 2 }], a: 1.0 },
      ]),
    ).toBe(false);
    expect(valid([{ a: 1 }, { a: 1, b: 2 }])).toBe(true);
    expect(valid([1, 1.0])).toBe(false);
    expect(valid([0, -0])).toBe(false);
    expect(valid([1, '1', true, 'true', null, 'null', [], {}, [[]], [{}], '', 0, false])).toBe(true);
    expect(
      valid([
        [1, 2],
        [2, 1],
      ]),
    ).toBe(true);
    expect(valid([{ 'a,b': 1 }, { a: 1, b: 1 }])).toBe(true);
    expect(valid(['a', 'b', 'a'])).toBe(false);
    expect(check?.([{}, {}])).toEqual({ valid: false, errorMessage: 'data must NOT have duplicate items' });
    // uniqueItems: false, and on non-arrays, checks nothing.
    expect(compileArgumentCheck({ uniqueItems: false })?.([1, 1]).valid).toBe(true);
    expect(compileArgumentCheck({ uniqueItems: true })?.({ a: 1, b: 1 }).valid).toBe(true);
    // Every dialect has the linear check.
    const draft7 = compileArgumentCheck({ $schema: 'http://json-schema.org/draft-07/schema#', uniqueItems: true });
    expect(
      draft7?.([
        { a: 1, b: 2 },
        { b: 2, a: 1 },
      ]).valid,
    ).toBe(false);
    const d2019 = compileArgumentCheck({ $schema: 'https://json-schema.org/draft/2019-09/schema', uniqueItems: true });
    expect(d2019?.([[1], [1]]).valid).toBe(false);
  });

  it('nested uniqueItems on 1 MiB, 60 levels deep: linear (each value interned once)', () => {
    const check = compileArgumentCheck({
      $defs: {
        level: { type: 'array', uniqueItems: true, items: { anyOf: [{ type: 'number' }, { $ref: '#/$defs/level' }] } },
      },
      $ref: '#/$defs/level',
    });
    let value: unknown = Array.from({ length: 60_000 }, (_, i) => i);
    for (let depth = 0; depth < 60; depth++) value = [value, depth];
    const started = performance.now();
    expect(check?.(value).valid).toBe(true);
    const ms = performance.now() - started;
    console.log(`nested uniqueItems, 60 levels over ${JSON.stringify(value).length} bytes: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1000);
  });

  it('every format kept is checked in linear time on 1 MiB of adversarial strings', () => {
    const formats = linearFormats();
    // Near misses that make a backtracking regex work hardest, at the longest length each check accepts.
    const near: Record<string, (length: number) => string> = {
      date: (n) => '1'.repeat(n),
      time: (n) => `00:00:00.${'1'.repeat(n - 10)}X`,
      'iso-time': (n) => `00:00:00.${'1'.repeat(n - 10)}X`,
      'date-time': (n) => `2020-01-01T00:00:00.${'1'.repeat(n - 21)}X`,
      'iso-date-time': (n) => `2020-01-01 00:00:00.${'1'.repeat(n - 21)}X`,
      duration: (n) => `P${'1'.repeat(n - 2)}X`,
      uuid: (n) => `urn:uuid:${'a-'.repeat(n)}`.slice(0, n),
      ipv4: (n) => '1.'.repeat(n).slice(0, n),
      ipv6: (n) => `${'ffff:'.repeat(n)}`.slice(0, n - 1) + 'x',
      hostname: (n) => `${'a.'.repeat(n)}`.slice(0, n - 1) + '-',
      email: (n) => `a@${'a-a.'.repeat(n)}`.slice(0, n - 1) + '-',
      'json-pointer': (n) => `/${'a'.repeat(n - 2)}~`,
      'json-pointer-uri-fragment': (n) => `#/${'a'.repeat(n - 3)} `,
      'relative-json-pointer': (n) => `1${'/a'.repeat(n)}`.slice(0, n - 1) + '~',
      byte: (n) => `${'A'.repeat(n - 1)}!`,
    };
    const caps: Readonly<Record<string, number>> = CAPPED_FORMATS;
    const stringFormats = Object.entries(formats).filter(
      ([, format]) => typeof format === 'object' && (format as { type?: string }).type === 'string',
    );
    expect(stringFormats.map(([name]) => name).sort()).toEqual(Object.keys(near).sort());
    for (const [name] of stringFormats) {
      const check = compileArgumentCheck({ type: 'array', items: { type: 'string', format: name } });
      const length = caps[name] ?? MiB;
      const strings = Array.from({ length: Math.max(1, Math.floor(MiB / length)) }, () => near[name]?.(length) ?? '');
      // The least of three runs: one run on a saturated 2-core machine once took 608 ms where it takes 4-142.
      let ms = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 3 && ms >= 250; run++) {
        const started = performance.now();
        check?.(strings);
        ms = Math.min(ms, performance.now() - started);
      }
      console.log(`format ${name}: 1 MiB in strings of ${length}: ${ms.toFixed(1)} ms`);
      expect(ms, name).toBeLessThan(1000);
      // Past its cap a format's value is refused without a look.
      if (caps[name] !== undefined) expect(check?.([near[name]?.(caps[name] + 1)]).valid, name).toBe(false);
    }
  });

  it('checks the formats it keeps, and treats the others as annotations', () => {
    const check = (format: string, value: string) => compileArgumentCheck({ type: 'string', format })?.(value).valid;
    expect(check('email', 'a@example.com')).toBe(true);
    expect(check('email', 'not an address')).toBe(false);
    expect(check('date-time', '2024-02-29T12:00:00Z')).toBe(true);
    expect(check('date-time', '2023-02-29T12:00:00Z')).toBe(false);
    expect(check('uuid', '123e4567-e89b-12d3-a456-426614174000')).toBe(true);
    expect(check('ipv4', '256.1.1.1')).toBe(false);
    expect(check('ipv6', '::1')).toBe(true);
    expect(check('hostname', 'example.com')).toBe(true);
    expect(compileArgumentCheck({ type: 'integer', format: 'int32' })?.(2 ** 31).valid).toBe(false);
    for (const format of ['url', 'uri', 'uri-reference', 'uri-template', 'iri', 'regex', 'made-up']) {
      expect(check(format, 'http://'.concat(':'.repeat(50_000))), format).toBe(true);
    }
  });

  it("a compiler's schemas are dropped with it, and its ids never meet another compiler's", () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const schema = (i: number) => {
      const properties: Record<string, unknown> = {};
      for (let p = 0; p < 12; p++) {
        properties[`p${i}_${p}`] = { type: 'string', maxLength: 100 + p, pattern: `^[a-z]{1,${p + 3}}$` };
      }
      return { type: 'object', properties, required: [`p${i}_0`], $defs: { x: { $id: 'urn:shared', type: 'string' } } };
    };
    const text = JSON.stringify(Array.from({ length: 200 }, (_, i) => schema(i)));
    const start = () => {
      // One server start: its tool schemas parsed afresh (new objects), all compiled on that start's compiler.
      const compiler = createSchemaCompiler();
      const checks = (JSON.parse(text) as unknown[]).map((s) => compiler.compile(s));
      return checks.filter((check) => check !== undefined).length;
    };
    expect(start()).toBeGreaterThan(0);
    gc();
    const before = process.memoryUsage().heapUsed;
    const usable: number[] = [];
    for (let i = 0; i < 10; i++) usable.push(start());
    gc();
    const growth = process.memoryUsage().heapUsed - before;
    console.log(`heap growth after 10 starts of 200 schemas: ${(growth / 1e6).toFixed(1)} MB`);
    expect(growth).toBeLessThan(10e6); // before: ~19 KB a schema, ~38 MB
    // The same nested $id in every start's schemas: one start's never collides with another's.
    expect(new Set(usable)).toEqual(new Set([usable[0]]));
  }, 120_000);
});

describe('a hostile server that exits after every call', () => {
  it("leaves nothing of its schemas in the kernel's heap once restarted", async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const kernel = kernelWith({}, { GENERATED: '400', EXIT_AFTER_CALL: '1' });
    // Each call starts the server (it exited after the previous one), lists 400 tools and calls several.
    const code = `export default async function main(n) {
      const out = [];
      for (let i = 0; i < n; i++) {
        const tool = 't' + ((i * 37) % 400);
        const args = { ['p' + tool.slice(1) + '_0']: 'abc' };
        try { await sys.tool('mcp.call', { server: 'schemas', tool, arguments: args }); out.push('ok'); }
        catch (e) { out.push(e.code); }
        await new Promise((r) => setTimeout(r, 200));
      }
      return out;
    }`;
    const limits = { wall_ms: 300_000, cpu_ms: 60_000 };
    const warm = await kernel.run({ code, input: 2, limits });
    expect(warm.ok).toBe(true);
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    const result = await kernel.run({ code, input: 20, limits });
    gc();
    gc();
    const growth = process.memoryUsage().heapUsed - before;
    const outcomes = result.ok ? (result.value as string[]) : [];
    console.log(`20 restarts: ${JSON.stringify(outcomes)}; heap growth ${(growth / 1e6).toFixed(1)} MB`);
    expect(outcomes.filter((outcome) => outcome === 'ok').length).toBeGreaterThanOrEqual(15);
    // Before: 7.5 MB a start (every start's 400 compiled schemas kept on the module-wide Ajv), 150 MB here.
    expect(growth).toBeLessThan(20e6);
  }, 600_000);
});

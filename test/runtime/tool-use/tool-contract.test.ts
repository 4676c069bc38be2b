import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, ToolRegistry, toolDefinition } from '../../../runtime/tool-use/tool-contract.js';

const tool = (name: string) => defineTool({ name, description: 'd', input: z.unknown(), run: () => 1 });

describe('defineTool', () => {
  it('accepts dotted lowercase names and freezes the tool', () => {
    const t = tool('fs.read');
    expect(Object.isFrozen(t)).toBe(true);
    expect(t.name).toBe('fs.read');
  });

  it.each(['', 'FS', '1abc', 'a b', '__proto__x', 'a..b', 'x'.repeat(65)])('refuses the name %j', (name) => {
    expect(() => tool(name)).toThrow(TypeError);
  });

  it('refuses a blank description, naming it', () => {
    expect(() => defineTool({ name: 'a', description: ' ', input: z.unknown(), run: () => 1 })).toThrow(
      new TypeError('defineTool: spec.description: must be a non-empty string'),
    );
  });

  it('refuses an input that is not a zod schema, naming it', () => {
    expect(() => defineTool({ name: 'a', description: 'd', input: {} as z.ZodType, run: () => 1 })).toThrow(
      new TypeError('defineTool: spec.input: must be a zod schema'),
    );
  });

  it('refuses a missing run, naming it', () => {
    expect(() => defineTool({ name: 'a', description: 'd', input: z.unknown() } as never)).toThrow(
      /^defineTool: spec\.run: /,
    );
  });

  it('refuses a misspelt field instead of ignoring it (a lost resource() would widen every call)', () => {
    const spec = { name: 'a', description: 'd', input: z.unknown(), run: () => 1, resouce: () => '/x' };
    expect(() => defineTool(spec as never)).toThrow(
      new TypeError('defineTool: spec.resouce: not a known option (check the spelling)'),
    );
  });

  it('refuses a maxInFlight that is not a positive integer, naming it', () => {
    for (const maxInFlight of [0, 1.5, Number.NaN, '4']) {
      const spec = { name: 'a', description: 'd', input: z.unknown(), run: () => 1, maxInFlight };
      expect(() => defineTool(spec as never)).toThrow(/^defineTool: spec\.maxInFlight: /);
    }
    expect(
      defineTool({ name: 'a', description: 'd', input: z.unknown(), run: () => 1, maxInFlight: 4 }).maxInFlight,
    ).toBe(4);
  });
});

describe('ToolRegistry', () => {
  it('finds tools by name, refuses duplicates, and is safe for prototype names', () => {
    const registry = new ToolRegistry().add(tool('a'), tool('b'));
    expect(registry.get('a')?.name).toBe('a');
    expect(registry.get('constructor')).toBeUndefined();
    expect(registry.get('__proto__')).toBeUndefined();
    expect(() => registry.add(tool('a'))).toThrow(/registered/);
    expect(registry.list().map((t) => t.name)).toEqual(['a', 'b']);
  });
});

describe('tool definitions for models', () => {
  it('derive the JSON Schema of the arguments from the zod input schema', () => {
    const search = defineTool({
      name: 'search',
      description: 'searches the web',
      input: z.strictObject({
        query: z.string().max(200).describe('what to look for'),
        limit: z.int().min(1).optional(),
      }),
      run: () => [],
    });
    expect(toolDefinition(search)).toEqual({
      name: 'search',
      description: 'searches the web',
      parameters: {
        type: 'object',
        properties: {
          query: { type: 'string', maxLength: 200, description: 'what to look for' },
          limit: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
        },
        required: ['query'],
        additionalProperties: false,
      },
    });
  });

  it('the schema given to the model accepts exactly the calls the kernel accepts (built-in tools)', async () => {
    const { createFsTools } = await import('../../../tools/fs.js');
    const { tmpdir } = await import('node:os');
    const registry = new ToolRegistry().add(...createFsTools({ roots: [tmpdir()] }));
    const definitions = registry.definitions();
    expect(definitions.map((d) => d.name)).toEqual(['fs.read', 'fs.write', 'fs.delete', 'fs.list', 'fs.stat']);
    for (const definition of definitions) {
      expect(definition.parameters).toMatchObject({ type: 'object', additionalProperties: false });
      expect(definition.parameters).toHaveProperty('properties.path');
    }
  });
});

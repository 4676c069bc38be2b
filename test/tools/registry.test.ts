import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool, ToolRegistry } from '../../tools/registry.js';

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

  it('refuses a missing description, schema or run', () => {
    expect(() => defineTool({ name: 'a', description: ' ', input: z.unknown(), run: () => 1 })).toThrow(/description/);
    expect(() => defineTool({ name: 'a', description: 'd', input: {} as z.ZodType, run: () => 1 })).toThrow(/input/);
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

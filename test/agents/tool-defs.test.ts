import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { allowedTools, modelToolName, resolveToolDefs } from '../../agents/tool-defs.js';
import { defineTool } from '../../index.js';
import { ToolRegistry } from '../../runtime/tool-use/tool-contract.js';

const registry = () =>
  new ToolRegistry().add(
    defineTool({ name: 'fs.read', description: 'reads', input: z.strictObject({ path: z.string() }), run: () => 1 }),
    defineTool({ name: 'net.http', description: 'http', input: z.strictObject({ url: z.string() }), run: () => 1 }),
    defineTool({ name: 'model.chat', description: 'model', input: z.unknown(), run: () => 1 }),
  );

describe('tool definitions for models', () => {
  it('rewrites kernel names into the model alphabet', () => {
    expect(modelToolName('fs.read')).toBe('fs_read');
    expect(modelToolName('mcp:search.web')).toBe('mcp_search_web');
    expect(modelToolName('x'.repeat(100))).toHaveLength(64);
  });

  it('law: every rewritten name is in the alphabet OpenAI accepts', () => {
    fc.assert(fc.property(fc.string(), (name) => /^[a-zA-Z0-9_-]{1,64}$/.test(modelToolName(name))));
  });

  it('resolves names and specs: JSON Schema from the zod schema, the kernel tool and action kept', () => {
    const [read, http] = resolveToolDefs(registry(), [
      'fs.read',
      { tool: 'net.http', name: 'get_page', rename: { link: 'url' }, fixed: { method: 'GET' } },
    ]);
    expect(read).toMatchObject({ name: 'fs_read', tool: 'fs.read', action: 'fs.read', description: 'reads' });
    expect(read?.parameters).toMatchObject({
      type: 'object',
      properties: { path: { type: 'string' } },
      required: ['path'],
    });
    expect(http).toMatchObject({
      name: 'get_page',
      tool: 'net.http',
      rename: { link: 'url' },
      fixed: { method: 'GET' },
    });
  });

  it('refuses unknown tools, names outside the alphabet, collisions and malformed mappings', () => {
    expect(() => resolveToolDefs(registry(), ['fs.write'])).toThrow(/tools\[0\]: no tool named "fs.write"/);
    expect(() => resolveToolDefs(registry(), [{ tool: 'fs.read', name: 'fs.read' }])).toThrow(/tools\[0\]\.name/);
    expect(() => resolveToolDefs(registry(), ['fs.read', { tool: 'net.http', name: 'fs_read' }])).toThrow(
      /both be called/,
    );
    expect(() => resolveToolDefs(registry(), [{ tool: 'fs.read', rename: { a: 'b c' } }])).toThrow(/rename\.a/);
  });

  it('lists the tools a policy covers, except the ones named', () => {
    const names = (patterns: string[], except: string[] = []) =>
      allowedTools(registry(), patterns, except).map((t) => t.name);
    expect(names(['fs.*'])).toEqual(['fs.read']);
    expect(names(['*'], ['model.chat'])).toEqual(['fs.read', 'net.http']);
    expect(names(['net.http', 'model.chat'])).toEqual(['net.http', 'model.chat']);
    expect(names(['fsx'])).toEqual([]);
  });
});

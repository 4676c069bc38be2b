import fc from 'fast-check';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  docText,
  executeDescription,
  jsonSchemaToTypeScript,
  toolsDeclaration,
} from '../../../agents/code-mode/typescript-declarations.js';
import type { ToolDef } from '../../../agents/tool-defs.js';
import { defineTool, toolDefinition } from '../../../index.js';
import { createFsTools } from '../../../tools/fs.js';
import { createHttpTool } from '../../../tools/http.js';

/** TypeScript's own verdict on a declaration file: syntax and types. */
function diagnostics(source: string): string[] {
  const fileName = 'tools.d.ts';
  const options: ts.CompilerOptions = { strict: true, noEmit: true, lib: ['lib.es2022.d.ts'], types: [] };
  const host = ts.createCompilerHost(options);
  const original = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, onError, create) =>
    name === fileName ? ts.createSourceFile(name, source, version, true) : original(name, version, onError, create);
  const program = ts.createProgram([fileName], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === fileName)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

const def = (name: string, parameters: Record<string, unknown>, description = 'a tool'): ToolDef => ({
  name,
  description,
  parameters,
  tool: name.replace('_', '.'),
  action: name.replace('_', '.'),
});

describe('JSON Schema → TypeScript', () => {
  it('converts what zod emits for tool inputs', () => {
    const schema = z.toJSONSchema(
      z.strictObject({
        path: z.string().describe('file path'),
        mode: z.enum(['utf8', 'base64']).optional(),
        count: z.int().min(0),
        tags: z.array(z.string()),
        pair: z.tuple([z.string(), z.number()]),
        either: z.union([z.string(), z.null()]),
        meta: z.record(z.string(), z.boolean()),
        literal: z.literal('x'),
        'odd-key': z.boolean().optional(),
      }),
      { io: 'input' },
    );
    expect(jsonSchemaToTypeScript(schema)).toBe(`{
  /** file path */
  path: string;
  mode?: "utf8" | "base64";
  count: number;
  tags: string[];
  pair: [string, number];
  either: string | null;
  meta: {
    [key: string]: boolean;
  };
  literal: "x";
  "odd-key"?: boolean;
}`);
  });

  it('degrades what it cannot express to unknown, never to invalid TypeScript', () => {
    expect(jsonSchemaToTypeScript({ $ref: '#/$defs/x' })).toBe('unknown');
    expect(jsonSchemaToTypeScript({})).toBe('unknown');
    expect(jsonSchemaToTypeScript(false)).toBe('never');
    expect(jsonSchemaToTypeScript({ type: 'object' })).toBe('Record<string, unknown>');
    expect(jsonSchemaToTypeScript({ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'number' }] } })).toBe(
      '(string | number)[]',
    );
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i++) deep = { type: 'array', items: deep };
    expect(jsonSchemaToTypeScript(deep)).toMatch(/unknown/);
  });

  it('keeps doc comments closed whatever the description says', () => {
    expect(docText('ends */ here\nand /* opens')).toBe('ends *\\/ here and /* opens');
    const source = toolsDeclaration([
      def(
        'x_y',
        { type: 'object', properties: { a: { type: 'string', description: '*/ }; evil(); /*' } } },
        '*/ declare const pwned: 1; /*',
      ),
    ]);
    expect(diagnostics(source)).toEqual([]);
    expect(source).not.toMatch(/^declare const pwned/m);
  });

  it('declares the built-in tools as valid TypeScript', () => {
    const tools = [...createFsTools({ roots: [process.cwd()] }), createHttpTool()];
    const defs = tools.map((tool) => {
      const { parameters, description } = toolDefinition(tool);
      return def(tool.name.replace('.', '_'), parameters, description);
    });
    const source = toolsDeclaration(defs);
    expect(diagnostics(source)).toEqual([]);
    expect(source).toContain('fs_read(args: {');
    expect(executeDescription(defs)).toContain(source);
  });

  it('law: any JSON Schema-shaped input gives a declaration TypeScript accepts', () => {
    const leaf = fc.oneof(
      fc.constantFrom({ type: 'string' }, { type: 'integer' }, { type: 'boolean' }, { type: 'null' }, {}, true, false),
      fc.record({ const: fc.oneof(fc.string(), fc.integer(), fc.boolean()) }),
      fc.record({
        enum: fc.array(fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null))),
      }),
      fc.record({ $ref: fc.string() }),
    );
    const schema = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.record({ type: fc.constant('array'), items: tie('node') }),
        fc.record({ type: fc.constant('array'), prefixItems: fc.array(tie('node'), { maxLength: 3 }) }),
        fc.record({
          type: fc.constant('object'),
          properties: fc.dictionary(fc.string(), tie('node'), { maxKeys: 4 }),
          required: fc.array(fc.string(), { maxLength: 3 }),
          additionalProperties: fc.oneof(fc.boolean(), tie('node')),
        }),
        fc.record({ anyOf: fc.array(tie('node'), { maxLength: 3 }) }),
        fc.record({ allOf: fc.array(tie('node'), { maxLength: 3 }) }),
        fc.record({ type: fc.constant(['string', 'null']) }),
      ),
    })).node;
    // One compilation for every sample (a TypeScript program per sample would take seconds each): each
    // declaration goes in a namespace of its own, so a diagnostic names the sample that caused it.
    const samples = fc.sample(fc.tuple(schema, fc.string()), { numRuns: 200, seed: 14 });
    const source = samples
      .map(([parameters, description], index) => {
        const declaration = toolsDeclaration([
          def('t_x', { type: 'object', properties: { p: parameters } }, description || 'd'),
        ]);
        return `declare namespace sample${index} {\n${declaration.replace('declare const', 'const')}\n}`;
      })
      .join('\n');
    expect(diagnostics(source)).toEqual([]);
  });

  it('documents each tool with its description and kernel name', () => {
    const tool = defineTool({
      name: 'notes.read',
      description: 'Reads a note',
      input: z.strictObject({ id: z.string() }),
      run: () => 1,
    });
    const source = toolsDeclaration([def('notes_read', toolDefinition(tool).parameters, tool.description)]);
    expect(source).toContain('/** Reads a note (kernel tool `notes.read`) */');
    expect(source).toContain(
      'notes_read(args: {\n    id: string;\n  }, options?: { handle?: boolean }): Promise<any>;',
    );
  });
});

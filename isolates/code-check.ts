import { parse } from 'acorn';
import { simple } from 'acorn-walk';

export type CodeCheck = { ok: true } | { ok: false; message: string };

/**
 * Checks agent source before any of it runs: it must parse as an ES module and must not import anything,
 * statically or with `import()`. V8 compiles the module again afterwards; this pass exists because V8
 * only reports static imports, and a dynamic import must fail the run before agent code starts.
 * (`import()` reached through eval or Function is refused at run time by the isolate, which has no
 * module loader.) Never throws.
 */
export function checkModuleSource(code: string): CodeCheck {
  let program: ReturnType<typeof parse>;
  try {
    program = parse(code, { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: false });
  } catch (error) {
    // acorn's message names a position in the agent's own source, nothing of the host.
    const detail = error instanceof SyntaxError ? error.message : 'unparseable';
    return { ok: false, message: `syntax error: ${detail}`.slice(0, 300) };
  }
  for (const node of program.body) {
    if (node.type === 'ImportDeclaration') return { ok: false, message: 'import declarations are not allowed' };
    if ((node.type === 'ExportNamedDeclaration' || node.type === 'ExportAllDeclaration') && node.source) {
      return { ok: false, message: 're-exports from other modules are not allowed' };
    }
  }
  let dynamicImport = false;
  simple(program, {
    ImportExpression() {
      dynamicImport = true;
    },
  });
  if (dynamicImport) return { ok: false, message: 'dynamic import() is not allowed' };
  return { ok: true };
}

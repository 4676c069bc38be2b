/**
 * The API report: the exact export list of each package entry, read from the sources with the TypeScript
 * checker. `npm run generate` writes it to docs/api-report.md; test/package.test.ts holds the file equal to
 * what the sources export and the built package's run-time exports equal to its values. A change to the
 * public API therefore shows up as a diff of that file, in review, instead of by accident.
 */
import { join } from 'node:path';
import ts from 'typescript';

/** The package's entries (package.json `exports`) and the source each is built from. */
export const API_ENTRIES = [
  { name: 'isokernel', source: 'index.ts' },
  { name: 'isokernel/token', source: 'token/index.ts' },
  { name: 'isokernel/guest', source: 'guest/sys.d.ts' },
] as const;

/** How a TypeScript user of the package compiles: Node's ESM resolution, strict. */
export const CONSUMER_OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node'],
};

export interface ApiExport {
  readonly name: string;
  /** class, function, const, interface, type, enum, namespace, or `global const` for a declared global. */
  readonly kind: string;
  /** True when the name exists at run time (importable as a value); false for types and `export type`. */
  readonly value: boolean;
}

function kindOf(flags: ts.SymbolFlags): string {
  if (flags & ts.SymbolFlags.Class) return 'class';
  if (flags & ts.SymbolFlags.Function) return 'function';
  if (flags & ts.SymbolFlags.Variable) return 'const';
  if (flags & ts.SymbolFlags.Enum) return 'enum';
  if (flags & ts.SymbolFlags.Interface) return 'interface';
  if (flags & ts.SymbolFlags.TypeAlias) return 'type';
  if (flags & ts.SymbolFlags.Module) return 'namespace';
  return 'unknown';
}

// `export type { X }` and `export { type X }` make even a class a type-only export.
function isTypeOnly(symbol: ts.Symbol): boolean {
  return (symbol.declarations ?? []).some(
    (declaration) =>
      ts.isExportSpecifier(declaration) && (declaration.isTypeOnly || declaration.parent.parent.isTypeOnly),
  );
}

// `declare global { const sys: Sys }`: what agent code sees without importing anything.
function declaredGlobals(source: ts.SourceFile): ApiExport[] {
  const out: ApiExport[] = [];
  for (const statement of source.statements) {
    if (!ts.isModuleDeclaration(statement) || statement.name.text !== 'global' || statement.body === undefined)
      continue;
    if (!ts.isModuleBlock(statement.body)) continue;
    for (const inner of statement.body.statements) {
      if (!ts.isVariableStatement(inner)) continue;
      for (const declaration of inner.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name))
          out.push({ name: declaration.name.text, kind: 'global const', value: true });
      }
    }
  }
  return out;
}

/** Every export of every entry, sorted by name. Throws when an entry cannot be read. */
export function apiExports(root: string): Map<string, ApiExport[]> {
  const files = API_ENTRIES.map((entry) => join(root, entry.source));
  const program = ts.createProgram(files, CONSUMER_OPTIONS);
  const checker = program.getTypeChecker();
  const out = new Map<string, ApiExport[]>();
  for (const [index, entry] of API_ENTRIES.entries()) {
    const source = program.getSourceFile(files[index]!);
    if (source === undefined) throw new Error(`api report: cannot read ${entry.source}`);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    const exports: ApiExport[] = [];
    for (const symbol of moduleSymbol === undefined ? [] : checker.getExportsOfModule(moduleSymbol)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const value = !isTypeOnly(symbol) && (target.flags & ts.SymbolFlags.Value) !== 0;
      exports.push({ name: symbol.name, kind: kindOf(target.flags), value });
    }
    exports.push(...declaredGlobals(source));
    out.set(
      entry.name,
      exports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    );
  }
  return out;
}

/** The report as markdown: per entry, the run-time values, then the types. */
export function apiReport(root: string): string {
  const lines = [
    '# API report',
    '',
    '<!-- Generated from the sources by `npm run generate` (scripts/api-report.ts). Do not edit. -->',
    '',
    'The exact export list of each entry of the `isokernel` package. A test holds this file equal to the',
    'sources and the built package equal to it: adding, removing or re-kinding an export changes this file.',
    '',
  ];
  for (const [entry, exports] of apiExports(root)) {
    const values = exports.filter((item) => item.value);
    const types = exports.filter((item) => !item.value);
    lines.push(`## \`${entry}\``, '');
    lines.push(`Values (${values.length}), importable at run time:`, '');
    lines.push(...(values.length === 0 ? ['- none'] : values.map((item) => `- ${item.kind} \`${item.name}\``)), '');
    lines.push(`Types (${types.length}), erased at run time:`, '');
    lines.push(...(types.length === 0 ? ['- none'] : types.map((item) => `- ${item.kind} \`${item.name}\``)), '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

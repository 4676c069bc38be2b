// The package as a user gets it: the built files (npm test builds before it runs the suites), imported and
// type-checked by the package's own name, exactly as listed in the API report.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { buildPreludeSource, PREBUILT_PRELUDE } from '../isolates/prelude.js';
import { API_ENTRIES, apiExports, apiReport, CONSUMER_OPTIONS } from '../scripts/api-report.js';
import { runNode } from './helpers/node-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
  types: string;
  files: string[];
  exports: Record<string, Record<string, string>>;
};

// Runs `expression` over the module imported by `specifier` in a real Node process: its stdout, or the error code.
async function inNode(specifier: string, expression: string): Promise<{ stdout: string; stderr: string }> {
  const code = `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify(${expression})), (e) => { console.error(e.code ?? e.message); process.exitCode = 1; })`;
  const run = await runNode(['--no-node-snapshot', '--input-type=module', '-e', code], { cwd: ROOT });
  return { stdout: run.stdout.trim(), stderr: run.stderr.trim() };
}

const exportsOf = apiExports(ROOT);

describe('the API report', () => {
  it('docs/api-report.md is the export list of the sources (run `npm run generate` after changing an export)', () => {
    expect(readFileSync(join(ROOT, 'docs/api-report.md'), 'utf8')).toBe(apiReport(ROOT));
  });

  it('covers every entry of the exports map, and only those', () => {
    expect(API_ENTRIES.map((entry) => entry.name).sort()).toEqual(
      Object.keys(pkg.exports)
        .map((path) => (path === '.' ? pkg.name : `${pkg.name}/${path.slice(2)}`))
        .sort(),
    );
  });

  it('isokernel exports an error base class that every kernel error class extends', async () => {
    const api = await import('../index.js');
    for (const ErrorClass of [api.KernelError, api.PolicyError, api.AuditStoreError]) {
      expect(ErrorClass.prototype).toBeInstanceOf(api.IsokernelError);
    }
  });

  it('isokernel exports the registries, the vault and the snapshot store as types only', () => {
    const values =
      exportsOf
        .get('isokernel')
        ?.filter((item) => item.value)
        .map((item) => item.name) ?? [];
    for (const name of ['ToolRegistry', 'ProgramRegistry', 'Vault', 'SnapshotStore', 'AuditLog', 'kernelInternals']) {
      expect(values).not.toContain(name);
    }
  });
});

describe('the built package', () => {
  it.each(['isokernel', 'isokernel/token'])(
    '%s: its run-time exports are exactly the report’s values',
    async (entry) => {
      const { stdout, stderr } = await inNode(entry, 'Object.keys(m).sort()');
      expect(stderr).toBe('');
      const values = (exportsOf.get(entry) ?? []).filter((item) => item.value).map((item) => item.name);
      expect(JSON.parse(stdout)).toEqual([...values].sort());
    },
  );

  it('isokernel/guest is types only: importing it at run time fails', async () => {
    expect((await inNode('isokernel/guest', 'Object.keys(m)')).stderr).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('every file the exports map, types and bin name exists', () => {
    const targets = [
      ...Object.values(pkg.exports).flatMap((conditions) => Object.values(conditions)),
      pkg.types,
      ...Object.values(pkg.bin),
    ];
    for (const target of targets) expect(existsSync(join(ROOT, target)), target).toBe(true);
  });

  it('the packed file list holds every exported file, the prelude and the docs, and no sources or tests', () => {
    const pack = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(pack.status).toBe(0);
    const files = new Set((JSON.parse(pack.stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path));
    const required = [
      ...Object.values(pkg.exports).flatMap((conditions) => Object.values(conditions)),
      pkg.types,
      ...Object.values(pkg.bin),
      'dist/isolates/guest/prelude.cjs',
      'dist/isolates/guest/prelude.compact.js',
      'dist/cli/main.js',
      // What the bin runs (scripts/bundle-cli.mjs).
      'dist/bundle/main.js',
      'dist/bundle/host-spawn.js',
      'dist/bundle/sandbox-host.js',
      'dist/bundle/guest/prelude.compact.js',
      'README.md',
      'SECURITY.md',
      'package.json',
      // The proc sandbox's helper, compiled on the user's machine at install (scripts/build-sandbox.mjs).
      'native/proc-sandbox.c',
      'scripts/build-sandbox.mjs',
    ].map((path) => path.replace(/^\.\//, ''));
    for (const path of required) expect(files.has(path), path).toBe(true);
    const stray = [...files].filter(
      (path) => path.startsWith('test/') || /^(runtime|syscalls|isolates|tools)\//.test(path),
    );
    expect(stray).toEqual([]);
  });

  it('the prelude the build wrote is the one the sources build, beside the modules and in the bundle', () => {
    const built = buildPreludeSource();
    for (const dir of ['dist/isolates/guest', 'dist/bundle/guest']) {
      expect(readFileSync(join(ROOT, dir, PREBUILT_PRELUDE), 'utf8') === built, dir).toBe(true);
    }
  });

  it('the bin starts the CLI (re-executing Node with --no-node-snapshot)', async () => {
    const child = await runNode([join(ROOT, pkg.bin['isokernel'] ?? ''), '--help'], { cwd: ROOT });
    expect(child.status).toBe(0);
    expect(child.stdout).toMatch(/^Usage: isokernel /);
  });

  it('the declared types resolve by package name for a TypeScript user (NodeNext)', () => {
    // A consumer file inside the package directory, so `isokernel` resolves to this package (self-reference).
    const consumer = join(ROOT, '__api_consumer__.ts');
    const text = [
      "import type {} from 'isokernel/guest';",
      "import { Kernel, KernelError, IsokernelError, type RunResult, type AuthorityView } from 'isokernel';",
      "import { verifyChain, type ChainVerifyOptions } from 'isokernel/token';",
      'const kernel: Kernel = Kernel.create({ limits: { cpu_ms: 100 } });',
      "const result: Promise<RunResult> = kernel.run({ code: 'export default () => 1' });",
      'const view: AuthorityView = kernel.authority;',
      'const base: IsokernelError = new KernelError("E_BAD_ARG", "x");',
      'const options: ChainVerifyOptions = { anchors: [view.rootPublicKey] };',
      'verifyChain([], options);',
      "const guest: Promise<unknown> = sys.tool('echo', {});",
      'export { base, guest, result };',
    ].join('\n');
    const options = CONSUMER_OPTIONS;
    const host = ts.createCompilerHost(options);
    const read = host.readFile.bind(host);
    const exists = host.fileExists.bind(host);
    host.readFile = (file) => (file === consumer ? text : read(file));
    host.fileExists = (file) => file === consumer || exists(file);
    const getSource = host.getSourceFile.bind(host);
    host.getSourceFile = (file, language) =>
      file === consumer ? ts.createSourceFile(file, text, language) : getSource(file, language);
    const program = ts.createProgram([consumer], options, host);
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    // The types came from the built declarations, as a user's would.
    const resolved = program.getSourceFiles().map((file) => file.fileName.slice(ROOT.length));
    expect(resolved).toContain('dist/index.d.ts');
    expect(resolved).toContain('dist/token/index.d.ts');
    expect(resolved).toContain('guest/sys.d.ts');
  });
});

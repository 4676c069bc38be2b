// The CLI's bin runs bundles, not the ~270 modules tsc emits: loading those one by one (resolving, reading and
// compiling each, 95 of them zod's) was most of `isokernel run`'s start (cli.start.run_hello in
// bench/cli.bench.ts: ≈ 0.36 s of module loading bundled into ≈ 0.14 s on the bench machine). The package's
// library entries (dist/index.js, dist/token/) stay tsc's output; only bin/isokernel.js loads dist/bundle/.
//
// Everything lands in one flat directory, laid out as the modules expect around them: the sandbox host's entry
// beside the code that spawns it (host-spawn.ts looks for sandbox-host.js next to itself) and the guest scripts
// in guest/ (prelude.ts and guest-libraries.ts read ./guest/ next to themselves). It is built from tsc's output
// in dist/, so the bundle runs the very code that was type-checked.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const outdir = `${dist}bundle`;

const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  logLevel: 'warning',
  // Native addons cannot be bundled. The MCP SDK, the model client and undici are loaded only by the commands
  // that use them (lazy imports), and stay the installed packages: bundling them would add megabytes to the
  // package and save a `run` nothing.
  external: ['isolated-vm', 'classic-level', '@modelcontextprotocol/*', 'openai', 'undici'],
  // CommonJS packages bundled into ES modules (commander…) still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __isokernelCreateRequire } from 'node:module';\nconst require = __isokernelCreateRequire(import.meta.url);",
  },
};

rmSync(outdir, { recursive: true, force: true });
// The CLI: each command's module stays a chunk of its own, loaded when that command runs (cli/main.ts), and
// host-spawn.js is an entry of the same build so the bin's prestarted host and the kernel's adoption of it
// share one module instance (a separate bundle would hold a second `prestarted`).
await build({
  ...common,
  entryPoints: { main: `${dist}cli/main.js`, 'host-spawn': `${dist}isolates/host-spawn.js` },
  splitting: true,
  chunkNames: 'chunk-[hash]',
});
// The sandbox host: one self-contained file, as hosts started from source run (host-spawn.ts), sharing no
// chunk with the kernel's code.
await build({ ...common, entryPoints: { 'sandbox-host': `${dist}isolates/sandbox-host.js` } });
cpSync(`${dist}isolates/guest`, `${outdir}/guest`, { recursive: true });

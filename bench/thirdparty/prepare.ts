// `npm run bench:peers`, first step: installs and prepares the peers the suites in bench/thirdparty measure
// isokernel against, then writes a manifest of what it found (peers.ts reads it). Nothing here enters the
// project's dependencies or its git history:
// - npm packages (quickjs-emscripten, ses, and @kernel.chat/agent-os when the registry has it, as an optional
//   dependency) go to bench/thirdparty/node_modules, from bench/thirdparty/package.json;
// - @kernel.chat/agent-os from source when npm does not have it: packages/agent-os of a git mirror (or clone)
//   of isaacsight/kernel, at $ISOKERNEL_AGENT_OS_REPO (default /work/.mirror/isaacsight+kernel/repo);
// - agent_os_kernel from a git mirror (or clone) of JiahaoZhang-Public/agent-kernel, at
//   $ISOKERNEL_AGENT_KERNEL_REPO (default /work/.mirror/JiahaoZhang-Public+agent-kernel/repo), run with a
//   Python 3 that has PyYAML ($PYTHON, python3, /usr/bin/python3; Debian: apt-get install -y python3-yaml).
// Whatever is missing is recorded with the reason; its suite then skips those figures and says why.
// Run: node --import tsx bench/thirdparty/prepare.ts
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, MANIFEST, type PeerEntry, type PeerManifest, THIRDPARTY } from './peers.js';

const AGENT_OS_REPO = process.env['ISOKERNEL_AGENT_OS_REPO'] ?? '/work/.mirror/isaacsight+kernel/repo';
const AGENT_KERNEL_REPO =
  process.env['ISOKERNEL_AGENT_KERNEL_REPO'] ?? '/work/.mirror/JiahaoZhang-Public+agent-kernel/repo';

const say = (line: string): void => console.log(`bench:peers: ${line}`);

function run(command: string, args: readonly string[], inherit = false) {
  return spawnSync(command, args, { encoding: 'utf8', stdio: inherit ? 'inherit' : 'pipe', timeout: 600_000 });
}

/** Extracts `paths` of HEAD of the git repository `repo` into `into`; the commit, or a reason. */
function extract(repo: string, paths: readonly string[], into: string): { commit: string } | string {
  if (!existsSync(repo)) return `no git repository at ${repo}`;
  const head = run('git', ['-C', repo, 'rev-parse', 'HEAD']);
  if (head.status !== 0) return `${repo} is not a git repository: ${head.stderr.trim()}`;
  mkdirSync(into, { recursive: true });
  const tar = join(into, 'source.tar');
  // A mirror may lack some large blobs (images, videos); archiving only the paths needed avoids them.
  const archive = run('git', ['-C', repo, 'archive', '--format=tar', '-o', tar, 'HEAD', ...paths]);
  if (archive.status !== 0) return `git archive failed in ${repo}: ${archive.stderr.trim()}`;
  const untar = run('tar', ['-x', '-f', tar, '-C', into]);
  rmSync(tar, { force: true });
  if (untar.status !== 0) return `tar failed: ${untar.stderr.trim()}`;
  return { commit: head.stdout.trim() };
}

function agentOs(): PeerEntry {
  const installed = join(THIRDPARTY, 'node_modules', '@kernel.chat', 'agent-os');
  if (existsSync(join(installed, 'dist', 'index.js'))) {
    const { version } = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string };
    return { ok: true, path: join(installed, 'dist', 'index.js'), version, source: 'npm' };
  }
  const into = join(CACHE, 'agent-os');
  const got = extract(AGENT_OS_REPO, ['packages/agent-os'], into);
  if (typeof got === 'string') {
    return {
      ok: false,
      missing:
        `@kernel.chat/agent-os is not on the npm registry, and its source is not available (${got}); ` +
        'set ISOKERNEL_AGENT_OS_REPO to a clone of isaacsight/kernel',
    };
  }
  const dir = join(into, 'packages', 'agent-os');
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  return {
    ok: true,
    path: join(dir, 'src', 'index.ts'),
    version,
    source: `isaacsight/kernel@${got.commit.slice(0, 12)} packages/agent-os (not on npm)`,
  };
}

function python(): string | undefined {
  const candidates = [process.env['PYTHON'], 'python3', '/usr/bin/python3'].filter(
    (c): c is string => c !== undefined && c !== '',
  );
  return candidates.find((candidate) => run(candidate, ['-c', 'import yaml']).status === 0);
}

function agentKernel(): PeerManifest['agentKernel'] {
  const into = join(CACHE, 'agent-kernel');
  const got = extract(AGENT_KERNEL_REPO, ['src', 'scripts', 'pyproject.toml'], into);
  if (typeof got === 'string') {
    return {
      ok: false,
      missing: `agent_os_kernel is not available (${got}); set ISOKERNEL_AGENT_KERNEL_REPO to a clone of JiahaoZhang-Public/agent-kernel`,
    };
  }
  const version = /^version = "([^"]+)"/m.exec(readFileSync(join(into, 'pyproject.toml'), 'utf8'))?.[1] ?? 'unknown';
  const interpreter = python();
  const entry = {
    ok: true as const,
    path: into,
    version,
    source: `JiahaoZhang-Public/agent-kernel@${got.commit.slice(0, 12)}`,
  };
  return interpreter === undefined ? entry : { ...entry, python: interpreter };
}

say('npm install --prefix bench/thirdparty (quickjs-emscripten, ses, @kernel.chat/agent-os if published)');
const npm = run('npm', ['install', '--prefix', THIRDPARTY, '--no-audit', '--no-fund'], true);
if (npm.status !== 0) say('npm install failed: the npm peers will be skipped');
rmSync(CACHE, { recursive: true, force: true });
mkdirSync(CACHE, { recursive: true });
const manifest: PeerManifest = { agentOs: agentOs(), agentKernel: agentKernel() };
writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
for (const [name, entry] of Object.entries(manifest) as [string, PeerEntry & { python?: string }][]) {
  say(
    entry.ok
      ? `${name}: ${entry.version} from ${entry.source}${'python' in entry || name !== 'agentKernel' ? '' : ' (no Python 3 with PyYAML: skipped)'}`
      : `${name}: missing: ${entry.missing}`,
  );
}

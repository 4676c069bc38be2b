// Attack (from a sandbox host an agent has escaped into): use what the host inherited from the kernel. LevelDB
// opens the kernel's store files without close-on-exec, so every host started after the store opened held
// writable descriptors to the store's write-ahead log, manifest and lock: agent memory, labels and the undo
// journal were one write away. A host must hold no descriptor of any kernel file.
import { mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Kernel } from '../../index.js';
import { processTestKernel, waitFor } from '../helpers/kernel.js';

let kernel: Kernel | undefined;
let dir: string | undefined;
afterEach(async () => {
  await kernel?.close();
  kernel = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

// The paths a process holds open, from the OS.
function openPaths(pid: number): string[] {
  const paths: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      paths.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {}
  }
  return paths;
}

describe('descriptors a sandbox host inherits', () => {
  it('a host started after the store opened holds no descriptor into it', async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'isokernel-fds-')));
    const store = join(dir, 'store');
    // No spare host: the second run's host is started while the store is open.
    const made = processTestKernel({ store, limits: { wall_ms: 20_000 } }, { warm: 0 });
    kernel = made.kernel;
    const sleeper = `export default async function main() {
      await sys.mem.put('k', 'v');
      for (let i = 0; i < 40; i++) await sys.tool('sleep', { ms: 25 });
      return sys.mem.get('k');
    }`;
    const first = kernel.spawn({ code: sleeper });
    await waitFor(
      () => (kernel?.agents().find((agent) => agent.id === first.id)?.usage.syscalls ?? 0) > 2,
      'the store is in use',
      20_000,
    );
    expect(openPaths(process.pid).some((path) => path.startsWith(store))).toBe(true);
    const second = kernel.spawn({ code: sleeper });
    await waitFor(() => made.launcher.hostPid(second.id) !== undefined, 'the second run is placed', 20_000);
    const hosts = [made.launcher.hostPid(first.id), made.launcher.hostPid(second.id)];
    expect(hosts[0]).not.toBe(hosts[1]);
    await waitFor(
      () => (kernel?.agents().find((agent) => agent.id === second.id)?.usage.syscalls ?? 0) > 2,
      'the second run is running',
      20_000,
    );
    for (const pid of hosts) {
      const held = openPaths(pid as number).filter((path) => path.startsWith(dir as string));
      expect(held, `host ${pid}`).toEqual([]);
    }
    expect(await first.result).toMatchObject({ ok: true, value: 'v' });
    expect(await second.result).toMatchObject({ ok: true, value: 'v' });
  }, 60_000);
});

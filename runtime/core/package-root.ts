import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding this package's package.json (the checkout's root, or the installed package's), found by
 * walking up from this module: from source, from tsc's output in dist/ and from the CLI's bundle alike. Throws
 * Error when no isokernel package.json is within six levels.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
      if (name === 'isokernel') return dir;
    }
    dir = dirname(dir);
  }
  throw new Error('isokernel: cannot find the isokernel package root');
}

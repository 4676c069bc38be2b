// The guest prelude is plain JavaScript that runs inside isolates, read as text at run time: the build
// copies it beside the compiled modules unchanged (tsc would turn it into a module).
import { cpSync, writeFileSync } from 'node:fs';

cpSync(new URL('../isolates/guest/', import.meta.url), new URL('../dist/isolates/guest/', import.meta.url), {
  recursive: true,
});

// The script realms compile, joined and stripped of comments once here rather than in every sandbox host on its
// way to its first realm (isolates/prelude.ts, PREBUILT_PRELUDE). Built from the guest files just copied, by the
// modules tsc just emitted, so it always matches them.
const prelude = await import('../dist/isolates/prelude.js');
writeFileSync(
  new URL(`../dist/isolates/guest/${prelude.PREBUILT_PRELUDE}`, import.meta.url),
  prelude.buildPreludeSource(),
);

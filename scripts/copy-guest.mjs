// The guest prelude is plain JavaScript that runs inside isolates, read as text at run time: the build
// copies it beside the compiled modules unchanged (tsc would turn it into a module).
import { cpSync } from 'node:fs';

cpSync(new URL('../isolates/guest/', import.meta.url), new URL('../dist/isolates/guest/', import.meta.url), {
  recursive: true,
});

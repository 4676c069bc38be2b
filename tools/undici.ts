/**
 * undici, loaded on the first HTTP call: it is about 120 ms of module loading at start, and most runs never
 * make a request (the CLI's start budget, issue 18).
 */
let loading: Promise<typeof import('undici')> | undefined;

export function loadUndici(): Promise<typeof import('undici')> {
  loading ??= import('undici');
  return loading;
}

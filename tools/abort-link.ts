/**
 * A signal that aborts when `parent` does, for one request, and a `release` that detaches it. SDKs add an
 * abort listener to the signal of every request and never remove it; handing them the agent's own signal
 * would pile one listener per call onto it for the agent's whole life.
 */
export function linkedSignal(parent: AbortSignal): { readonly signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort();
    return { signal: controller.signal, release: () => undefined };
  }
  const onAbort = () => controller.abort();
  parent.addEventListener('abort', onAbort, { once: true });
  return { signal: controller.signal, release: () => parent.removeEventListener('abort', onAbort) };
}

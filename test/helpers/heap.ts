/**
 * Samples this process's heap every `everyMs` while `run` is pending; resolves to its value and the largest
 * growth seen, in bytes.
 */
export async function peakHeapGrowth<T>(run: Promise<T>, everyMs = 5): Promise<{ value: T; growth: number }> {
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, everyMs);
  try {
    const value = await run;
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    return { value, growth: peak - base };
  } finally {
    clearInterval(timer);
  }
}

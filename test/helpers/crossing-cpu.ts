import ivm from 'isolated-vm';

/**
 * Host CPU (every thread of this process, in ms) that `calls` bare synchronous callbacks from an isolate running
 * on its own thread cost, as every syscall's entry is: the thread hand-offs alone, which no kernel work adds to.
 * On an idle VM a hand-off wakes a sleeping vCPU and measured tens of µs of system time; under load, a few. A test
 * that bounds the host CPU of a syscall flood subtracts this figure, measured in the same run.
 */
export async function bareCrossingCpuMs(calls: number): Promise<number> {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  try {
    const context = await isolate.createContext();
    await context.global.set('enter', new ivm.Callback((payload: unknown) => String(payload).length, { sync: true }));
    const script = await isolate.compileScript(`for (let i = 0; i < ${calls}; i++) enter('["x"]');`);
    const cpu = process.cpuUsage();
    await script.run(context);
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / 1000;
  } finally {
    isolate.dispose();
  }
}

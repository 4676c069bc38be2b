// A minimal agent: it gets its input, logs through the kernel, and returns a JSON value.
export default async function main(input) {
  const name = typeof input?.name === 'string' ? input.name : 'world';
  await sys.log(`greeting ${name}`);
  return { greeting: `hello, ${name}`, globals: Object.getOwnPropertyNames(globalThis).includes('sys') };
}

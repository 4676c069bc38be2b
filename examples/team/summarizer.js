// A summarizer: reads the one file it was handed and returns its first line and its length.
export default async function main({ path }) {
  const file = await sys.tool('fs.read', { path });
  const text = String(file.content ?? '');
  return { first: text.split('\n')[0], chars: text.length };
}

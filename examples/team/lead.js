// A lead agent: hands each note in the workspace to a summarizer child that may read only that file, keeps
// the summaries in its namespace memory, and snapshots its progress.
export default async function main() {
  const listing = await sys.tool('fs.list', { path: 'notes' });
  const files = listing.entries.filter((entry) => entry.type === 'file').map((entry) => entry.name);
  const summaries = new Map();
  for (const name of files) {
    const path = `notes/${name}`;
    const summary = await sys.handoff({
      to: 'summarizer',
      task: { path },
      // Only this one file, at most once: the child cannot read anything else.
      caps: [{ action: 'fs.read', resource: `${listing.path}/${name}`, max_uses: 1 }],
    });
    summaries.set(name, summary);
    await sys.mem.put(`summary/${name}`, summary);
  }
  const snapshot = await sys.snapshot({ done: [...summaries.keys()], at: new Date(0), summaries });
  return { summaries: Object.fromEntries(summaries), snapshot, label: await sys.label() };
}

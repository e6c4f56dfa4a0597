// Placeholder until the visualizer lands (issue 6): replaced by the real `troupe viz`.
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('troupe viz: not built yet\n');
  return 1;
}

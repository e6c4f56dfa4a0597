// Placeholder until the HTTP front lands (issue 4): replaced by the real `troupe serve`.
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('troupe serve: not built yet\n');
  return 1;
}

/** Command line of `npm run bench -- [--quick] [--only <case>[,<case>…]]`. */
export interface BenchArgs {
  /** Every case once with small counts: CI keeps the suite working with it, it never gates on timings. */
  quick: boolean;
  /** Case ids to run; undefined runs them all. */
  only: Set<string> | undefined;
}

export function parseArgs(argv: readonly string[], known: readonly string[]): BenchArgs {
  let quick = false;
  let only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') quick = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (value === undefined || value === '') throw new Error(`--only needs a case: ${known.join(', ')}`);
      only ??= new Set();
      for (const id of value.split(',')) {
        if (!known.includes(id)) throw new Error(`Unknown case "${id}"; the cases are: ${known.join(', ')}`);
        only.add(id);
      }
    } else if (arg === '--help' || arg === '-h') {
      console.log(`npm run bench -- [--quick] [--only <case>[,<case>]]\ncases: ${known.join(', ')}`);
      process.exit(0);
    } else throw new Error(`Unknown argument "${arg}"; try --help`);
  }
  return { quick, only };
}

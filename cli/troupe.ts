#!/usr/bin/env node
/** `troupe <command>`: each command lives with its layer and is loaded only when asked for. */

const usage = `troupe: an actor-model request dispatcher for Node.js

Usage:
  troupe serve <app> [options]   serve a fetch-style app over HTTP on request actors (troupe serve --help)
  troupe viz [options]           draw the state machines as SVG, Mermaid, DOT or JSON (troupe viz --help)
  troupe inspect <file>          replay a recording in the inspector page (troupe inspect --help)
  troupe --version
`;

/** `--metrics off` (or `--metrics=off`) among serve's arguments. */
function metricsOff(args: string[]): boolean {
  const i = args.indexOf('--metrics');
  return args.includes('--metrics=off') || (i >= 0 && args[i + 1] === 'off');
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      const { followParent, frontGcFlags, relaunch } = await import('./front-heap.js');
      let flags: string[] | undefined;
      try {
        flags = frontGcFlags(process.env, process.execArgv);
      } catch (err) {
        process.stderr.write(`troupe serve: ${(err as Error).message}\n`);
        return 2;
      }
      if (flags !== undefined) return relaunch(flags);
      followParent();
      // prom-client (the metrics route) loads before troupe's own modules: loaded after them, a front
      // without the flags above fell sooner into the state front-heap.ts describes.
      if (!metricsOff(rest)) await import('prom-client').catch(() => undefined);
      return (await import('../http/cli.js')).main(rest);
    }
    case 'viz':
      return (await import('../inspector/export/viz-cli.js')).main(rest);
    case 'inspect':
      return (await import('../inspector/replay/cli.js')).main(rest);
    case '--version':
    case '-v': {
      const { createRequire } = await import('node:module');
      const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
      process.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(usage);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`troupe: unknown command '${command}'\n\n${usage}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`troupe: ${(err as Error)?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);

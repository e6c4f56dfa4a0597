import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { formats, isFormat, render } from './export.js';
import { machineGraph } from './graph.js';
import { isMachineName, machineNames, machines } from './machines.js';

const usage = `troupe viz: draw troupe's state machines from their definitions (offline)

Usage:
  troupe viz [--machine <name>] [--format <format>] [--out <file>]

Options:
  -m, --machine <name>    ${machineNames.join(' | ')} (default: request-actor)
  -f, --format <format>   ${formats.join(' | ')} (default: svg, or taken from --out's extension)
  -o, --out <file>        write to a file instead of stdout
  -h, --help              show this help

Examples:
  troupe viz --format mermaid                       Mermaid stateDiagram-v2, renders on GitHub
  troupe viz --machine router --out router.svg      SVG laid out by Graphviz (WebAssembly)
  troupe viz --format dot | dot -Tpng > actor.png   DOT for a local Graphviz
`;

/** Extensions that name a format, so that `--out actor.mmd` needs no `--format`. */
const byExtension: Record<string, (typeof formats)[number]> = {
  svg: 'svg',
  mmd: 'mermaid',
  mermaid: 'mermaid',
  dot: 'dot',
  gv: 'dot',
  json: 'json',
};

/** `troupe viz …`: returns the exit code (0 done, 2 bad usage). */
export async function main(argv: string[]): Promise<number> {
  let values: { machine?: string; format?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        machine: { type: 'string', short: 'm' },
        format: { type: 'string', short: 'f' },
        out: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`troupe viz: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const machine = values.machine ?? 'request-actor';
  if (!isMachineName(machine)) {
    process.stderr.write(
      `troupe viz: unknown machine '${machine}'; choose one of: ${machineNames.join(', ')}\n`,
    );
    return 2;
  }
  const extension = values.out?.split('.').pop()?.toLowerCase() ?? '';
  const format = values.format ?? byExtension[extension] ?? 'svg';
  if (!isFormat(format)) {
    process.stderr.write(`troupe viz: unknown format '${format}'; choose one of: ${formats.join(', ')}\n`);
    return 2;
  }
  const text = await render(machineGraph(machines[machine]), format);
  if (values.out) {
    await writeFile(values.out, text);
    process.stderr.write(`troupe viz: wrote ${machine} as ${format} to ${values.out}\n`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}

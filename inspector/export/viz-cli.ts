import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { formats, isFormat, render } from './export.js';
import { machineGraph } from './graph.js';
import { isMachineName, machineNames, machines } from './machines.js';

const usage = `troupe viz: draw troupe's state machines from their definitions (offline)

Usage:
  troupe viz [--machine <name>] [--format <format>] [--out <file>]

Options:
  -m, --machine <name>    ${machineNames.join(' | ')} (default: request-actor)
  -f, --format <format>   ${formats.join(' | ')} (default: taken from --out's extension, else svg)
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

/**
 * The format `--out` names: SVG when there is no `--out` or its name has no extension, the extension's
 * format when it names one, undefined for any other extension (such as .png, which this command cannot
 * produce).
 */
function formatOfOut(out: string | undefined): string | undefined {
  if (out === undefined) return 'svg';
  const name = basename(out);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return 'svg';
  return byExtension[name.slice(dot + 1).toLowerCase()];
}

function extensionOf(out: string | undefined): string {
  const name = basename(out ?? '');
  return name.slice(name.lastIndexOf('.') + 1);
}

function knownExtensions(): string {
  return Object.keys(byExtension)
    .map((e) => `.${e}`)
    .join(' ');
}

/** Raster images need a renderer this offline command does not ship: point at the DOT route instead. */
function rasterHint(format: string): string {
  return ['png', 'jpg', 'jpeg', 'gif', 'webp', 'pdf'].includes(format.toLowerCase())
    ? `. For ${format}, convert the SVG, or pipe --format dot into Graphviz: troupe viz --format dot | dot -T${format.toLowerCase()} > actor.${format.toLowerCase()}`
    : '';
}

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
  const format = values.format ?? formatOfOut(values.out);
  if (format === undefined) {
    // Writing SVG into `r.png` would make a file that no image viewer opens: refuse rather than guess.
    process.stderr.write(
      `troupe viz: cannot write '${values.out}': its extension names no format this command produces; end it in ${knownExtensions()} or pass --format (${formats.join(', ')})${rasterHint(extensionOf(values.out))}\n`,
    );
    return 2;
  }
  if (!isFormat(format)) {
    process.stderr.write(
      `troupe viz: unknown format '${format}'; choose one of: ${formats.join(', ')}${rasterHint(format)}\n`,
    );
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

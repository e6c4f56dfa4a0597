/** `troupe inspect FILE`: the inspector page over a recording, offline. */
import { parseArgs } from 'node:util';
import { RecordingError, readRecording } from './read.js';
import { serveRecording } from './server.js';

export const usage = `Usage: troupe inspect <file> [options]

Serves the inspector page over a recording made with createDispatcher({ record }) or
troupe serve --record FILE: pause, step, step back, the slider, and jumps to the next
crash, rejection or spill, all offline.

Options:
  --port N        port to listen on (0 = any free one)     default: 0
  --host ADDR     interface to listen on                   default: 127.0.0.1
  --token TOKEN   required off loopback: the page then needs ?token=…
  -h, --help      this text
`;

const say = (line: string) => process.stderr.write(`troupe inspect: ${line}\n`);

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    say(`${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (positionals.length !== 1) {
    say(
      `${positionals.length === 0 ? 'missing <file>' : `one <file> only, got: ${positionals.join(' ')}`}\n\n${usage}`,
    );
    return 2;
  }
  const port = v.port === undefined ? 0 : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    say(`--port: '${v.port}' must be an integer from 0 to 65535`);
    return 2;
  }
  const file = positionals[0]!;
  let recording: Awaited<ReturnType<typeof readRecording>>;
  try {
    recording = await readRecording(file);
  } catch (err) {
    if (!(err instanceof RecordingError)) throw err;
    say(`cannot replay ${err.message}`);
    return 1;
  }
  for (const warning of recording.warnings) say(`${file}: ${warning}`);
  let server: Awaited<ReturnType<typeof serveRecording>>;
  try {
    server = await serveRecording(recording, {
      port,
      ...(v.host !== undefined ? { host: v.host } : {}),
      ...(v.token !== undefined ? { token: v.token } : {}),
      name: file,
    });
  } catch (err) {
    say(`cannot serve: ${(err as Error).message}`);
    return 1;
  }
  say(`replaying ${file} (${recording.frames.length} frames) on ${server.url}`);
  return new Promise<number>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.close().then(() => done(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

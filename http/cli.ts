/**
 * `troupe serve <app>`: warms every request actor, then opens the port (never before: a client must not
 * reach an actor that is still in `init`), and handles SIGHUP (live config) and SIGTERM / SIGINT (drain).
 */
import { resolve } from 'node:path';
import type { Config, Dispatcher, DispatcherOptions } from '../actors/types.js';
import { createDispatcher } from '../index.js';
import { AccessLog } from './access-log.js';
import { configChange, readConfigFile } from './config-file.js';
import { ERROR, INFO, JsonLog, WARN } from './json-log.js';
import { MetricsRoute } from './metrics-route.js';
import { applyOperateArgs } from './operate.js';
import { parseServeArgs, type ServeArgs, UsageError, usage } from './options.js';
import { type RequestLog, teeLog } from './request-log.js';
import { HttpFront } from './server.js';
import { describe } from './status.js';

/** Lifecycle lines: text on stderr, or pino-compatible JSON on stdout with `--log-format json`. */
let say = (line: string, _level = INFO): void => void process.stderr.write(`troupe: ${line}\n`);

export async function main(argv: string[]): Promise<number> {
  let args: ServeArgs | null;
  try {
    args = parseServeArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`troupe serve: ${err.message}\n\n${usage}`);
    return 2;
  }
  if (args === null) {
    process.stdout.write(usage);
    return 0;
  }
  const json = args.logFormat === 'json' ? new JsonLog() : undefined;
  if (json !== undefined) say = (line, level = INFO) => json.line(level, line);

  // A SIGHUP while the actors warm up must not end the process (its default action): it is kept, and
  // acted on once serving, since the file may have changed after it was read for init.
  let hupWhileStarting = false;
  const onEarlyHup = () => {
    hupWhileStarting = true;
  };
  process.on('SIGHUP', onEarlyHup);

  let config: Config = {};
  if (args.config !== undefined) {
    try {
      config = await readConfigFile(args.config);
    } catch (err) {
      process.off('SIGHUP', onEarlyHup);
      say(`cannot start: ${(err as Error).message}`, ERROR);
      return 1;
    }
  }

  // entry: an app with both handle() and fetch() is served through fetch() over HTTP.
  const options: DispatcherOptions = {
    app: resolve(args.app),
    config,
    timeout: args.timeout,
    entry: 'fetch',
  };
  if (args.actors !== undefined) options.actors = args.actors;
  if (args.concurrency !== undefined) options.concurrency = args.concurrency;
  if (args.spread) options.park = false;
  if (args.maxQueue !== undefined) options.maxQueue = args.maxQueue;
  if (args.inspectPort !== undefined) options.inspector = { port: args.inspectPort };
  try {
    applyOperateArgs(options, args, process.env, say);
  } catch (err) {
    process.off('SIGHUP', onEarlyHup);
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`troupe serve: ${err.message}\n\n${usage}`);
    return 2;
  }
  if (args.cluster !== undefined) {
    const { servers, name, node } = args.cluster;
    // Credentials come from the environment, never the command line (other users can read argv).
    const env = process.env;
    options.cluster = {
      servers,
      name,
      ...(node !== undefined ? { node } : {}),
      ...(env.NATS_TOKEN ? { token: env.NATS_TOKEN } : {}),
      ...(env.NATS_USER ? { user: env.NATS_USER } : {}),
      ...(env.NATS_PASSWORD ? { pass: env.NATS_PASSWORD } : {}),
      ...(env.NATS_CREDS ? { credsFile: env.NATS_CREDS } : {}),
    };
  }

  let dispatcher: Dispatcher;
  try {
    dispatcher = await createDispatcher(options);
  } catch (err) {
    process.off('SIGHUP', onEarlyHup);
    // Fail fast, before any client connects: the port was never opened.
    say(`cannot start ${args.app}: ${describe(err)}`, ERROR);
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined) say(`  cause: ${describe(cause)}`, ERROR);
    return 1;
  }

  let metrics: MetricsRoute | undefined;
  try {
    if (args.metrics !== null) metrics = await MetricsRoute.create(dispatcher, args.metrics);
  } catch (err) {
    process.off('SIGHUP', onEarlyHup);
    say(`cannot start: ${(err as Error).message}`, ERROR);
    await dispatcher.close();
    return 1;
  }
  const log = teeLog(args.quiet ? undefined : (json ?? new AccessLog()), metrics);
  const front = new HttpFront(dispatcher, {
    affinity: args.affinity,
    maxBody: args.maxBody,
    health: args.health,
    log,
    timeouts: args.timeouts,
    metrics,
    fastPath: !args.nodeParser,
    ...(json === undefined ? {} : { report: (line: string) => json.line(ERROR, line) }),
  });
  try {
    await front.listen(args.port, args.host);
  } catch (err) {
    process.off('SIGHUP', onEarlyHup);
    say(`cannot listen on ${args.host}:${args.port}: ${(err as Error).message}`, ERROR);
    await dispatcher.close();
    return 1;
  }
  const snap = dispatcher.snapshot();
  say(
    `serving ${args.app} on ${front.origin} (${snap.actors.length} actors, config version ${snap.configVersion})`,
  );
  if (dispatcher.inspectorUrl !== undefined) say(`inspector on ${dispatcher.inspectorUrl}`);

  const exited = lifecycle(args, dispatcher, front, log);
  process.off('SIGHUP', onEarlyHup);
  if (hupWhileStarting) process.emit('SIGHUP', 'SIGHUP');
  return exited;
}

/** Resolves with the exit code once a SIGTERM / SIGINT drain has finished. */
function lifecycle(args: ServeArgs, dispatcher: Dispatcher, front: HttpFront, log: RequestLog | undefined) {
  // SIGHUPs are handled one after the other: two rollouts must not race to be version n+1.
  let reloads = Promise.resolve();
  const onHup = () => {
    reloads = reloads.then(() => reload(args.config, dispatcher));
  };
  process.on('SIGHUP', onHup);

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) {
        say(`${signal} again: cutting off the remaining requests now`);
        front.cutAll();
        return;
      }
      stopping = true;
      say(`${signal}: draining ${front.inFlight} in-flight request(s), grace ${args.grace}s`);
      // A handler that ignores its cancel and holds its thread must not keep the process up forever.
      const hard = setTimeout(
        () => {
          say('did not stop within grace + 10 s; exiting', ERROR);
          process.exit(1);
        },
        args.grace * 1000 + 10_000,
      );
      hard.unref();
      const cut = await front.drain(args.grace * 1000);
      // The exchanges are over; a handler still running past its cancel gets 2 s more, then its
      // thread is ended rather than hold the exit.
      await dispatcher.close({ grace: 2_000 });
      log?.flush();
      say(cut === 0 ? 'stopped' : `stopped; ${cut} request(s) cut off at the end of the grace period`);
      process.off('SIGHUP', onHup);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      clearTimeout(hard);
      // Everything is closed; should any handle still hold the loop (an actor being replaced while close()
      // ran once did), exit anyway rather than hang a deploy.
      setTimeout(() => process.exit(0), 500).unref();
      done(0);
    };
    const onTerm = () => void stop('SIGTERM');
    const onInt = () => void stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

/** SIGHUP: re-read the file and roll out what changed; a bad file or a rejected change leaves the last good config. */
async function reload(path: string | undefined, dispatcher: Dispatcher): Promise<void> {
  const live = dispatcher.snapshot();
  if (path === undefined) {
    say('SIGHUP: no --config to re-read; nothing changed');
    return;
  }
  let next: Config;
  try {
    next = await readConfigFile(path);
  } catch (err) {
    say(`SIGHUP: ${(err as Error).message}; still serving config version ${live.configVersion}`, WARN);
    return;
  }
  const change = configChange(live.config, next);
  const keys = Object.keys(change);
  if (keys.length === 0) {
    say(`SIGHUP: ${path} unchanged; still serving config version ${live.configVersion}`);
    return;
  }
  try {
    const { version } = await dispatcher.configure(change, { by: 'sighup' });
    const where = live.cluster === undefined ? 'every actor' : 'every node of the cluster';
    say(`SIGHUP: config version ${version} rolled out to ${where} (changed: ${keys.join(', ')})`);
  } catch (err) {
    say(
      `SIGHUP: config change rejected: ${describe(err)}; still serving config version ${live.configVersion}`,
      WARN,
    );
  }
}

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigRejectedError, InvalidArgumentError, TroupeError } from '../../actors/errors.js';
import { unknownName, unknownNameMessage } from '../../actors/router/names.js';
import type { AdminOptions, Config, Dispatcher } from '../../actors/types.js';
import { configChange } from '../../http/config-file.js';
import { mergePatch, PatchError, withoutRemoved } from './merge-patch.js';

/** The admin API's routes, on the inspector's port. */
export const CONFIG_PATH = '/_troupe/config';
export const HISTORY_PATH = '/_troupe/config/history';

/** A config patch is a few keys; anything this large is a mistake or an attack. */
const MAX_BODY = 1024 * 1024;
const MIN_TOKEN = 8;
const adminOptionNames = ['tokens', 'onAccepted'] as const satisfies readonly (keyof AdminOptions)[];
const LABEL = /^[\w.@-]{1,64}$/;

interface Token {
  label: string;
  digest: Buffer;
}

export type Answer = { status: number; body: unknown; headers?: Record<string, string> };

/**
 * The web-alterable config: read the config and its history, and propose a change as a JSON merge
 * patch that becomes one rollout. Every route needs an admin token as `Authorization: Bearer …`, and
 * only there: never from a cookie or the URL, so another site cannot make a browser send it (no CSRF)
 * and it never lands in a log or a referrer. The token's label is recorded as who asked.
 *
 * PATCHes are applied one after the other, each against the config committed when its turn comes, so
 * two concurrent patches of the same nested object both land.
 */
export class AdminApi {
  private readonly tokens: Token[];
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly options: AdminOptions,
  ) {
    if (options === null || typeof options !== 'object')
      throw new InvalidArgumentError('inspector.admin must be an object such as { tokens: { ops: "…" } }.');
    const wrong = unknownName(options, adminOptionNames);
    if (wrong !== undefined)
      throw new InvalidArgumentError(unknownNameMessage('admin option', wrong, adminOptionNames));
    this.tokens = parseTokens(options.tokens);
  }

  static handles(pathname: string): boolean {
    return pathname === CONFIG_PATH || pathname === HISTORY_PATH;
  }

  async answer(req: IncomingMessage, pathname: string): Promise<Answer> {
    const label = this.authorize(req.headers.authorization);
    if (label === undefined) {
      // Drain the body so the connection can be reused; nothing in it is read.
      req.resume();
      return {
        status: 401,
        headers: { 'www-authenticate': 'Bearer realm="troupe admin"' },
        body: { error: 'unauthorized', message: 'The admin API needs Authorization: Bearer <admin token>.' },
      };
    }
    const method = req.method ?? 'GET';
    if (pathname === HISTORY_PATH) {
      if (method !== 'GET' && method !== 'HEAD') return notAllowed('GET, HEAD');
      return { status: 200, body: this.dispatcher.configHistory() };
    }
    if (method === 'GET' || method === 'HEAD') {
      const { configVersion, config } = this.dispatcher.snapshot();
      return { status: 200, body: { version: configVersion, config: withoutRemoved(config) } };
    }
    if (method !== 'PATCH') return notAllowed('GET, HEAD, PATCH');
    let patch: Record<string, unknown>;
    try {
      patch = parsePatch(await readBody(req));
    } catch (err) {
      if (err instanceof TooLarge) return { status: 413, body: { error: 'too-large', message: err.message } };
      return { status: 400, body: { error: 'bad-patch', message: (err as Error).message } };
    }
    const turn = this.chain.then(() => this.apply(patch, label));
    this.chain = turn.catch(() => {});
    return turn;
  }

  private async apply(patch: Record<string, unknown>, by: string): Promise<Answer> {
    const { configVersion, config } = this.dispatcher.snapshot();
    let change: Config;
    try {
      change = configChange(config, mergePatch(config, patch));
    } catch (err) {
      if (err instanceof PatchError)
        return { status: 400, body: { error: 'bad-patch', message: err.message } };
      throw err;
    }
    const changed = Object.keys(change);
    if (changed.length === 0) {
      return { status: 200, body: { version: configVersion, changed, config: withoutRemoved(config) } };
    }
    let version: number;
    try {
      ({ version } = await this.dispatcher.configure(change, { by }));
    } catch (err) {
      if (err instanceof ConfigRejectedError) {
        const cause =
          err.cause instanceof Error ? `${err.cause.name}: ${err.cause.message}` : String(err.cause);
        return {
          status: 409,
          body: {
            error: 'rejected',
            version: err.version,
            actorId: err.actorId,
            cause,
            message: err.message,
            current: configVersion,
          },
        };
      }
      if (
        err instanceof InvalidArgumentError ||
        (err instanceof TroupeError && err.code === 'ERR_TROUPE_DATA_CLONE')
      )
        return { status: 400, body: { error: 'bad-patch', message: err.message } };
      if (err instanceof TroupeError) return { status: 503, body: { error: err.code, message: err.message } };
      throw err;
    }
    const live = withoutRemoved(this.dispatcher.snapshot().config);
    const body: Record<string, unknown> = { version, changed, config: live };
    if (this.options.onAccepted !== undefined) {
      try {
        await this.options.onAccepted(live, version);
      } catch (err) {
        // The actors run the new version whatever happens to the file: say so, and what went wrong.
        body.persistError = (err as Error).message;
      }
    }
    return { status: 200, body };
  }

  /** The label of the token presented, compared in constant time against every token. */
  private authorize(header: string | undefined): string | undefined {
    if (header === undefined || !header.startsWith('Bearer ')) return undefined;
    const given = digest(header.slice(7).trim());
    let label: string | undefined;
    for (const t of this.tokens) if (timingSafeEqual(given, t.digest)) label ??= t.label;
    return label;
  }
}

/** Sends an Answer as JSON. */
export function sendAnswer(
  res: ServerResponse,
  answer: Answer,
  head: boolean,
  extra: Record<string, string>,
): void {
  const text = `${JSON.stringify(answer.body)}\n`;
  res.writeHead(answer.status, {
    ...extra,
    ...answer.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(head ? undefined : text);
}

/**
 * Validates admin tokens: one token (label `admin`) or label → token. Too short a token or a label
 * with odd characters is refused at startup rather than discovered by an attacker.
 */
export function parseTokens(tokens: AdminOptions['tokens']): Token[] {
  const entries = typeof tokens === 'string' ? [['admin', tokens] as const] : Object.entries(tokens ?? {});
  if (entries.length === 0) throw new InvalidArgumentError('inspector.admin.tokens holds no token.');
  return entries.map(([label, token]) => {
    if (!LABEL.test(label)) {
      throw new InvalidArgumentError(
        `Admin token label '${label}' must be 1 to 64 letters, digits, '.', '@', '_' or '-'.`,
      );
    }
    if (typeof token !== 'string' || token.length < MIN_TOKEN || /\s/.test(token)) {
      throw new InvalidArgumentError(
        `The admin token labelled '${label}' must be a string of at least ${MIN_TOKEN} characters without spaces.`,
      );
    }
    return { label, digest: digest(token) };
  });
}

const digest = (text: string) => createHash('sha256').update(text).digest();

class TooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        req.removeAllListeners('data');
        req.resume();
        reject(new TooLarge(`A config patch is at most ${MAX_BODY} bytes.`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parsePatch(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`The body is not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error('The body must be a JSON object (a JSON merge patch of the config), e.g. {"limit": 10}.');
  }
  return value as Record<string, unknown>;
}

function notAllowed(allow: string): Answer {
  return {
    status: 405,
    headers: { allow },
    body: { error: 'method-not-allowed', message: `Allowed here: ${allow}.` },
  };
}

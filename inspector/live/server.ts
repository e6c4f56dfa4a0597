import { InvalidArgumentError } from '../../actors/errors.js';
import type { Dispatcher, InspectorOptions } from '../../actors/types.js';
import { isLoopback } from './access.js';
import { AdminApi, sendAnswer } from './admin.js';
import { configView } from './config-view.js';
import { metricsJson } from './metrics-api.js';
import { securityHeaders, servePage } from './page-server.js';
import { Recorder } from './recorder.js';

/**
 * Serves the live inspector page for one dispatcher. Started by `createDispatcher` when
 * `createDispatcher({ inspector })` is given; closed with it.
 *
 * On 127.0.0.1 by default. Any other interface needs a token: the page shows the dispatcher's
 * inner workings, and the event stream can be read by anyone who can reach the port.
 */
export async function startInspector(
  dispatcher: Dispatcher,
  options: InspectorOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token === undefined || options.token === '' ? undefined : options.token;
  if (!isLoopback(host) && token === undefined) {
    throw new InvalidArgumentError(
      `The inspector would listen on ${host}, which other machines can reach, without a token. ` +
        'Set inspector.token (the page then needs ?token=…), or leave inspector.host unset for 127.0.0.1.',
    );
  }
  const history = options.history ?? 2_000;
  if (!Number.isInteger(history) || history < 10) {
    throw new InvalidArgumentError(`inspector.history must be an integer of at least 10, not ${history}.`);
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidArgumentError(`inspector.port must be an integer from 0 to 65535, not ${port}.`);
  }
  const showPayloads = options.showPayloads === true;

  const admin = options.admin === undefined ? undefined : new AdminApi(dispatcher, options.admin);
  const recorder = new Recorder(dispatcher, history, showPayloads);
  try {
    const page = await servePage({
      host,
      port,
      token,
      readOnly: 'the inspector is read-only',
      // The admin API has its own bearer tokens and nothing else: the page's cookie never changes config.
      before: async (req, res, url) => {
        if (admin === undefined || !AdminApi.handles(url.pathname)) return false;
        sendAnswer(res, await admin.answer(req, url.pathname), req.method === 'HEAD', securityHeaders);
        return true;
      },
      api: {
        '/api/snapshot': () => JSON.stringify(recorder.snapshot()),
        '/api/history': () => JSON.stringify(recorder.history()),
        '/api/config': () => JSON.stringify(configView(dispatcher, showPayloads, admin)),
        '/api/metrics': () => metricsJson(dispatcher),
      },
      hello: () => ({
        history,
        showPayloads,
        ...recorder.history(),
        snapshot: recorder.snapshot(),
        pid: process.pid,
        admin: admin !== undefined,
      }),
      follow: (send) => recorder.onFrames(send),
    });
    return {
      url: page.url,
      async close(): Promise<void> {
        recorder.close();
        await page.close();
      },
    };
  } catch (err) {
    recorder.close();
    throw err;
  }
}

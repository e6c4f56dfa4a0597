import { Worker } from 'node:worker_threads';
import { summary } from 'mitata';
import type { Dispatcher } from '../../actors/types.js';
import { type BenchCase, troupeOrNote } from '../lib/case.js';
import { workerUrl } from '../lib/paths.js';
import { echoApp } from '../lib/troupe.js';

const id = 'streams';
const SMALL = { n: 1024, size: 0 };
const LARGE = { n: 64, size: 64 * 1024 };

/** A raw port pushing chunks: one `postMessage` per chunk, then `null`. */
function rawStreamer() {
  const worker = new Worker(workerUrl('raw-chunks.mjs'));
  let done: (() => void) | undefined;
  worker.on('message', (msg: unknown) => {
    if (msg === null) done!();
  });
  return {
    stream: (spec: { n: number; size: number }) =>
      new Promise<void>((resolve) => {
        done = resolve;
        worker.postMessage(spec);
      }),
    close: () => worker.terminate(),
  };
}

async function drain(d: Dispatcher, spec: { n: number; size: number }): Promise<void> {
  for await (const _ of d.stream({ op: 'chunks', ...spec })) {
    // The consumer takes each chunk and does nothing with it, as the raw consumer does.
  }
}

/** Case 5: one stream at a time from one thread, small object chunks and 64 KiB ArrayBuffers (transferred). */
export const streams: BenchCase = {
  id,
  title: '5. Streams',
  run(ctx) {
    const troupe = troupeOrNote(ctx, id);
    for (const [kind, spec] of [
      ['small', SMALL],
      ['large', LARGE],
    ] as const) {
      const perSecond =
        kind === 'small'
          ? { unit: 'chunks/s', convert: (ns: number) => spec.n / (ns / 1e9) }
          : { unit: 'MB/s', convert: (ns: number) => (spec.n * spec.size) / 1e6 / (ns / 1e9) };
      const what =
        kind === 'small' ? `${spec.n} small object chunks` : `${spec.n} × 64 KiB ArrayBuffer chunks`;
      const common = { case: id, better: 'higher' as const, detail: `one stream of ${what}`, ...perSecond };
      summary(() => {
        ctx.time({
          ...common,
          id: `${id}/raw-${kind}`,
          label: `raw port, ${kind} chunks`,
          baseline: true,
          body: async function* () {
            const raw = rawStreamer();
            try {
              for (let i = 0; i < 5; i++) await raw.stream(spec);
              yield () => raw.stream(spec);
            } finally {
              await raw.close();
            }
          },
        });
        if (troupe !== undefined) {
          ctx.time({
            ...common,
            id: `${id}/troupe-${kind}`,
            label: `troupe stream, ${kind} chunks`,
            body: async function* () {
              const d = await troupe.createDispatcher({ app: echoApp, actors: ctx.threads });
              try {
                for (let i = 0; i < 5; i++) await drain(d, spec);
                yield () => drain(d, spec);
              } finally {
                await d.close();
              }
            },
          });
        }
      });
      const subject = `${id}/troupe-${kind}`;
      const peer = `${id}/raw-${kind}`;
      ctx.results.compare({ case: id, subject, peers: [peer] });
      ctx.results.target({
        text: `streams, ${kind} chunks ≥ 0.7× the raw port`,
        kind: 'speed-at-least',
        subject,
        peer,
        bound: 0.7,
      });
    }
  },
};

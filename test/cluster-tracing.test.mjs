// OpenTelemetry across the nodes of a cluster (two nodes in this process, one real nats-server, a tracer
// provider registered): a request sent to another node keeps the caller's trace, through a span on the
// caller's node to the runner's span and the handler.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { createDispatcher } from 'troupe';
import { startNats } from './helpers/cluster.mjs';
import { fixture, until } from './helpers/util.mjs';

const exporter = new InMemorySpanExporter();
const parentOf = (span) => span.parentSpanContext?.spanId;
const requestSpans = () => exporter.getFinishedSpans().filter((s) => s.name === 'troupe.request');

let nats;
let a;
let b;
/** A key node b owns, so that a request for it from node a crosses. */
let key;

before(async () => {
  // Registered before the dispatchers are created: tracing 'auto' turns on for both nodes.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  nats = await startNats();
  const node = (id) =>
    createDispatcher({
      app: fixture('cluster-requests-app.mjs'),
      actors: 2,
      cluster: { servers: nats.url, name: 'traced', node: id, nodeTimeout: 2_000 },
    });
  a = await node('a');
  b = await node('b');
  await until(
    () => [a, b].every((d) => d.snapshot().cluster.nodes.filter((n) => n.state === 'ready').length === 2),
    5_000,
  );
  for (let k = 0; key === undefined && k < 200; k++)
    if ((await a.request({ op: 'who' }, { key: `t-${k}` })).node === 'b') key = `t-${k}`;
  assert.ok(key !== undefined, 'a key that b owns');
});

after(async () => {
  await Promise.all([a, b].filter(Boolean).map((d) => d.close({ grace: 2_000 })));
  await nats?.close();
});

/** Runs `fn` inside an active `caller` span; returns its result (or error) and the finished caller span. */
async function asCaller(fn) {
  exporter.reset();
  const outcome = await trace.getTracer('test').startActiveSpan('caller', async (span) => {
    try {
      return { value: await fn() };
    } catch (error) {
      return { error };
    } finally {
      span.end();
    }
  });
  const caller = exporter.getFinishedSpans().find((s) => s.name === 'caller');
  return { ...outcome, caller };
}

describe('tracing across cluster nodes', () => {
  test('caller span → troupe.request on the caller’s node → troupe.request on the runner → the handler', async () => {
    const { value: seen, caller } = await asCaller(() => a.request({ op: 'trace' }, { key }));
    assert.equal(seen.node, 'b');
    const spans = requestSpans();
    const sent = spans.find((s) => s.kind === SpanKind.CLIENT);
    assert.ok(sent !== undefined, `a client span for the forwarded request: ${spans.map((s) => s.kind)}`);
    assert.equal(sent.spanContext().traceId, caller.spanContext().traceId, 'one trace');
    assert.equal(parentOf(sent), caller.spanContext().spanId, 'its parent is the caller’s active span');
    assert.equal(sent.attributes['troupe.node'], 'b');
    assert.equal(sent.attributes['troupe.outcome'], 'ok');
    const ran = spans.find((s) => s.kind === SpanKind.INTERNAL);
    assert.ok(ran !== undefined, 'the runner’s own request span');
    assert.equal(
      parentOf(ran),
      sent.spanContext().spanId,
      'the runner continues from the caller node’s span',
    );
    assert.equal(ran.spanContext().traceId, caller.spanContext().traceId);
    assert.equal(
      seen.traceparent,
      `00-${ran.spanContext().traceId}-${ran.spanContext().spanId}-01`,
      'the handler runs inside the runner’s span',
    );
  });

  test('a failure on the runner marks the caller node’s span with its code', async () => {
    const { error, caller } = await asCaller(() => a.request({ op: 'throw' }, { key }));
    assert.equal(error?.code, 'E_APP_RANGE');
    const sent = requestSpans().find((s) => s.kind === SpanKind.CLIENT);
    assert.equal(parentOf(sent), caller.spanContext().spanId);
    assert.equal(sent.attributes['troupe.outcome'], 'E_APP_RANGE');
    assert.equal(sent.status.code, SpanStatusCode.ERROR);
  });

  test('a forwarded stream’s span ends when the stream does, ok', async () => {
    const { value: chunks } = await asCaller(async () => {
      const out = [];
      for await (const c of a.stream({ op: 'count', n: 3 }, { key })) out.push(c);
      return out;
    });
    assert.equal(chunks.length, 3);
    const sent = requestSpans().find((s) => s.kind === SpanKind.CLIENT);
    assert.equal(sent?.attributes['troupe.outcome'], 'ok');
    assert.equal(sent.attributes['troupe.node'], 'b');
  });

  test('an explicit traceparent is the caller node’s span parent, as for a local request', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    exporter.reset();
    const seen = await a.request({ op: 'trace' }, { key, traceparent });
    const sent = requestSpans().find((s) => s.kind === SpanKind.CLIENT);
    assert.equal(sent.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(parentOf(sent), 'b7ad6b7169203331');
    assert.match(seen.traceparent, /^00-0af7651916cd43dd8448eb211c80319c-/);
  });
});

// OpenTelemetry: a `troupe.request` span per request, its context carried into the actor (the app's own
// spans are its children), `RequestOptions.traceparent` and `troupe serve` continuing an incoming trace.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { createDispatcher, InvalidArgumentError, serve } from 'troupe';
import { fixture } from './helpers/util.mjs';

const exporter = new InMemorySpanExporter();
const app = fixture('traced-app.mjs');
const parentOf = (span) => span.parentSpanContext?.spanId;
const requestSpans = () => exporter.getFinishedSpans().filter((s) => s.name === 'troupe.request');

describe('OpenTelemetry tracing', () => {
  let d;
  before(async () => {
    // Registered before the dispatcher is created: tracing 'auto' turns on.
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
    d = await createDispatcher({ app, actors: 2, config: { v: 1 } });
  });
  after(async () => {
    await d?.close();
  });

  test('caller span → troupe.request → the handler’s span, across the thread boundary', async () => {
    exporter.reset();
    const tracer = trace.getTracer('test');
    const seen = await tracer.startActiveSpan('caller', async (span) => {
      try {
        return await d.request({ op: 'work' }, { key: 'user-7' });
      } finally {
        span.end();
      }
    });
    const caller = exporter.getFinishedSpans().find((s) => s.name === 'caller');
    const [req] = requestSpans();
    assert.ok(req !== undefined, 'a troupe.request span');
    assert.equal(req.spanContext().traceId, caller.spanContext().traceId);
    assert.equal(parentOf(req), caller.spanContext().spanId);
    assert.equal(seen.name, 'app.work');
    assert.equal(seen.traceId, req.spanContext().traceId, 'the app span is in the same trace');
    assert.equal(seen.parentSpanId, req.spanContext().spanId, 'the app span is a child of troupe.request');
    assert.equal(seen.traceparent, `00-${req.spanContext().traceId}-${req.spanContext().spanId}-01`);
    const a = req.attributes;
    assert.ok(a['troupe.actor'] === 0 || a['troupe.actor'] === 1);
    assert.equal(typeof a['troupe.key_hash'], 'number');
    assert.equal(typeof a['troupe.queue_wait_ms'], 'number');
    assert.equal(a['troupe.config_version'], 1);
    assert.equal(a['troupe.outcome'], 'ok');
    assert.equal(req.status.code, SpanStatusCode.UNSET);
  });

  test('a stream’s handler spans are children too; a failure marks the span as an error', async () => {
    exporter.reset();
    const chunks = [];
    for await (const c of d.stream({ op: 'stream' })) chunks.push(c);
    const [req] = requestSpans();
    assert.equal(chunks[1].parentSpanId, req.spanContext().spanId);
    assert.equal(req.attributes['troupe.outcome'], 'ok');
    exporter.reset();
    await assert.rejects(d.request({ op: 'fail' }), { code: 'E_TRACED' });
    const [failed] = requestSpans();
    assert.equal(failed.attributes['troupe.outcome'], 'E_TRACED');
    assert.equal(failed.status.code, SpanStatusCode.ERROR);
    assert.equal(failed.status.message, 'traced failure');
  });

  test('queued requests: the span starts at submit and says how long it waited', async () => {
    const q = await createDispatcher({ app, actors: 1, concurrency: 1 });
    try {
      exporter.reset();
      await Promise.all([q.request({ op: 'work' }), q.request({ op: 'work' }), q.request({ op: 'work' })]);
      const waits = requestSpans()
        .map((s) => s.attributes['troupe.queue_wait_ms'])
        .sort((x, y) => x - y);
      assert.equal(waits.length, 3);
      assert.equal(waits[0], 0, 'the first started at once');
      assert.ok(waits[2] > 0, `the last waited (${waits[2]} ms)`);
      const [, , last] = requestSpans().sort(
        (x, y) => x.attributes['troupe.queue_wait_ms'] - y.attributes['troupe.queue_wait_ms'],
      );
      const ms = (t) => t[0] * 1e3 + t[1] / 1e6;
      assert.ok(ms(last.duration) >= last.attributes['troupe.queue_wait_ms'], 'the span covers its wait');
    } finally {
      await q.close();
    }
  });

  test('RequestOptions.traceparent continues a remote trace; tracing: false traces nothing', async () => {
    exporter.reset();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const seen = await d.request({ op: 'work' }, { traceparent: `00-${traceId}-${parent}-01` });
    const [req] = requestSpans();
    assert.equal(req.spanContext().traceId, traceId);
    assert.equal(parentOf(req), parent);
    assert.equal(seen.traceId, traceId);
    assert.equal(seen.parentSpanId, req.spanContext().spanId);

    const off = await createDispatcher({ app, actors: 1, tracing: false });
    try {
      exporter.reset();
      const plain = await off.request({ op: 'plain' });
      assert.deepEqual(plain, { traceparent: undefined, active: false });
      assert.equal(requestSpans().length, 0);
    } finally {
      await off.close();
    }
    await assert.rejects(createDispatcher({ app, tracing: 'yes' }), InvalidArgumentError);
  });

  test('serve() continues an incoming traceparent header into the actor', async () => {
    const hd = await createDispatcher({ app, actors: 1, entry: 'fetch' });
    const server = await serve(hd, { port: 0 });
    try {
      exporter.reset();
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const parent = 'b7ad6b7169203331';
      const res = await fetch(`${server.url}/`, { headers: { traceparent: `00-${traceId}-${parent}-01` } });
      const seen = await res.json();
      const [req] = requestSpans();
      assert.equal(req.spanContext().traceId, traceId);
      assert.equal(parentOf(req), parent);
      assert.equal(seen.name, 'app.fetch');
      assert.equal(seen.traceId, traceId);
      assert.equal(seen.parentSpanId, req.spanContext().spanId);
    } finally {
      await server.close();
      await hd.close();
    }
  });
});

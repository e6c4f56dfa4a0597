import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { requestActorMachine, requestActorStates, routerMachine } from 'troupe';
import { createActor } from 'xstate';
import { getShortestPaths } from 'xstate/graph';

/** Every (source state, event, target state) the definition declares, root-level transitions included. */
function declaredTransitions(machine) {
  const out = [];
  const leaves = [];
  const visit = (node) => {
    if (Object.keys(node.states).length === 0) leaves.push(node);
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(machine.root);
  for (const leaf of leaves) {
    // A final state ends the machine: it takes no event, inherited or not.
    if (leaf.type === 'final') continue;
    // A leaf answers its own events and those of every ancestor (e.g. CRASH from anywhere).
    for (let node = leaf; node; node = node.parent) {
      for (const [event, list] of node.transitions) {
        for (const t of list) {
          const target = t.target?.[0];
          out.push({ source: leaf, event, target });
        }
      }
    }
  }
  return out;
}

const stateKey = (snap) => JSON.stringify(snap.value);

/** ['running', 'degraded'] → { running: 'degraded' }; ['ready'] → 'ready'. */
function valueAt(path) {
  return path.reduceRight((inner, key) => (inner === undefined ? key : { [key]: inner }), undefined);
}

const sampleEvent = (type) => ({ type, configVersion: 7, error: 'boom', slot: 0, failed: 0 });

/** Replays a shortest path to each leaf state, then takes each declared transition from there. */
function walkEvery(machine, input) {
  const transitions = declaredTransitions(machine);
  const events = [...new Set(transitions.map((t) => t.event))].map(sampleEvent);
  const pathTo = new Map();
  for (const p of getShortestPaths(machine, { input, events })) {
    pathTo.set(
      stateKey(p.state),
      p.steps.map((s) => s.event),
    );
  }
  let walked = 0;
  for (const { source, event, target } of transitions) {
    const key = JSON.stringify(valueAt(source.path));
    const steps = pathTo.get(key);
    assert.ok(steps, `state ${source.path.join('.')} is reachable from the initial state`);
    const actor = createActor(machine, { input }).start();
    for (const e of steps) actor.send(e);
    assert.equal(stateKey(actor.getSnapshot()), key);
    actor.send(sampleEvent(event));
    const after = actor.getSnapshot();
    const label = `${source.path.join('.')} --${event}--> ${target ? target.path.join('.') : '(self)'}`;
    if (target) assert.ok(after.matches(valueAt(target.path)), label);
    else assert.equal(stateKey(after), key, label);
    walked++;
  }
  return walked;
}

describe('request-actor machine', () => {
  test('has exactly the lifecycle states of the design', () => {
    assert.deepEqual(Object.keys(requestActorMachine.root.states).sort(), [...requestActorStates].sort());
  });

  test('every declared transition is taken by a walk from the initial state', () => {
    const walked = walkEvery(requestActorMachine, { actorId: 3 });
    // 7 live transitions out of init/ready/serving/streaming/draining, CRASH from all 7 states, config updates.
    assert.ok(walked >= 20, `walked ${walked} transitions`);
  });

  test('a config change updates context without leaving the state', () => {
    const actor = createActor(requestActorMachine, { input: { actorId: 0 } }).start();
    actor.send({ type: 'INIT_DONE', configVersion: 1 });
    actor.send({ type: 'REQUEST_STARTED' });
    actor.send({ type: 'CONFIG_APPLIED', configVersion: 2 });
    assert.equal(actor.getSnapshot().value, 'serving');
    assert.equal(actor.getSnapshot().context.configVersion, 2);
  });

  test('stopped and failed are final', () => {
    const a = createActor(requestActorMachine, { input: { actorId: 0 } }).start();
    a.send({ type: 'INIT_FAILED', error: 'no db' });
    assert.equal(a.getSnapshot().status, 'done');
    assert.equal(a.getSnapshot().context.error, 'no db');
  });
});

describe('router machine', () => {
  test('has starting, running, draining, closed, failed', () => {
    assert.deepEqual(Object.keys(routerMachine.root.states).sort(), [
      'closed',
      'draining',
      'failed',
      'running',
      'starting',
    ]);
  });

  test('every declared transition is taken by a walk from the initial state', () => {
    assert.ok(walkEvery(routerMachine, undefined) >= 7);
  });
});

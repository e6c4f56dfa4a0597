import { InvalidArgumentError } from '../errors.js';
import type { Config, ConfigChange, ConfigRecord, ConfigureOptions, InspectionEvent } from '../types.js';

interface Ticket {
  by: string | undefined;
  record: ConfigRecord | undefined;
}

const MAX_BY = 200;

/** Records kept: an audit trail for operators, bounded because a service may take changes for months. */
export const HISTORY_LIMIT = 500;

/**
 * The config's audit trail: one record per proposed version, from the rollout's own events (start, each
 * actor's ack or reject, rollback, commit), with who asked and what changed against the config committed
 * at the time. A rejected proposal keeps the version it would have had: the next proposal reuses it.
 *
 * The rollout reports here whether or not anyone watches the inspection events, so the history never
 * costs the request path anything (rollouts are rare; requests never pass through it).
 */
export class ConfigHistory {
  private readonly records: ConfigRecord[] = [];
  /** The `configure` calls whose rollout has not started yet, by change object. */
  private readonly tickets = new Map<Config, Ticket[]>();
  private open: ConfigRecord | undefined;
  private committed: Readonly<Config>;

  constructor(initial: Readonly<Config>) {
    this.committed = initial;
    const at = Date.now();
    this.records.push({
      version: 1,
      at,
      settledAt: at,
      by: 'initial',
      outcome: 'accepted',
      change: { ...initial },
      changes: Object.keys(initial).map((key) => ({ key, to: initial[key] })),
      acks: [],
      rejects: [],
      rolledBack: [],
    });
  }

  /**
   * Runs one `configure` call: who asked is kept until the rollout of this very change object starts
   * (rollouts run one at a time, in call order), and a rollout that failed without an actor's verdict
   * is still settled in the trail.
   */
  async track<T>(change: Config, options: ConfigureOptions | undefined, run: () => Promise<T>): Promise<T> {
    const by = options?.by;
    if (by !== undefined && (typeof by !== 'string' || by.length === 0 || by.length > MAX_BY)) {
      throw new InvalidArgumentError(
        `configure(): options.by must be a string of 1 to ${MAX_BY} characters.`,
      );
    }
    const ticket: Ticket = { by, record: undefined };
    const queue = this.tickets.get(change);
    if (queue === undefined) this.tickets.set(change, [ticket]);
    else queue.push(ticket);
    try {
      return await run();
    } catch (err) {
      const record = ticket.record;
      if (record === undefined) this.forget(change, ticket);
      else if (record.outcome === 'pending') {
        record.outcome = 'rejected';
        record.settledAt = Date.now();
        record.rejects.push({ actorId: -1, error: String((err as Error)?.message ?? err) });
      }
      throw err;
    }
  }

  /** Fed every `@troupe.config` event of the rollout, in order. */
  observe(event: Extract<InspectionEvent, { type: '@troupe.config' }>): void {
    const open = this.open;
    switch (event.phase) {
      case 'start': {
        const change = event.change ?? {};
        const ticket = this.tickets.get(change)?.[0];
        if (ticket !== undefined) this.forget(change, ticket);
        const by = ticket?.by ?? event.by;
        // The history sees the start event before any listener does, and the event is the rollout's own
        // fresh object: naming who asked on it puts that in the timeline and in recordings too.
        if (by !== undefined) event.by = by;
        this.open = {
          version: event.version,
          at: event.at,
          ...(by !== undefined ? { by } : {}),
          outcome: 'pending',
          change: { ...change },
          changes: diff(this.committed, change),
          acks: [],
          rejects: [],
          rolledBack: [],
        };
        if (ticket !== undefined) ticket.record = this.open;
        this.push(this.open);
        return;
      }
      case 'ack':
        if (open !== undefined && event.actorId !== undefined) open.acks.push(event.actorId);
        return;
      case 'reject':
        if (open === undefined || event.actorId === undefined) return;
        open.rejects.push({ actorId: event.actorId, error: event.error ?? 'rejected' });
        open.outcome = 'rejected';
        open.settledAt = event.at;
        return;
      case 'rollback':
        if (open !== undefined && event.actorId !== undefined) open.rolledBack.push(event.actorId);
        return;
      case 'commit':
        if (open === undefined) return;
        open.outcome = 'accepted';
        open.settledAt = event.at;
        this.committed = { ...this.committed, ...open.change };
        this.open = undefined;
        return;
    }
  }

  /** Oldest first; copies, so a caller cannot edit the trail. */
  list(): ConfigRecord[] {
    return this.records.map((r) => structuredClone(r));
  }

  private forget(change: Config, ticket: Ticket): void {
    const queue = this.tickets.get(change);
    if (queue === undefined) return;
    const i = queue.indexOf(ticket);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.tickets.delete(change);
  }

  private push(record: ConfigRecord): void {
    this.records.push(record);
    if (this.records.length > HISTORY_LIMIT) this.records.splice(0, this.records.length - HISTORY_LIMIT);
  }
}

/** Each top-level key the change sets, with the committed value before it (a key absent before has no `from`). */
function diff(before: Readonly<Config>, change: Config): ConfigChange[] {
  return Object.keys(change).map((key) => ({
    key,
    ...(key in before && before[key] !== undefined ? { from: before[key] } : {}),
    ...(change[key] !== undefined ? { to: change[key] } : {}),
  }));
}

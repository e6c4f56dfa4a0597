/**
 * What the suite found, in one place: figures (every one a median), the comparisons between them, and the
 * issue's targets. The reporter renders it; nothing here formats or measures.
 */
export type Better = 'lower' | 'higher';

export interface Figure {
  /** `<case>/<subject>`, stable across runs so that reports can be diffed. */
  id: string;
  case: string;
  label: string;
  /** The median, in `unit`. */
  value: number;
  unit: string;
  better: Better;
  /** How the figure was derived (batch size divided out, counts, settings). */
  detail?: string;
  /** Relative spread (p75 − p25) / p50 of the samples, when the figure comes from mitata. */
  spread?: number;
}

/** `subject` compared with each of `peers`; the ratio is the subject's speed relative to the peer's. */
export interface Comparison {
  case: string;
  subject: string;
  peers: string[];
}

/**
 * The issue's targets, each in its own terms:
 * - `time-at-most`: subject time / peer time ≤ bound (round trip ≤ 1.25× raw);
 * - `speed-at-least`: subject speed / peer speed ≥ bound (64 in flight ≥ 3× Piscina);
 * - `value-at-most`: subject value ≤ bound, in the figure's unit (configure with 8 actors < 1 ms);
 * - `value-at-least`: subject value ≥ bound, in the figure's unit (a cache hit rate in %);
 * - `within-noise`: subject / peer within the larger of the two figures' spreads.
 */
export interface Target {
  text: string;
  kind: 'time-at-most' | 'speed-at-least' | 'value-at-most' | 'value-at-least' | 'within-noise';
  subject: string;
  peer?: string;
  bound: number;
  /** Why the target cannot be measured yet, shown in place of a figure when one is missing. */
  pending?: string;
}

export interface TargetOutcome extends Target {
  /** The measured ratio (or value, for `value-at-most`); undefined when a figure is missing. */
  measured: number | undefined;
  met: boolean | undefined;
  /** For `within-noise`: the noise band the ratio was held against. */
  band?: number;
}

export class Results {
  readonly figures = new Map<string, Figure>();
  readonly comparisons: Comparison[] = [];
  readonly targets: Target[] = [];
  readonly notes: string[] = [];
  readonly errors: string[] = [];

  add(figure: Figure): void {
    this.figures.set(figure.id, figure);
  }

  compare(comparison: Comparison): void {
    this.comparisons.push(comparison);
  }

  target(target: Target): void {
    this.targets.push(target);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  error(text: string): void {
    this.errors.push(text);
  }
}

/** How many times as fast `a` is as `b` (> 1: a is faster), whatever the direction of their unit. */
export function speedRatio(a: Figure, b: Figure): number {
  return a.better === 'lower' ? b.value / a.value : a.value / b.value;
}

export function evaluate(results: Results, target: Target): TargetOutcome {
  const subject = results.figures.get(target.subject);
  const peer = target.peer === undefined ? undefined : results.figures.get(target.peer);
  if (subject === undefined || (target.peer !== undefined && peer === undefined)) {
    return { ...target, measured: undefined, met: undefined };
  }
  switch (target.kind) {
    case 'value-at-most':
      return { ...target, measured: subject.value, met: subject.value <= target.bound };
    case 'value-at-least':
      return { ...target, measured: subject.value, met: subject.value >= target.bound };
    case 'time-at-most': {
      const ratio = 1 / speedRatio(subject, peer!);
      return { ...target, measured: ratio, met: ratio <= target.bound };
    }
    case 'speed-at-least': {
      const ratio = speedRatio(subject, peer!);
      return { ...target, measured: ratio, met: ratio >= target.bound };
    }
    case 'within-noise': {
      const ratio = 1 / speedRatio(subject, peer!);
      const band = Math.max(target.bound, subject.spread ?? 0, peer!.spread ?? 0);
      return { ...target, measured: ratio, met: Math.abs(ratio - 1) <= band, band };
    }
  }
}

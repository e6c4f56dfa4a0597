/**
 * Option names are checked against the known ones because JavaScript callers get no compiler to catch a
 * misspelt name, and an ignored option fails silently (`actor: 4` would start the default count).
 */

/** Edit distance (insertions, deletions, substitutions) between two short names. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** The known name nearest to `name`, compared case-insensitively (ties: the first in `known`). */
export function closestName(name: string, known: readonly string[]): string {
  const lower = name.toLowerCase();
  let best = known[0]!;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * The first own enumerable key of `object` that `known` lacks, or undefined. A key whose value is
 * undefined counts too: `{ tiemout: undefined }` is still a misspelling.
 */
export function unknownName(object: object, known: readonly string[]): string | undefined {
  for (const key of Object.keys(object)) if (!known.includes(key)) return key;
  return undefined;
}

/** "Unknown <what> 'actor'; did you mean 'actors'? Known: …" */
export function unknownNameMessage(what: string, name: string, known: readonly string[]): string {
  return `Unknown ${what} '${name}'; did you mean '${closestName(name, known)}'? Known: ${known.join(', ')}.`;
}

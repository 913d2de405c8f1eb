/**
 * "Did you mean …?" for mistyped words.
 * @module
 */

/** Edit distance with adjacent transpositions (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** The candidates closest to `word` (within 40% of its length, at least 1), best first. */
export function similar(word: string, candidates: readonly string[]): string[] {
  const limit = Math.max(1, Math.floor(word.length * 0.4));
  const scored = candidates.map((c) => ({ c, d: editDistance(word, c) }))
    .filter((s) => s.d <= limit || (word.length >= 3 && s.c.startsWith(word)));
  const best = Math.min(...scored.map((s) => s.d));
  return scored.filter((s) => s.d === best).map((s) => s.c).sort();
}

/** "\n(Did you mean X?)" or "" — as commander words it for unknown commands. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const s = similar(word, candidates);
  if (s.length === 0) return "";
  return `\n(Did you mean ${s.length === 1 ? s[0] : `one of ${s.join(", ")}`}?)`;
}

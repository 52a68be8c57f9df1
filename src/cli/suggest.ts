// "Did you mean": the known words closest to a mistyped one.

/** Edit distance counting a swap of two neighbours as one edit (`stauts` → `status` is 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2][j - 2] + 1);
      d[i][j] = v;
    }
  }
  return d[a.length][b.length];
}

/**
 * Up to three candidates, closest first: those within a small edit distance (one edit for words
 * of up to three letters, two for longer ones), and those the word is the start of.
 */
export function closest(word: string, candidates: readonly string[], max = 3): string[] {
  if (!word || word.length > 100) return [];
  const w = word.toLowerCase();
  const limit = w.length <= 3 ? 1 : 2;
  const scored: { c: string; d: number }[] = [];
  for (const c of new Set(candidates)) {
    if (c === word) continue;
    const d = editDistance(w, c.toLowerCase());
    if (d <= limit || c.startsWith(w)) scored.push({ c, d });
  }
  return scored.sort((x, y) => x.d - y.d).slice(0, max).map((s) => s.c);
}

/** "did you mean 'a'?", "did you mean 'a' or 'b'?" */
export function didYouMean(quoted: readonly string[]): string {
  const q = quoted.map((s) => `'${s}'`);
  return `did you mean ${q.length > 1 ? `${q.slice(0, -1).join(", ")} or ${q[q.length - 1]}` : q[0]}?`;
}

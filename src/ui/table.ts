// Plain-text tables for terminals. Cells come from the server, so control characters (terminal
// escapes) are dropped and long cells are cut to keep one row per line.

import { sanitize } from "./sanitize.ts";

/** One display line: no control characters, whitespace runs collapsed. */
export function cleanCell(v: unknown): string {
  return sanitize(v, { oneLine: true });
}

/** Text for the terminal that may keep newlines and tabs (answers), never escape sequences. */
export function cleanText(s: string): string {
  return sanitize(s);
}

const width = (s: string) => Bun.stringWidth(s);

export function truncate(s: string, max: number): string {
  if (width(s) <= max) return s;
  let out = "";
  for (const ch of s) {
    if (width(out + ch) > max - 1) break;
    out += ch;
  }
  return out + "…";
}

const pad = (s: string, w: number) => s + " ".repeat(Math.max(0, w - width(s)));

/** Columns separated by two spaces; `maxWidths[i]` caps column i (0 = no cap). The last column is not padded. */
export function renderTable(headers: string[], rows: unknown[][], maxWidths: number[] = []): string {
  const cells = rows.map((r) => headers.map((_, i) => {
    const c = cleanCell(r[i]);
    return maxWidths[i] ? truncate(c, maxWidths[i]) : c;
  }));
  const widths = headers.map((h, i) => Math.max(width(h), ...cells.map((r) => width(r[i]))));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]))).join("  ").trimEnd();
  return [line(headers), ...cells.map(line)].join("\n") + "\n";
}

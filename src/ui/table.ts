// Tables. On a terminal: aligned columns that fit its width (long cells cut with "…", the least
// useful columns dropped when it is narrow), so a row never wraps. In a pipe or a file: the same
// rows, tab-separated, whole and without a header, for cut, awk and grep. Cells come from the
// server, so control characters (terminal escapes) are dropped and whitespace runs collapsed.

import { type StreamInfo, styleFor } from "./colour.ts";
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
  if (max <= 0) return "";
  let out = "";
  for (const ch of s) {
    if (width(out + ch) > max - 1) break;
    out += ch;
  }
  return out + "…";
}

const pad = (s: string, w: number) => s + " ".repeat(Math.max(0, w - width(s)));

export interface Column {
  header: string;
  /** A cap on the column on a terminal, whatever the width (0 or absent: none). */
  max?: number;
  /** May be cut below its natural width to fit the terminal, down to `min`. */
  shrink?: boolean;
  /** The narrowest a shrinking column gets before columns are dropped (default: 10, or less if its content is narrower). */
  min?: number;
  /** May be left out when the terminal is too narrow: the lowest number goes first. */
  drop?: number;
}

/** Where the table goes. */
export interface TableLayout {
  /** A terminal: aligned and fitted. Otherwise tab-separated rows (unless `tsv` is false). */
  tty: boolean;
  /** The terminal's width in columns (default 80). */
  width?: number;
  /** Styles the header row on a terminal (bold). */
  header?: (s: string) => string;
  /** false: a pipe gets the aligned table too, uncut (a table inside a document, such as an app's inputs). */
  tsv?: boolean;
}

const GAP = 2;
const DEFAULT_MIN = 10;

/** The widths columns get on a terminal `avail` columns wide; null marks a dropped column. */
export function fitWidths(cols: Column[], natural: number[], avail: number): (number | null)[] {
  const total = (ws: (number | null)[]) => {
    const shown = ws.filter((w): w is number => w !== null);
    return shown.reduce((a, b) => a + b, 0) + GAP * Math.max(0, shown.length - 1);
  };
  let ws: (number | null)[] = [...natural];
  const floorOf = (i: number) => Math.min(natural[i], Math.max(cols[i].min ?? DEFAULT_MIN, 1));
  for (;;) {
    // Cut the widest shrinking column first, down to its floor.
    let over = total(ws) - avail;
    while (over > 0) {
      let widest = -1;
      for (let i = 0; i < ws.length; i++) {
        const w = ws[i];
        if (w !== null && cols[i].shrink && w > floorOf(i) && (widest < 0 || w > ws[widest]!)) widest = i;
      }
      if (widest < 0) break;
      const cut = Math.min(over, ws[widest]! - floorOf(widest), Math.max(1, ws[widest]! - secondWidest(ws, cols, widest)));
      ws[widest] = ws[widest]! - cut;
      over -= cut;
    }
    if (over <= 0) return ws;
    // Still too wide: leave out the next droppable column and start again from natural widths.
    let next = -1;
    for (let i = 0; i < cols.length; i++) {
      if (ws[i] !== null && cols[i].drop !== undefined && (next < 0 || cols[i].drop! < cols[next].drop!)) next = i;
    }
    if (next < 0) break;
    ws = ws.map((w, i) => (w === null || i === next ? null : natural[i]));
  }
  // Nothing left to drop: cut whatever is widest, so that no line is longer than the terminal.
  let over = total(ws) - avail;
  while (over > 0) {
    let widest = -1;
    for (let i = 0; i < ws.length; i++) if (ws[i] !== null && ws[i]! > 1 && (widest < 0 || ws[i]! > ws[widest]!)) widest = i;
    if (widest < 0) break;
    ws[widest] = ws[widest]! - 1;
    over--;
  }
  return ws;
}

/** The width of the widest other shrinking column: cutting stops there, so wide columns shrink together. */
function secondWidest(ws: (number | null)[], cols: Column[], except: number): number {
  let best = 0;
  for (let i = 0; i < ws.length; i++) if (i !== except && ws[i] !== null && cols[i].shrink) best = Math.max(best, ws[i]!);
  return best;
}

/** A table of `rows` (one value per column) for a terminal or a pipe, per `layout`. */
export function renderColumns(cols: Column[], rows: unknown[][], layout: TableLayout): string {
  const cells = rows.map((r) => cols.map((_, i) => cleanCell(r[i])));
  if (!layout.tty && layout.tsv !== false) return cells.map((r) => r.join("\t") + "\n").join("");
  const headers = cols.map((c) => c.header);
  const capped = layout.tty ? cells.map((r) => r.map((c, i) => (cols[i].max ? truncate(c, cols[i].max!) : c))) : cells;
  const natural = cols.map((_, i) => Math.max(width(headers[i]), ...capped.map((r) => width(r[i]))));
  const ws = layout.tty ? fitWidths(cols, natural, layout.width ?? 80) : natural;
  const shown = cols.map((_, i) => i).filter((i) => ws[i] !== null);
  const last = shown[shown.length - 1];
  const line = (r: string[]) => shown.map((i) => {
    const c = truncate(r[i], ws[i]!);
    return i === last ? c : pad(c, ws[i]!);
  }).join(" ".repeat(GAP)).trimEnd();
  const head = line(headers);
  return [layout.header && layout.tty ? layout.header(head) : head, ...capped.map(line)].join("\n") + "\n";
}

/**
 * Columns separated by two spaces; `maxWidths[i]` caps column i (0 = no cap). The last column is
 * not padded. With a `layout`, a capped column may shrink further to fit a terminal, and a pipe
 * gets tab-separated rows.
 */
export function renderTable(headers: string[], rows: unknown[][], maxWidths: number[] = [], layout?: TableLayout): string {
  const cols: Column[] = headers.map((header, i) => ({ header, max: maxWidths[i] || undefined, shrink: (maxWidths[i] ?? 0) > 0 }));
  if (!layout) return renderColumns(cols, rows, { tty: true, width: Infinity });
  return renderColumns(cols, rows, layout);
}

/** The terminal's width: COLUMNS when set (a person's override), else the terminal's own, else 80. */
export function terminalWidth(env: Record<string, string | undefined>, tty: boolean): number {
  const c = Number(env.COLUMNS);
  if (Number.isInteger(c) && c >= 20 && c <= 10_000) return c;
  if (!tty) return 80;
  // process.stdout.columns builds the stdout stream, ~25 ms in the compiled binary (measured); the
  // runtime's tty binding, which that stream asks, answers at once. The stream is the fallback.
  try {
    type Binding = { TTY?: new (fd: number, ctx: object) => { getWindowSize(size: number[]): unknown } };
    const binding = (process as unknown as { binding?: (name: string) => Binding }).binding?.("tty_wrap");
    const size = [0, 0];
    if (binding?.TTY && new binding.TTY(1, {}).getWindowSize(size) && size[0] > 0) return size[0];
  } catch { /* no such binding here */ }
  const cols = process.stdout.columns;
  return typeof cols === "number" && cols > 0 ? cols : 80;
}

/** The layout of a table on this context's stdout: fitted and bold-headed on a terminal, tab-separated elsewhere. */
export function tableLayout(ctx: StreamInfo): TableLayout {
  const s = styleFor(ctx, 1);
  return { tty: s.tty, width: terminalWidth(ctx.env, s.tty), ...(s.colour ? { header: s.bold } : {}) };
}

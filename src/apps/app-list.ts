// Shared by `get apps` and `get permitted-external-apps`: flag checks, paging, output.
import { type Cmds, fetchPages } from "./app-api.ts";
import { APP_MODES, DEFAULT_LIST_LIMIT, isAppMode, MAX_LIST_LIMIT } from "./app-modes.ts";
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { HttpClient } from "../http/http-client.ts";
import { cleanCell, type Column, renderColumns, tableLayout } from "../ui/table.ts";

export interface ListFlags { limit: number; mode?: string; name?: string }

/** The list options as the command table types them; strings are accepted too (checked the same way). */
export interface ListOptions { limit?: number | string; mode?: string; name?: string }

export function listFlags(o: ListOptions): ListFlags {
  let limit = DEFAULT_LIST_LIMIT;
  if (o.limit !== undefined) {
    const s = String(o.limit);
    limit = /^\d{1,9}$/.test(s) ? Number(s) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) {
      throw new CliError("usage_invalid_flag", `--limit must be a whole number from 1 to ${MAX_LIST_LIMIT} (got '${s.slice(0, 20)}')`);
    }
  }
  const f: ListFlags = { limit };
  if (o.mode !== undefined) {
    const m = String(o.mode);
    if (!isAppMode(m)) throw new CliError("usage_invalid_flag", `--mode must be one of ${APP_MODES.join(", ")}`);
    f.mode = m;
  }
  if (o.name !== undefined) {
    const n = String(o.name);
    if (n.length > 200) throw new CliError("usage_invalid_flag", "--name must be at most 200 characters");
    f.name = n;
  }
  return f;
}

export interface AppRow {
  id: string;
  name: string;
  description?: string;
  mode: string;
  updated_at?: string;
  workspace_id?: string;
  workspace_name?: string | null;
}

/** JSON only when asked for (--json, --jq or DIFY_OUTPUT=json): a pipe gets the human form, as a terminal does. */
export function wantsJson(ctx: Ctx): boolean {
  return ctx.json;
}

// On a narrow terminal NAME gives way first, then UPDATED goes, then WORKSPACE; ID and MODE stay.
const APP_COLUMNS: Column[] = [
  { header: "ID" },
  { header: "NAME", max: 40, shrink: true, min: 12 },
  { header: "MODE" },
  { header: "UPDATED", drop: 1 },
  { header: "WORKSPACE", max: 30, shrink: true, min: 10, drop: 2 },
];

/** Prints the list (JSON, a fitted table on a terminal, tab-separated rows in a pipe) and returns what it listed. */
export async function listApps(ctx: Ctx, http: HttpClient, path: string, query: Record<string, string | undefined>, f: ListFlags, cmds: Cmds): Promise<{ rows: AppRow[]; truncated: boolean }> {
  const { rows, truncated } = await fetchPages<AppRow>(http, path, { ...query, mode: f.mode, name: f.name }, f.limit, cmds);
  if (ctx.json) {
    await ctx.out(JSON.stringify(rows) + "\n");
  } else if (!rows.length) {
    await ctx.err("No apps found.\n");
  } else {
    const wsNames = new Set(rows.map((r) => r.workspace_name ?? r.workspace_id));
    const showWs = wsNames.size > 1;
    const body = rows.map((r) => [r.id, r.name, r.mode, shortDate(r.updated_at), ...(showWs ? [r.workspace_name ?? r.workspace_id] : [])]);
    await ctx.out(renderColumns(showWs ? APP_COLUMNS : APP_COLUMNS.slice(0, 4), body, tableLayout(ctx)));
  }
  if (truncated && !ctx.json) await ctx.err(`note: showing the first ${rows.length} apps; raise --limit (up to ${MAX_LIST_LIMIT}) or narrow with --name/--mode\n`);
  return { rows, truncated };
}

/** "2026-01-24T09:30:00Z" → "2026-01-24 09:30" (UTC); anything unparseable is shown cleaned. */
export function shortDate(s: unknown): string {
  if (typeof s !== "string") return "";
  const t = Date.parse(s);
  if (Number.isNaN(t)) return cleanCell(s);
  return new Date(t).toISOString().slice(0, 16).replace("T", " ");
}

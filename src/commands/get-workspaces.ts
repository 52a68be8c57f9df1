// `get workspaces`: the account's workspaces as the server lists them, the one difyctl works in
// marked, archived ones shown as such.
import { openApi } from "../auth/api-session.ts";
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";
import { renderTable, tableLayout } from "../ui/table.ts";

interface WorkspaceRow { id: string; name: string; role?: string; status?: string; current?: boolean }

export async function run(ctx: Ctx, _args: string[], _o: JsonOnlyOptions): Promise<number> {
  const { session, http } = await openApi(ctx, "account", "get workspaces");
  const r = await http.get<{ workspaces?: unknown }>("/workspaces");
  const list = r.body && Array.isArray(r.body.workspaces) ? r.body.workspaces : null;
  if (!list) throw new CliError("unknown", "the server's workspace list is not a list", { hint: "check that the host is a Dify server with the /openapi/v1 API" });
  const rows = list.filter((w): w is WorkspaceRow => typeof w === "object" && w !== null && typeof (w as WorkspaceRow).id === "string");
  // The one this session works in (hosts.yml or DIFY_WORKSPACE_ID); the server's `current` is the
  // web console's choice, shown as the fallback when difyctl has none.
  const active = session.workspaceId ?? rows.find((w) => w.current)?.id ?? null;
  if (ctx.json) {
    await ctx.out(JSON.stringify(rows.map((w) => ({ ...w, active: w.id === active }))) + "\n");
    return 0;
  }
  if (!rows.length) {
    await ctx.err("No workspaces.\n");
    return 0;
  }
  const body = rows.map((w) => [w.id === active ? "*" : "", w.id, w.name, w.role ?? "", w.status === "archive" ? "archived" : (w.status ?? "")]);
  await ctx.out(renderTable(["", "ID", "NAME", "ROLE", "STATUS"], body, [0, 0, 40, 0, 0], tableLayout(ctx)));
  if (active) await ctx.err("* = the workspace difyctl uses (switch with 'difyctl auth use <id>')\n");
  return 0;
}

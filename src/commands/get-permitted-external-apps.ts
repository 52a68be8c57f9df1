import { openApi } from "../auth/api-session.ts";
import { SSO_CMDS } from "../apps/app-api.ts";
import { appScope, rememberApps } from "../apps/app-cache.ts";
import { listApps, listFlags } from "../apps/app-list.ts";
import { withProgress } from "../ui/progress.ts";
import type { Ctx } from "../cli/context.ts";
import type { ListAppsOptions } from "../cli/command-table.ts";

export async function run(ctx: Ctx, _args: string[], o: ListAppsOptions): Promise<number> {
  const f = listFlags(o);
  await withProgress(ctx, "Loading apps…", async () => {
    const { session, http } = await openApi(ctx, "external_sso", "get permitted-external-apps");
    // The server's query is strict: no workspace_id here (422), external apps span workspaces.
    const listed = await listApps(ctx, http, "/permitted-external-apps", {}, f, SSO_CMDS);
    rememberApps(ctx.env, appScope(session.hostRef.host, null), listed.rows, !f.mode && !f.name && !listed.truncated, Date.now());
  });
  return 0;
}

import { checkWorkspaceFlag, resolveWorkspace, openApi } from "../auth/api-session.ts";
import { ACCOUNT_CMDS } from "../apps/app-api.ts";
import { appScope, rememberApps } from "../apps/app-cache.ts";
import { listApps, listFlags } from "../apps/app-list.ts";
import type { Ctx } from "../cli/context.ts";
import type { GetAppsOptions } from "../cli/command-table.ts";
import { withProgress } from "../ui/progress.ts";

export async function run(ctx: Ctx, _args: string[], o: GetAppsOptions): Promise<number> {
  const f = listFlags(o);
  checkWorkspaceFlag(o.workspace);
  await withProgress(ctx, "Loading apps…", async () => {
    const { session, http } = await openApi(ctx, "account", "get apps");
    const workspace = resolveWorkspace(session, o.workspace);
    const listed = await listApps(ctx, http, "/apps", { workspace_id: workspace }, f, ACCOUNT_CMDS);
    // For shell completion of app ids and names; a filtered or cut list only adds to what is known.
    rememberApps(ctx.env, appScope(session.hostRef.host, workspace), listed.rows, !f.mode && !f.name && !listed.truncated, Date.now());
  });
  return 0;
}

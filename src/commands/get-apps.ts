import { checkWorkspaceFlag, resolveWorkspace, openApi } from "../auth/api-session.ts";
import { ACCOUNT_CMDS } from "../apps/app-api.ts";
import { listApps, listFlags } from "../apps/app-list.ts";
import type { Ctx } from "../cli/context.ts";
import type { GetAppsOptions } from "../cli/command-table.ts";

export async function run(ctx: Ctx, _args: string[], o: GetAppsOptions): Promise<number> {
  const f = listFlags(o);
  checkWorkspaceFlag(o.workspace);
  const { session, http } = await openApi(ctx, "account", "get apps");
  const workspace = resolveWorkspace(session, o.workspace);
  await listApps(ctx, http, "/apps", { workspace_id: workspace }, f, ACCOUNT_CMDS);
  return 0;
}

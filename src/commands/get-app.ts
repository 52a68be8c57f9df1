import { checkWorkspaceFlag, openApi, resolveWorkspace } from "../auth/api-session.ts";
import { ACCOUNT_CMDS, describeApp } from "../apps/app-api.ts";
import { appDetail } from "../apps/app-view.ts";
import { checkAppInWorkspace } from "../apps/app-workspace.ts";
import { checkAppRef, resolveApp } from "../apps/resolve-app.ts";
import type { Ctx } from "../cli/context.ts";
import type { GetAppOptions } from "../cli/command-table.ts";
import { withProgress } from "../ui/progress.ts";
import { tableLayout } from "../ui/table.ts";

export async function run(ctx: Ctx, args: string[], o: GetAppOptions): Promise<number> {
  const ref = checkAppRef(args[0]);
  if (o.workspace !== undefined) checkWorkspaceFlag(o.workspace);
  const { id, d } = await withProgress(ctx, "Loading app…", async () => {
    const { session, http } = await openApi(ctx, "account", "get app");
    // A name is looked up in the workspace the command works in; an id needs no lookup.
    const workspace = o.workspace;
    const { id } = await resolveApp(http, ref, () => ({ path: "/apps", query: { workspace_id: resolveWorkspace(session, workspace) }, cmds: ACCOUNT_CMDS }));
    // Describe takes no workspace_id: with --workspace the app's workspace is checked first.
    if (typeof workspace === "string" && workspace.trim()) await checkAppInWorkspace(http, id, resolveWorkspace(session, workspace));
    return { id, d: await describeApp(http, id, ["info", "parameters", "input_schema"]) };
  });
  await ctx.out(ctx.json ? JSON.stringify(d) + "\n" : appDetail(d, id, tableLayout(ctx)));
  return 0;
}

import { checkSurface } from "../auth/api-session.ts";
import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";
import { CliError } from "../cli/errors.ts";
import type { Workspace } from "../storage/hosts-file.ts";
import { echoInput, line } from "../ui/sanitize.ts";
import { notLoggedIn, refuseWhileEnvSession, storedSession } from "../auth/session.ts";

const MAX_LISTED = 20;

function listWorkspaces(ws: Workspace[]): string {
  const shown = ws.slice(0, MAX_LISTED).map((w) => (w.name ? line`${w.id} (${w.name})` : line`${w.id}`));
  if (ws.length > MAX_LISTED) shown.push(`and ${ws.length - MAX_LISTED} more`);
  return shown.join(", ");
}

/** Offline: switches among the workspaces the server listed at login, writing hosts.yml only. */
export async function run(ctx: Ctx, args: string[], _o: JsonOnlyOptions): Promise<number> {
  refuseWhileEnvSession(ctx.env, "switch workspace", "set DIFY_WORKSPACE_ID to the workspace id instead");
  const wanted = args[0].trim();
  const session = await storedSession(ctx.config);
  if (!session) throw notLoggedIn();
  checkSurface(session, "account", "auth use");
  const available = session.meta.available_workspaces ?? [];
  const ws = available.find((w) => w.id.toLowerCase() === wanted.toLowerCase());
  if (!ws) {
    throw new CliError("usage_invalid_flag", `'${echoInput(wanted)}' is not one of your workspaces${available.length ? `: ${listWorkspaces(available)}` : " (none are known)"}`, {
      hint: "a workspace created after sign-in appears after 'difyctl auth login'",
      details: { available_workspaces: available.map((w) => ({ id: w.id, name: w.name, role: w.role })) },
    });
  }
  await ctx.config.withLock(() => {
    // Re-read under the lock: another process may have signed in or out since.
    const meta = ctx.config.readHosts();
    if (meta.token_id !== session.tokenId || meta.current_host !== session.hostRef.host) {
      throw new CliError("unknown", "the session changed while switching workspace; nothing was written", { hint: "run the command again" });
    }
    ctx.config.writeHosts({ ...meta, current_workspace_id: ws.id, workspace: ws });
  });
  if (ctx.json) await ctx.out(JSON.stringify({ workspace: { id: ws.id, name: ws.name, role: ws.role } }) + "\n");
  else await ctx.out(line`Switched to workspace ${ws.name || ws.id} (${ws.id})` + "\n");
  return 0;
}

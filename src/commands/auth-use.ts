import { checkSurface } from "../auth/api-session.ts";
import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";
import { CliError } from "../cli/errors.ts";
import type { Workspace } from "../storage/hosts-file.ts";
import { ok } from "../ui/colour.ts";
import { nameError, resolveByName } from "../ui/resolve-name.ts";
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
  const wanted = args[0]?.trim();
  // No workspace named: a person at a terminal picks one; anything else is told the choices (a
  // usage error even when signed out, as a missing argument always is).
  const picking = !wanted && ctx.isTTY(0) && ctx.isTTY(2);
  const session = await storedSession(ctx.config).catch((e) => { if (wanted || picking) throw e; return null; });
  if (!session && (wanted || picking)) throw notLoggedIn();
  if (session) checkSurface(session, "account", "auth use");
  const available = session?.meta.available_workspaces ?? [];
  const details = { available_workspaces: available.map((w) => ({ id: w.id, name: w.name, role: w.role })) };
  if (!session || (!wanted && (!picking || !available.length))) {
    throw new CliError("usage_missing_arg", `missing the workspace to switch to${available.length ? `; choose one of: ${listWorkspaces(available)}` : ""}`, {
      hint: "difyctl auth use <workspace-id-or-name>", details,
    });
  }
  let ws: Workspace;
  if (!wanted) {
    ws = await pickWorkspace(ctx, available, session.workspaceId);
  } else {
    // By id, then by name (exactly, then ignoring case); two workspaces with that name are never guessed between.
    const m = resolveByName(available, wanted);
    if (m.kind === "ambiguous") throw nameError(wanted, m, available, { what: "workspace", listHint: "", fields: (w) => ({ role: (w as Workspace).role }) });
    if (m.kind === "none") {
      throw new CliError("usage_invalid_flag", `'${echoInput(wanted)}' is not one of your workspaces${available.length ? `: ${listWorkspaces(available)}` : " (none are known)"}`, {
        hint: "a workspace created after sign-in appears after 'difyctl auth login'", details,
      });
    }
    ws = m.item;
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
  else await ok(ctx, line`Switched to workspace ${ws.name || ws.id} (${ws.id})`);
  return 0;
}

async function pickWorkspace(ctx: Ctx, available: Workspace[], currentId: string | null): Promise<Workspace> {
  const [{ pick }, { readLine }] = await Promise.all([import("../ui/picker.ts"), import("../ui/tty-ui.ts")]);
  return pick({ write: (t) => ctx.err(t), readLine }, "Switch to which workspace?", available.map((w) => ({
    label: line`${w.name || w.id} (${w.id}${w.role ? `, ${w.role}` : ""})`, value: w, current: w.id === currentId,
  })));
}

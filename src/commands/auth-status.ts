import type { Ctx } from "../cli/context.ts";
import type { AuthStatusOptions } from "../cli/command-table.ts";
import { SESSION_LINE, SSO_SCOPES, SURFACE, whoLabel } from "../auth/identity.ts";
import { currentSession, type Session } from "../auth/session.ts";
import type { Workspace } from "../storage/hosts-file.ts";
import { sanitize, sanitizeDeep } from "../ui/sanitize.ts";

export async function run(ctx: Ctx, _args: string[], o: AuthStatusOptions): Promise<number> {
  const s = await currentSession(() => ctx.config, ctx.env);
  if (!s) {
    if (ctx.json) await ctx.out(JSON.stringify({ host: null, logged_in: false }) + "\n");
    else await ctx.out("Not logged in. Run 'difyctl auth login' to sign in.\n");
    return 4;
  }
  // Network only when asked: plain `auth status` stays offline and loads nothing more.
  const verified = o.verify === true ? await (await import("../auth/verify-session.ts")).verifySession(ctx) : null;
  const m = s.meta;
  const storage = s.source;
  const ws = m.workspace && (!m.current_workspace_id || m.current_workspace_id === m.workspace.id)
    ? m.workspace
    : (m.available_workspaces ?? []).find((w) => w.id === s.workspaceId) ?? (s.workspaceId ? { id: s.workspaceId, name: "", role: "" } : null);
  if (ctx.json) {
    await ctx.out(JSON.stringify({
      host: s.hostRef.host,
      logged_in: true,
      subject_type: s.subjectType,
      account: s.subjectType === "account" && m.account ? { id: m.account.id, email: m.account.email, name: m.account.name } : null,
      ...(s.subjectType === "external_sso" ? { external_sso: m.external_sso ?? null } : {}),
      workspace: s.subjectType === "account" && ws ? { id: ws.id, name: ws.name, role: ws.role } : null,
      available_workspaces: s.subjectType === "account" ? (m.available_workspaces ?? []).map((w) => ({ id: w.id, name: w.name, role: w.role })) : [],
      available_workspaces_count: (m.available_workspaces ?? []).length,
      storage,
      ...(verified ? { verified: true, verified_with: verified.endpoint } : {}),
    }) + "\n");
    return 0;
  }
  return printHuman(ctx, { ...s, meta: sanitizeDeep(m), hostRef: { ...s.hostRef, host: sanitize(s.hostRef.host, { oneLine: true }) } }, sanitizeDeep(ws), o.verbose === true, verified);
}

/** The human form; `s` and `ws` are display copies whose strings are already clean. */
async function printHuman(ctx: Ctx, s: Session, ws: Workspace | null, verbose: boolean, verified: { endpoint: string; latency_ms: number } | null): Promise<number> {
  const m = s.meta;
  const storage = s.source;
  const lines: string[] = [];
  const sso = s.subjectType === "external_sso";
  if (!verbose) {
    lines.push(`Logged in to ${s.hostRef.host} as ${whoLabel(s)}`);
    if (!sso && ws) lines.push(`Workspace: ${ws.name || ws.id}`);
    if (sso) {
      lines.push(`Surface: ${SURFACE.external_sso}`, `Scopes: ${SSO_SCOPES}`);
    } else lines.push(SESSION_LINE.account);
  } else {
    lines.push(s.hostRef.host);
    if (s.source === "env") lines.push("Account: unknown offline (token from DIFY_TOKEN)");
    else if (sso) lines.push(`Account: ${m.external_sso?.email} (external SSO, issuer: ${m.external_sso?.issuer})`);
    else lines.push(`Account: ${m.account?.email} (${m.account?.name ? `${m.account.name}, ` : ""}${m.account?.id})`);
    if (!sso && ws) lines.push(`Workspace: ${ws.name || ws.id} (${ws.id}${ws.role ? `, role: ${ws.role}` : ""})`);
    if (!sso && s.source !== "env") lines.push(`Available: ${(m.available_workspaces ?? []).length} workspaces`, ...workspaceLines(m.available_workspaces ?? [], ws?.id));
    lines.push(sso ? SESSION_LINE.external_sso : `${SESSION_LINE.account} (scope: full)`);
    lines.push(`Surface: ${sso ? SURFACE.external_sso : SURFACE.account}`);
    if (sso) lines.push(`Scopes: ${SSO_SCOPES}`);
    lines.push(`Storage: ${storage === "env" ? "environment (DIFY_TOKEN)" : storage}`);
  }
  if (s.source === "env" && !verbose) lines.push("Source: environment (DIFY_TOKEN, DIFY_HOST, DIFY_WORKSPACE_ID); nothing is stored");
  if (verified) lines.push(`Verified: the server accepted this session (GET ${verified.endpoint}, ${verified.latency_ms} ms)`);
  await ctx.out(lines.join("\n") + "\n");
  return 0;
}

const MAX_WORKSPACE_LINES = 20;

/** One indented line per workspace (already clean): id, name, role, the active one marked. */
function workspaceLines(list: Workspace[], activeId: string | undefined): string[] {
  const shown = list.slice(0, MAX_WORKSPACE_LINES).map((w) => `  ${w.id === activeId ? "*" : " "} ${w.id}  ${w.name || "-"}${w.role ? ` (${w.role})` : ""}`);
  if (list.length > MAX_WORKSPACE_LINES) shown.push(`    and ${list.length - MAX_WORKSPACE_LINES} more (all of them: difyctl auth status --json)`);
  return shown;
}

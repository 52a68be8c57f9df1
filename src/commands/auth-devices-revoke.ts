import { openApi } from "../auth/api-session.ts";
import type { Ctx } from "../cli/context.ts";
import type { DevicesRevokeOptions } from "../cli/command-table.ts";
import { type DeviceSession, resolutionError, resolveDevice, safeLabel } from "../auth/devices.ts";
import { CliError } from "../cli/errors.ts";
import type { HttpClient } from "../http/http-client.ts";
import { clearSession, type Session } from "../auth/session.ts";
import { ok } from "../ui/colour.ts";
import { startProgress } from "../ui/progress.ts";
import { sanitize } from "../ui/sanitize.ts";
import { explainSsoRefusal, fetchAllSessions, warnTruncated } from "./auth-devices-common.ts";
import { isTerminalSafe } from "../ui/sanitize.ts";

interface Revoked { id: string; device_label: string; current: boolean }

export async function run(ctx: Ctx, args: string[], o: DevicesRevokeOptions): Promise<number> {
  const target = args[0];
  const all = o.all;
  if (target === undefined && !all) {
    throw new CliError("usage_missing_arg", "missing the device to revoke", { hint: "difyctl auth devices revoke <device-label|id>, or --all for every other session" });
  }
  if (target !== undefined && all) throw new CliError("usage_invalid_flag", "give a device or --all, not both");
  if (target !== undefined && target.trim() === "") throw new CliError("usage_invalid_flag", "the device label or id is empty");
  // Labels are printable text: control characters or bytes that were not UTF-8 cannot match one.
  if (target !== undefined && (!isTerminalSafe(target) || /[\t\n\ufffd]/.test(target))) {
    throw new CliError("usage_invalid_flag", "the device label or id contains control characters or invalid UTF-8", { hint: "list the sessions with 'difyctl auth devices list'" });
  }
  const interactive = ctx.isTTY(0) && ctx.isTTY(2);
  // Decided before any request: without a terminal to ask on, only --yes may revoke in bulk.
  if (all && !o.yes && !interactive) {
    throw new CliError("usage_missing_arg", "--all revokes every other session and needs confirmation", { hint: "pass --yes to confirm when not running in a terminal" });
  }
  // The spinner shows while the server is slow; the first line written (a prompt, a result) ends it.
  const progress = startProgress(ctx, all ? "Loading sessions…" : "Revoking…");
  try {
    const { session, http } = await openApi(ctx, "any", "auth devices revoke");
    if (all && session.tokenId === null) {
      throw new CliError("usage_invalid_flag", "--all cannot tell which session is this one when the token comes from DIFY_TOKEN", { hint: "revoke sessions one at a time by id" });
    }
    const listed = await fetchAllSessions(http).catch((e) => { throw explainSsoRefusal(e); });
    await warnTruncated(ctx, listed);
    return await (all ? revokeAll(ctx, http, session, listed.sessions, o.yes) : revokeTarget(ctx, http, session, listed.sessions, target!));
  } finally {
    progress.done();
  }
}

async function revokeTarget(ctx: Ctx, http: HttpClient, session: Session, sessions: DeviceSession[], target: string): Promise<number> {
  const r = resolveDevice(sessions, target);
  if (r.kind !== "one") throw resolutionError(target, r, sessions);
  const s = r.session;
  const current = s.id === session.tokenId;
  await revokeOne(http, s);
  // Revoking this machine's own session is a logout: the local token is dead now.
  if (current) await clearSession(ctx.config, session);
  await report(ctx, [{ id: s.id, device_label: s.device_label, current }], session);
  return 0;
}

async function revokeAll(ctx: Ctx, http: HttpClient, session: Session, sessions: DeviceSession[], yes: boolean): Promise<number> {
  const others = sessions.filter((s) => s.id !== session.tokenId);
  if (others.length === 0) {
    await ctx.out(ctx.json ? JSON.stringify({ revoked: [], not_found: [] }) + "\n" : "No other sessions to revoke.\n");
    return 0;
  }
  if (!yes && !(await confirm(ctx, others))) throw new CliError("cancelled", "nothing was revoked");
  const done: Revoked[] = [];
  const notFound: Revoked[] = [];
  for (const s of others) {
    try {
      await revokeOne(http, s);
      done.push({ id: s.id, device_label: s.device_label, current: false });
      if (!ctx.json) await ok(ctx, `Revoked: ${safeLabel(s.device_label)}`);
    } catch (e) {
      // Gone already (revoked elsewhere meanwhile): the goal is met, keep going.
      if (e instanceof CliError && e.httpStatus === 404) {
        notFound.push({ id: s.id, device_label: s.device_label, current: false });
        if (!ctx.json) await ctx.out(`Not found: ${safeLabel(s.device_label)} (already revoked)\n`);
        continue;
      }
      // Anything else (401, 429 after retries, 5xx, network) will fail the rest the same way.
      if (ctx.json) await ctx.out(JSON.stringify({ revoked: done, not_found: notFound }) + "\n");
      const ce = e instanceof CliError ? e : new CliError("unknown", String(e));
      throw new CliError(ce.code, `${ce.message} (revoked ${done.length} of ${others.length} sessions before this failure)`, { hint: ce.hint, httpStatus: ce.httpStatus });
    }
  }
  if (ctx.json) await ctx.out(JSON.stringify({ revoked: done, not_found: notFound }) + "\n");
  return 0;
}

async function revokeOne(http: HttpClient, s: DeviceSession): Promise<void> {
  try {
    await http.delete(`/account/sessions/${encodeURIComponent(s.id)}`, { retry: false });
  } catch (e) {
    if (e instanceof CliError && e.httpStatus === 404) {
      throw new CliError("server_4xx_other", `not found: the server has no session "${safeLabel(s.device_label)}" (${s.id}); it may already be revoked`, {
        hint: "run 'difyctl auth devices list' to see the active sessions", httpStatus: 404,
      });
    }
    throw explainSsoRefusal(e);
  }
}

async function confirm(ctx: Ctx, others: DeviceSession[]): Promise<boolean> {
  await ctx.err(`These sessions will be revoked:\n${others.map((s) => `  ${safeLabel(s.device_label)}`).join("\n")}\n`);
  await ctx.err(`? Revoke ${others.length} session${others.length === 1 ? "" : "s"} (every one but this device)? [y/N] `);
  const { readLine } = await import("../ui/tty-ui.ts");
  const answer = (await readLine())?.trim().toLowerCase();
  return answer === "y" || answer === "yes";
}

async function report(ctx: Ctx, revoked: Revoked[], session: Session): Promise<void> {
  if (ctx.json) {
    await ctx.out(JSON.stringify({ revoked, not_found: [] }) + "\n");
    return;
  }
  for (const r of revoked) {
    await ok(ctx, `Revoked: ${safeLabel(r.device_label)}${r.current ? ` (this device); logged out of ${sanitize(session.hostRef.host, { oneLine: true })}` : ""}`);
  }
}

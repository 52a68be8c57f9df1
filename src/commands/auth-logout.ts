import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";
import { CliError, toCliError } from "../cli/errors.ts";
import { clearSession, notLoggedIn, refuseWhileEnvSession, storedSession } from "../auth/session.ts";
import { ok } from "../ui/colour.ts";
import { startProgress } from "../ui/progress.ts";
import { sanitize } from "../ui/sanitize.ts";

const REVOKE_TIMEOUT_MS = 5000;

export async function run(ctx: Ctx, _args: string[], _o: JsonOnlyOptions): Promise<number> {
  refuseWhileEnvSession(ctx.env, "log out");
  // A half-finished `login --no-wait` goes too: its device code must not outlive the logout.
  const { clearPending } = await import("../auth/login-pending.ts");
  const cancelledPending = clearPending(ctx.config);
  const session = await storedSession(ctx.config);
  if (!session && cancelledPending) {
    if (ctx.json) await ctx.out(JSON.stringify({ logged_out: false, pending_login_cancelled: true }) + "\n");
    else await ctx.out("Cancelled the pending sign-in (there was no session to log out of)\n");
    return 0;
  }
  if (!session) throw notLoggedIn();
  await (await import("../auth/no-dump.ts")).keepOutOfCoreDumps(ctx);
  // Best effort: a dead network or a revoked token never blocks the local clear.
  let revoked = false;
  let revokeFailure: string | null = null;
  const http = ctx.http({ baseUrl: session.hostRef.baseUrl, bearer: session.bearer, timeoutMs: REVOKE_TIMEOUT_MS });
  const progress = startProgress(ctx, "Signing out…");
  try {
    const res = await http.delete("/account/sessions/self", { retry: false, acceptStatus: [400, 401, 403, 404, 405, 409, 422, 500, 502, 503, 504] });
    revoked = res.status >= 200 && res.status < 300;
    if (!revoked) revokeFailure = `server revoke failed (${res.status} ${reasonFor(res.status)})`;
  } catch (e) {
    revokeFailure = `server revoke failed (${e instanceof CliError ? e.message : String(e)})`;
  } finally {
    progress.done();
  }
  try {
    await clearSession(ctx.config, session);
  } catch (e) {
    // hosts.yml (the commit point) is already cleared, so the session is gone; only the keychain
    // copy could not be removed — say where it is rather than fail a logout that took effect.
    if (!(e instanceof CliError) || e.code !== "keyring_unavailable") throw notCleared(e, revoked, revokeFailure, ctx.configDir);
    await ctx.err(`warning: ${e.message}; delete the OS keychain entry service 'difyctl', account '${session.hostRef.host}' by hand\n`);
  }
  // Said only once the clear has happened.
  if (revokeFailure) await ctx.err(`warning: ${revokeFailure}; local credentials cleared anyway\n`);
  if (ctx.json) await ctx.out(JSON.stringify({ logged_out: true, host: session.hostRef.host, server_revoked: revoked }) + "\n");
  else await ok(ctx, `Logged out of ${sanitize(session.hostRef.host, { oneLine: true })}`);
  return 0;
}

/** The local clear failed: say where the server side stands, since the person must act on both. */
function notCleared(e: unknown, revoked: boolean, revokeFailure: string | null, dir: string): CliError {
  const ce = toCliError(e);
  const server = revoked ? "the session is already revoked on the server (the token no longer works)" : `${revokeFailure ?? "the server was not asked"}, so the token may still work`;
  return new CliError(ce.code, `could not clear the local credentials: ${ce.message}; ${server}`, {
    hint: `${ce.hint ? `${ce.hint}; then ` : ""}run 'difyctl auth logout' again (or remove hosts.yml and tokens.yml from ${dir})`,
    details: ce.details,
  });
}

function reasonFor(status: number): string {
  const reasons: Record<number, string> = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
  };
  return reasons[status] ?? "Error";
}

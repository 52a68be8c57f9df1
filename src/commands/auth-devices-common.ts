// Shared by `auth devices list` and `auth devices revoke`: every page of the session list.
import type { Ctx } from "../cli/context.ts";
import { type DeviceSession, parseSessionsPage } from "../auth/devices.ts";
import { CliError } from "../cli/errors.ts";
import type { HttpClient } from "../http/http-client.ts";

export const PAGE_LIMIT = 200;
// 100 pages × 200 rows: far beyond any real account, but a server that always says has_more
// must not keep the CLI looping forever.
export const MAX_PAGES = 100;

export interface AllSessions { sessions: DeviceSession[]; truncated: boolean }

export async function fetchAllSessions(http: HttpClient): Promise<AllSessions> {
  const seen = new Map<string, DeviceSession>();
  for (let page = 1; page <= MAX_PAGES; page++) {
    const res = await http.get("/account/sessions", { query: { page, limit: PAGE_LIMIT } });
    const { rows, hasMore } = parseSessionsPage(res.body, PAGE_LIMIT);
    // A session created while paging shifts rows down a page (newest first): keep each id once.
    for (const r of rows) if (!seen.has(r.id)) seen.set(r.id, r);
    if (!hasMore) return { sessions: [...seen.values()], truncated: false };
  }
  return { sessions: [...seen.values()], truncated: true };
}

/** June servers refuse external SSO tokens on the session routes; say so in words. */
export function explainSsoRefusal(e: unknown): unknown {
  if (e instanceof CliError && e.httpStatus === 403 && /unsupported_token_type/.test(e.message)) {
    return new CliError("server_4xx_other", "this server does not let external SSO sessions list or revoke devices (unsupported_token_type)", {
      hint: "manage these sessions from a Dify account session or the web console", httpStatus: 403,
    });
  }
  return e;
}

export async function warnTruncated(ctx: Ctx, r: AllSessions): Promise<void> {
  if (r.truncated) await ctx.err(`warning: stopped after ${MAX_PAGES} pages (${r.sessions.length} sessions); the list is incomplete\n`);
}

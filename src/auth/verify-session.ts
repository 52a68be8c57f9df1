// `auth status --verify`: one authenticated round trip proving the session still works, for
// health checks in CI and agents. A 401 clears the stored session (openApi) and exits 4.
import { openApi } from "./api-session.ts";
import type { Ctx } from "../cli/context.ts";

export interface Verified { endpoint: string; http_status: number; latency_ms: number }

export async function verifySession(ctx: Ctx): Promise<Verified> {
  const { session, http } = await openApi(ctx, "any", "auth status --verify");
  // June servers answer GET /account only for dfoa_ tokens (403 for dfoe_); an external SSO
  // session proves itself on the one list it can read.
  const [path, query] = session.subjectType === "external_sso"
    ? ["/permitted-external-apps", { limit: 1 }] as const
    : ["/account", undefined] as const;
  const t0 = Date.now();
  const res = await http.get(path, { query });
  return { endpoint: path, http_status: res.status, latency_ms: Date.now() - t0 };
}

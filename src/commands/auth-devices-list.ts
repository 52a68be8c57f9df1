import { openApi } from "../auth/api-session.ts";
import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";
import { devicesTable } from "../auth/devices.ts";
import { withProgress } from "../ui/progress.ts";
import { tableLayout } from "../ui/table.ts";
import { explainSsoRefusal, fetchAllSessions, warnTruncated } from "./auth-devices-common.ts";

export async function run(ctx: Ctx, _args: string[], _o: JsonOnlyOptions): Promise<number> {
  // Any subject: v1.0 servers list SSO sessions too; a June server's refusal is explained.
  const { session, all } = await withProgress(ctx, "Loading sessions…", async () => {
    const { session, http } = await openApi(ctx, "any", "auth devices list");
    return { session, all: await fetchAllSessions(http).catch((e) => { throw explainSsoRefusal(e); }) };
  });
  await warnTruncated(ctx, all);
  const currentId = session.tokenId;
  if (ctx.json) {
    await ctx.out(JSON.stringify(all.sessions.map((s) => ({ ...s, current: currentId !== null && s.id === currentId }))) + "\n");
    return 0;
  }
  if (all.sessions.length === 0) {
    await ctx.out("No active sessions.\n");
    return 0;
  }
  await ctx.out(devicesTable(all.sessions, { currentId, now: Date.now(), layout: tableLayout(ctx) }));
  return 0;
}

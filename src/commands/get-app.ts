import { openApi } from "../auth/api-session.ts";
import { checkAppId, describeApp } from "../apps/app-api.ts";
import { wantsJson } from "../apps/app-list.ts";
import { appDetail } from "../apps/app-view.ts";
import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";

export async function run(ctx: Ctx, args: string[], _o: JsonOnlyOptions): Promise<number> {
  const id = checkAppId(args[0]);
  const { http } = await openApi(ctx, "account", "get app");
  const d = await describeApp(http, id, ["info", "parameters", "input_schema"]);
  await ctx.out(wantsJson(ctx) ? JSON.stringify(d) + "\n" : appDetail(d, id));
  return 0;
}

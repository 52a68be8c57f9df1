import { openApi } from "../auth/api-session.ts";
import { checkAppId, fetchPages, MAX_LIST_LIMIT, SSO_CMDS } from "../apps/app-api.ts";
import { type AppRow, wantsJson } from "../apps/app-list.ts";
import { permittedAppDetail } from "../apps/app-view.ts";
import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";
import { CliError } from "../cli/errors.ts";

export async function run(ctx: Ctx, args: string[], _o: JsonOnlyOptions): Promise<number> {
  const id = checkAppId(args[0]);
  const { http } = await openApi(ctx, "external_sso", "get permitted-external-app");
  // The server has no single-app route for this surface: read the list.
  const { rows } = await fetchPages<AppRow>(http, "/permitted-external-apps", {}, MAX_LIST_LIMIT, SSO_CMDS);
  const row = rows.find((r) => r.id?.toLowerCase() === id.toLowerCase());
  if (!row) {
    throw new CliError("server_4xx_other", `app ${id} is not among the apps permitted to you`, { hint: "list them with 'difyctl get permitted-external-apps'" });
  }
  await ctx.out(wantsJson(ctx) ? JSON.stringify(row) + "\n" : permittedAppDetail(row as unknown as Record<string, unknown>, id));
  return 0;
}

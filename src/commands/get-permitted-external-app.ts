import { openApi } from "../auth/api-session.ts";
import { fetchPages, MAX_LIST_LIMIT, SSO_CMDS } from "../apps/app-api.ts";
import type { AppRow } from "../apps/app-list.ts";
import { permittedAppDetail } from "../apps/app-view.ts";
import { checkAppRef } from "../apps/resolve-app.ts";
import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";
import { CliError } from "../cli/errors.ts";
import { withProgress } from "../ui/progress.ts";
import { nameError, resolveByName } from "../ui/resolve-name.ts";
import { echoInput } from "../ui/sanitize.ts";

export async function run(ctx: Ctx, args: string[], _o: JsonOnlyOptions): Promise<number> {
  const ref = checkAppRef(args[0]);
  const rows = await withProgress(ctx, "Loading app…", async () => {
    const { http } = await openApi(ctx, "external_sso", "get permitted-external-app");
    // The server has no single-app route for this surface: read the list.
    return (await fetchPages<AppRow>(http, "/permitted-external-apps", {}, MAX_LIST_LIMIT, SSO_CMDS)).rows;
  });
  const m = resolveByName(rows.filter((r) => r && typeof r.id === "string"), ref);
  if (m.kind === "ambiguous") throw nameError(ref, m, [], { what: "app", listHint: "list them with 'difyctl get permitted-external-apps'" });
  if (m.kind === "none") {
    throw new CliError("server_4xx_other", `app ${echoInput(ref)} is not among the apps permitted to you`, { hint: "list them with 'difyctl get permitted-external-apps'" });
  }
  await ctx.out(ctx.json ? JSON.stringify(m.item) + "\n" : permittedAppDetail(m.item as unknown as Record<string, unknown>, m.item.id));
  return 0;
}

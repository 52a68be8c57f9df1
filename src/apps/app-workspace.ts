// `--workspace` on `get app`: describe refuses any workspace_id parameter, so the app's
// workspace is checked here instead, with the workspace's own app list (a UUID in `name`
// matches the app id exactly).
import { CliError } from "../cli/errors.ts";
import type { HttpClient } from "../http/http-client.ts";
import { appError, ACCOUNT_CMDS } from "./app-api.ts";

export async function checkAppInWorkspace(http: HttpClient, appId: string, workspaceId: string): Promise<void> {
  const r = await http.get<{ data?: { id?: unknown }[] }>("/apps", { query: { workspace_id: workspaceId, name: appId, page: 1, limit: 20 }, acceptStatus: [400, 403, 404, 422] });
  if (r.status >= 400) throw appError(r.status, r.body, appId, ACCOUNT_CMDS);
  const rows = Array.isArray(r.body?.data) ? r.body.data : [];
  if (!rows.some((a) => typeof a?.id === "string" && a.id.toLowerCase() === appId.toLowerCase())) {
    throw new CliError("usage_invalid_flag", `app ${appId} is not in workspace ${workspaceId}`, {
      hint: `list that workspace's apps with 'difyctl get apps --workspace ${workspaceId}'`,
    });
  }
}

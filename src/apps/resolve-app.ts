// `get app`, `run app` and `run permitted-external-app` take an app id or its name. An id (a
// UUID) is used as it is, with no extra request; a name is looked up with the list endpoint's
// name filter and must match one app exactly (or ignoring case) — never a guess between two.
import { type Cmds, fetchPages } from "./app-api.ts";
import type { AppRow } from "./app-list.ts";
import { CliError } from "../cli/errors.ts";
import type { HttpClient } from "../http/http-client.ts";
import { nameError, resolveByName } from "../ui/resolve-name.ts";
import { isTerminalSafe } from "../ui/sanitize.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** An id of another shape (older or test servers): tried as an id when no app has it as a name. */
const ID_SHAPE = /^[A-Za-z0-9._-]{1,128}$/;
/** The server's limit on the name filter. */
export const MAX_APP_REF = 200;
/** Apps whose names contain the text, fetched to find the one it names: plenty for any real workspace. */
const LOOKUP_LIMIT = 1000;

/** Checks an app argument before any request: an id or a name, one line, at most 200 characters. */
export function checkAppRef(ref: string | undefined, what = "<app>"): string {
  const v = (ref ?? "").trim();
  if (!v) throw new CliError("usage_missing_arg", `missing required argument ${what}`, { hint: "pass an app id or name; list them with 'difyctl get apps'" });
  if (v.length > MAX_APP_REF || !isTerminalSafe(v) || v.includes("\n") || v.includes("\t")) {
    throw new CliError("usage_invalid_flag", `the app must be an app id or name (one line, at most ${MAX_APP_REF} characters)`, { hint: "list app ids and names with 'difyctl get apps'" });
  }
  return v;
}

/** Where the apps a session may use are listed. */
export interface AppListing { path: string; query: Record<string, string | undefined>; cmds: Cmds }

export interface ResolvedApp { id: string; name?: string; mode?: string }

/** The id `ref` stands for. `listing` is asked for only when a name must be looked up. */
export async function resolveApp(http: HttpClient, ref: string, listing: () => AppListing): Promise<ResolvedApp> {
  if (UUID.test(ref)) return { id: ref };
  const l = listing();
  const { rows } = await fetchPages<AppRow>(http, l.path, { ...l.query, name: ref }, LOOKUP_LIMIT, l.cmds);
  const apps = rows.filter((r) => r && typeof r.id === "string");
  const m = resolveByName(apps, ref);
  if (m.kind === "one") return { id: m.item.id, name: m.item.name, mode: m.item.mode };
  // No app has that name: an id of another shape goes to the server, whose "app not found" says the rest.
  if (m.kind === "none" && ID_SHAPE.test(ref)) return { id: ref };
  throw nameError(ref, m, apps, { what: "app", listHint: `list the apps with '${l.cmds.list}'`, fields: (x) => ({ mode: (x as AppRow).mode }) });
}

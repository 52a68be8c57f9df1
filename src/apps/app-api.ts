// The app endpoints (list, describe, run) and what their 4xx answers mean to a user. 401, 429
// and 5xx stay with the HTTP client (session clearing, retries).
import { CliError } from "../cli/errors.ts";
import { malformedResponse } from "../http/bounded-json.ts";
import { errorForStatus, type HttpClient, parseErrorBody } from "../http/http-client.ts";
import { MAX_LIST_LIMIT } from "./app-modes.ts";

/** 4xx answers this module explains itself; the body is returned instead of thrown. */
const EXPLAINED_4XX = [400, 403, 404, 409, 422];

export function checkAppId(id: string | undefined): string {
  const v = (id ?? "").trim();
  if (!v) throw new CliError("usage_missing_arg", "missing required argument <id>");
  if (v.length > 128 || !/^[A-Za-z0-9._-]+$/.test(v)) {
    throw new CliError("usage_invalid_flag", "the app id must be an app id such as 3f9c…-…", { hint: "list app ids with 'difyctl get apps'" });
  }
  return v;
}

const appHeaders = (id: string) => ({ "X-Dify-App-Id": id });

interface Explained { message: string; hint?: string }

/** The commands a hint may point to: they differ between account and external SSO sessions. */
export interface Cmds { list: string; run: string }
export const ACCOUNT_CMDS: Cmds = { list: "difyctl get apps", run: "difyctl run app" };
export const SSO_CMDS: Cmds = { list: "difyctl get permitted-external-apps", run: "difyctl run permitted-external-app" };

/** Known server codes/messages → a sentence and a next step. */
function explain(key: string, appId: string, cmds: Cmds): Explained | null {
  switch (key) {
    case "query_required_for_chat":
      return { message: "this is a chat app: it needs a query", hint: `${cmds.run} ${appId} "your question"` };
    case "query_not_supported_for_workflow":
      return { message: "workflow apps take no query, only inputs", hint: `drop the query and pass --inputs; see 'difyctl get app ${appId}'` };
    case "mode_not_runnable":
      return { message: "this app's mode cannot be run through the API" };
    case "service_api_disabled":
      return { message: "the API is disabled for this app", hint: "enable API access for the app in Dify, or ask its owner" };
    case "app not found":
      return { message: `app ${appId} not found`, hint: `list the apps you can use with '${cmds.list}'` };
    case "workspace not found":
      return { message: "workspace not found, or you are not a member of it", hint: "check --workspace and 'difyctl auth status'" };
    case "Conversation Not Exists.":
      return { message: "conversation not found for this app", hint: "check --conversation, or leave it out to start a new conversation" };
    case "conversation_completed":
      return { message: "this conversation has ended", hint: "leave out --conversation to start a new one" };
    case "app_unavailable":
      return { message: "the app is unavailable: its configuration is incomplete or broken", hint: "check the app (model, prompt) in Dify" };
    case "provider_not_initialize":
      return { message: "the app's model provider is not configured", hint: "set up the model provider credentials in Dify" };
    case "provider_quota_exceeded":
      return { message: "the app's model provider quota is used up", hint: "top up or change the provider in Dify" };
    case "model_currently_not_support":
      return { message: "the app's model is not available right now" };
    case "subject_not_allowed_for_access_mode":
    case "user_not_allowed_for_private_app":
    case "subject_no_app_access":
      return { message: "you are not allowed to run this app", hint: `list the apps you can run with '${cmds.list}'` };
    case "external_sso_requires_ee":
      return { message: "external SSO sessions need Dify Enterprise on this server" };
    default:
      return null;
  }
}

/** A 4xx from an app endpoint → CliError (exit 1, code server_4xx_other, with the server's code). */
export function appError(status: number, body: unknown, appId: string, cmds: Cmds = ACCOUNT_CMDS): CliError {
  const se = parseErrorBody(JSON.stringify(body ?? {}));
  const key = [se.message, se.code].find((k) => k && explain(k, appId, cmds));
  const known = key ? explain(key, appId, cmds) : null;
  if (!known) return errorForStatus(status, se);
  return new CliError("server_4xx_other", known.message, {
    hint: known.hint, httpStatus: status,
    details: { ...(se.code ? { server_code: se.code } : {}), ...(se.message ? { server_message: se.message } : {}) },
  });
}

export interface Describe { info: Record<string, unknown> | null; parameters: Record<string, unknown> | null; input_schema: Record<string, unknown> | null }

export async function describeApp(http: HttpClient, id: string, fields: string[]): Promise<Describe> {
  const r = await http.get<Describe>(`/apps/${encodeURIComponent(id)}/describe`, {
    query: { fields: fields.join(",") }, headers: appHeaders(id), acceptStatus: EXPLAINED_4XX,
  });
  if (r.status >= 400) throw appError(r.status, r.body, id);
  const b = r.body as unknown;
  const block = (v: unknown) => v === undefined || v === null || isObject(v);
  if (!isObject(b) || !block(b.info) || !block(b.parameters) || !block(b.input_schema)) {
    throw malformedResponse(`the description of app ${id} is not an object of info, parameters and input_schema`);
  }
  return { info: b.info ?? null, parameters: b.parameters ?? null, input_schema: b.input_schema ?? null } as Describe;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export interface Page<T> { page?: number; limit?: number; total?: number; has_more?: boolean; data?: T[] }

export { MAX_LIST_LIMIT };
const PAGE_SIZE_MAX = 200;

/**
 * Every page until `limit` rows or the end. The page size stays fixed so the server's
 * page × limit offsets line up; `truncated` says there were more.
 */
export async function fetchPages<T>(http: HttpClient, path: string, query: Record<string, string | undefined>, limit: number, cmds: Cmds): Promise<{ rows: T[]; truncated: boolean }> {
  const size = Math.min(PAGE_SIZE_MAX, limit);
  const rows: T[] = [];
  for (let page = 1; page <= Math.ceil(MAX_LIST_LIMIT / size) + 1; page++) {
    const r = await http.get<Page<T>>(path, { query: { ...query, page, limit: size }, acceptStatus: EXPLAINED_4XX });
    if (r.status >= 400) throw appError(r.status, r.body, "", cmds);
    // Anything but the page envelope is an error: shown as an empty list it would hide the problem.
    const b = r.body as unknown;
    if (!isObject(b) || !Array.isArray(b.data) || !b.data.every(isObject) || (b.has_more !== undefined && typeof b.has_more !== "boolean")) {
      throw malformedResponse(`the answer to GET ${path} is not a page of rows ({"data": [...], "has_more": ...})`);
    }
    const data = b.data as T[];
    rows.push(...data);
    if (rows.length >= limit) return { rows: rows.slice(0, limit), truncated: rows.length > limit || b.has_more === true };
    if (!b.has_more || data.length === 0) break;
  }
  return { rows, truncated: false };
}

export interface RunBody { inputs: Record<string, unknown>; query?: string; conversation_id?: string; files?: unknown[] }

/** Starts a run; resolves with the streaming Response once the server answered 2xx. */
export async function startRun(http: HttpClient, id: string, body: RunBody, cmds: Cmds, query?: Record<string, string>): Promise<Response> {
  // response_mode: v1.0 servers default to a blocking JSON answer; later ones ignore the field.
  const r = await http.request<Response | unknown>("POST", `/apps/${encodeURIComponent(id)}/run`, {
    // The server checks a `workspace_id` query parameter against the app's workspace (not the body's).
    query,
    body: { ...body, response_mode: "streaming" },
    headers: { ...appHeaders(id), Accept: "text/event-stream" },
    raw: true, retry: false, acceptStatus: EXPLAINED_4XX,
  });
  if (r.status >= 400) throw appError(r.status, r.body, id, cmds);
  const res = r.body as Response;
  const type = res.headers.get("content-type") ?? "";
  if (!type.includes("text/event-stream")) {
    await res.body?.cancel().catch(() => {});
    throw new CliError("unknown", `the server answered the run with '${type.slice(0, 60) || "no content type"}' instead of an event stream`, {
      hint: "check that the host is a Dify server with the /openapi/v1 API",
    });
  }
  return res;
}

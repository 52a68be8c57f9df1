import { checkServerVersion } from "../http/compat.ts";
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { SubjectType } from "../storage/hosts-file.ts";
import type { HttpClient } from "../http/http-client.ts";
import { commandsFor, SUBJECTS } from "./identity.ts";
import { keepOutOfCoreDumps } from "./no-dump.ts";
import { clearSession, envSession, notLoggedIn, storedSession, type Session } from "./session.ts";

/** Which kind of session a command needs; the other kind is refused before any request. */
export type Surface = SubjectType | "any";

export function checkSurface(session: Session, surface: Surface, command: string): void {
  if (surface === "any" || session.subjectType === surface) return;
  throw new CliError("wrong_surface", `'${command}' is not available to ${SUBJECTS[session.subjectType].session}`, { hint: commandsFor(session.subjectType) });
}

/** --workspace, else the active workspace (hosts.yml or DIFY_WORKSPACE_ID). */
/** Checks a --workspace value before anything is sent (an empty or malformed id is a usage error). */
export function checkWorkspaceFlag(flag: unknown): void {
  if (flag === undefined) return;
  if (typeof flag !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(flag.trim())) throw new CliError("usage_invalid_flag", "--workspace must be a workspace id");
}

export function resolveWorkspace(session: Session, flag: unknown): string {
  checkWorkspaceFlag(flag);
  const id = typeof flag === "string" && flag.trim() ? flag.trim() : session.workspaceId;
  if (!id) throw new CliError("usage_missing_arg", "no workspace selected", { hint: "pass --workspace <id> or run 'difyctl auth use <workspace-id>'" });
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new CliError("usage_invalid_flag", "--workspace must be a workspace id");
  return id;
}

export interface ApiSession { session: Session; http: HttpClient }

/**
 * The session plus an HTTP client bound to it. A 401 clears the stored session (never an
 * environment one), tolerating a read-only config dir.
 */
export async function openApi(ctx: Ctx, surface: Surface, command: string): Promise<ApiSession> {
  // The environment session first: with it active the config dir is never even located.
  const session = envSession(ctx.env) ?? (await storedSession(ctx.config));
  if (!session) throw notLoggedIn();
  checkSurface(session, surface, command);
  await keepOutOfCoreDumps(ctx);
  await checkServerVersion(ctx, session.hostRef);
  const http = ctx.http({
    baseUrl: session.hostRef.baseUrl,
    bearer: session.bearer,
    signal: ctx.signal,
    subjectType: session.subjectType,
    envToken: session.source === "env",
    onUnauthorized: session.source === "env" ? undefined : () => clearAfter401(ctx, session),
  });
  return { session, http };
}

async function clearAfter401(ctx: Ctx, session: Session): Promise<void> {
  try {
    await clearSession(ctx.config, session);
  } catch (e) {
    // A read-only config dir (a mounted container volume) cannot be cleared; the error stays auth_expired.
    if (!ctx.json) await ctx.err(`note: the local session could not be removed (${e instanceof CliError ? e.message : String(e)})\n`);
  }
}

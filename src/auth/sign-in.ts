// The end of a sign-in, shared by the blocking `auth login` and `auth login --resume`: the server
// approved, so the payload becomes the stored session and the result is reported. Both paths also
// share the options and the clock defined here, so neither imports the other.
import type { Ctx } from "../cli/context.ts";
import type { Clock } from "./device-poller.ts";
import { CliError, toCliError } from "../cli/errors.ts";
import { type HostsFile, hasSession, type TokenStorage, type Workspace } from "../storage/hosts-file.ts";
import type { LoginEvents } from "./login-events.ts";
import type { StorageChoice } from "../storage/storage-policy.ts";
import type { HostRef } from "../http/host-url.ts";
import { defaultSleep } from "../http/http-client.ts";
import { commitSession, invalidPrefix, openTokenStore, subjectForToken } from "./session.ts";
import { TOKENS_FILE } from "../storage/config-store.ts";
import { fileExists } from "../storage/atomic-file.ts";
import { line } from "../ui/sanitize.ts";
import { ok } from "../ui/colour.ts";

export interface LoginOptions {
  host?: string;
  noBrowser: boolean;
  insecure: boolean;
  noKeyring: boolean;
  /** Start the flow, save it to login-pending.yml and return (login-pending.ts). */
  noWait?: boolean;
  noQr?: boolean;
  /** `--json` on a blocking login: the NDJSON event stream (login-events.ts). */
  events?: LoginEvents | null;
}

/** Wall time and a cancellable sleep; tests pass their own. */
export const realClock: Clock = { now: () => Date.now(), sleep: (ms, signal) => defaultSleep(ms, signal) };

const str = (v: unknown) => (typeof v === "string" ? v : "");

/** Turns the approved poll's payload into hosts.yml metadata; refuses anything unusable. */
export function metadataFromPayload(p: Record<string, unknown>, ref: HostRef, storage: TokenStorage): { meta: HostsFile; token: string; tokenId: string } {
  const token = str(p.token);
  const subject = subjectForToken(token);
  if (!subject || !/^dfo[ae]_[A-Za-z0-9_-]+$/.test(token)) throw invalidPrefix("the token the server returned");
  const tokenId = str(p.token_id) || `local-${new Bun.CryptoHasher("sha256").update(token).digest("hex").slice(0, 16)}`;
  const base: HostsFile = {
    current_host: ref.host, ...(ref.scheme === "http" ? { scheme: "http" as const } : {}),
    subject_type: subject, token_storage: storage, token_id: tokenId, token_expires_at: str(p.expires_at) || null,
  };
  if (subject === "external_sso") {
    const email = str(p.subject_email);
    if (!email) throw new CliError("unknown", "the server's sign-in response names no subject email; nothing was saved");
    return { meta: { ...base, account: null, available_workspaces: [], external_sso: { email, issuer: str(p.subject_issuer) } }, token, tokenId };
  }
  const acc = (p.account && typeof p.account === "object" ? p.account : {}) as Record<string, unknown>;
  const email = str(acc.email);
  if (!email) throw new CliError("unknown", "the server's sign-in response names no account; nothing was saved");
  const workspaces: Workspace[] = (Array.isArray(p.workspaces) ? p.workspaces : [])
    // A workspace whose id is not an id (control characters, garbage from a broken server) is dropped:
    // stored, it would only fail later as a confusing "--workspace must be a workspace id".
    .filter((w): w is Record<string, unknown> => !!w && typeof w === "object" && typeof (w as Record<string, unknown>).id === "string"
      && /^[A-Za-z0-9_-]{1,64}$/.test((w as Record<string, unknown>).id as string))
    .map((w) => ({ id: str(w.id), name: str(w.name), role: str(w.role) }));
  const defId = str(p.default_workspace_id);
  const ws = workspaces.find((w) => w.id === defId) ?? workspaces[0] ?? null;
  return {
    meta: { ...base, account: { id: str(acc.id), email, name: str(acc.name) }, workspace: ws, available_workspaces: workspaces },
    token, tokenId,
  };
}

/** The `{"status":"logged_in",…}` result of a login, a resume, and a resume with nothing left to do. */
export function loggedInResult(host: string, meta: HostsFile, storage: TokenStorage | undefined): Record<string, unknown> {
  return {
    status: "logged_in", host, subject_type: meta.subject_type,
    account: meta.account ?? null, workspace: meta.workspace ?? null, external_sso: meta.external_sso ?? null, storage,
  };
}

/** Who a stored session belongs to, for a person: the email, with the name or the SSO issuer. */
export function whoIsSignedIn(meta: HostsFile): string {
  if (meta.subject_type === "external_sso") return line`${meta.external_sso?.email ?? "?"} (external SSO)`;
  const a = meta.account;
  return a?.name ? line`${a.email} (${a.name})` : line`${a?.email ?? "?"}`;
}

/**
 * The one notice about where the token went: the keychain probe's line (why not the keychain),
 * and the first time tokens.yml is written, what a plain-text file means, as part of the same
 * notice rather than a second one repeating the path.
 */
export function storageNotice(notices: readonly string[], firstFileWrite: string | null): string {
  const plain = "as safe as an SSH key on this disk: backups and anyone who can read your files can use it.";
  const out = [...notices];
  if (firstFileWrite) {
    if (out.length) out[out.length - 1] += `\n  The token is kept in plain text in that file, ${plain}`;
    else out.push(`note: the token is stored in plain text in ${firstFileWrite} (mode 0600): ${plain}`);
  }
  return out.map((n) => n + "\n").join("");
}

export interface FinishInput {
  payload: Record<string, unknown>;
  ref: HostRef;
  storage: StorageChoice;
  /** hosts.yml as it was before this sign-in. */
  old: HostsFile;
  events: LoginEvents | null;
}

/**
 * Approved, but the session could not be stored (a full disk, the lock). The server replaced this
 * machine's previous session for the host when the user approved, so that one is gone as well:
 * say so plainly rather than leave a dead session that looks alive.
 */
function notStored(e: unknown, replacedHost: string | null): CliError {
  const ce = toCliError(e);
  const lost = replacedHost ? `; the previous session for ${replacedHost} is gone too (the server replaced it when you approved)` : "";
  return new CliError(ce.code, `signed in, but the session could not be saved: ${ce.message}${lost}`, {
    hint: `${ce.hint ? `${ce.hint}; then ` : ""}run 'difyctl auth login' again`,
    details: ce.details,
  });
}

/** Approved: store the session and report it. */
export async function finishLogin(ctx: Ctx, f: FinishInput): Promise<void> {
  const { payload, ref, storage, old, events } = f;
  const config = ctx.config;
  const hadSession = hasSession(old);

  const { meta, token, tokenId } = metadataFromPayload(payload, ref, storage.kind);
  events?.emit("approved", {
    host: ref.host, subject_type: meta.subject_type, account: meta.account ?? null, workspace: meta.workspace ?? null, external_sso: meta.external_sso ?? null,
  });
  const store = await openTokenStore(storage.kind, config);
  const firstFileWrite = storage.kind === "file" && !fileExists(config.path(TOKENS_FILE));
  const sameHostOtherAccount = hadSession && old.current_host === ref.host
    && ((old.account?.id || old.external_sso?.email || "") !== (meta.account?.id || meta.external_sso?.email || ""));
  let oldBearer: string | null = null;
  if (sameHostOtherAccount && old.token_id && old.token_storage) {
    try { oldBearer = (await (await openTokenStore(old.token_storage, config)).get(old.current_host!, old.token_id))?.bearer ?? null; } catch { /* best effort */ }
  }
  try {
    await commitSession(config, meta, { bearer: token, source: "oauth", token_id: tokenId, expires_at: meta.token_expires_at ?? null }, store);
  } catch (e) {
    throw notStored(e, hadSession && old.current_host === ref.host ? ref.host : null);
  }
  events?.emit("stored", { backend: storage.kind, ...(storage.kind === "file" ? { path: config.path(TOKENS_FILE) } : {}) });
  if (sameHostOtherAccount) {
    if (oldBearer) {
      const oldHttp = ctx.http({ baseUrl: ref.baseUrl, bearer: oldBearer, timeoutMs: 3000 });
      await oldHttp.delete("/account/sessions/self", { retry: false }).catch(() => {});
    }
    await ctx.err("note: previous account signed out\n");
  }
  const notice = storageNotice(storage.notices, firstFileWrite ? config.path(TOKENS_FILE) : null);
  if (notice) await ctx.err(notice);
  if (ctx.json) {
    await ctx.out(JSON.stringify(loggedInResult(ref.host, meta, storage.kind)) + "\n");
    return;
  }
  if (meta.subject_type === "external_sso") {
    await ok(ctx, line`Logged in as ${meta.external_sso!.email} (external SSO, issuer: ${meta.external_sso!.issuer})`);
  } else {
    await ok(ctx, meta.account!.name ? line`Logged in as ${meta.account!.email} (${meta.account!.name})` : line`Logged in as ${meta.account!.email}`);
    if (meta.workspace) await ctx.out(line`Workspace: ${meta.workspace.name}` + "\n");
  }
}

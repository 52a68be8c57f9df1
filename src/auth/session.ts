import type { ConfigStore } from "../storage/config-store.ts";
import { CliError } from "../cli/errors.ts";
import { type HostsFile, hasSession, type SubjectType, type TokenStorage } from "../storage/hosts-file.ts";
import { type HostRef, hostRefFromStored, normalizeHost } from "../http/host-url.ts";
import { FileTokenStore, type StoredCredential, type TokenStore } from "../storage/token-store.ts";
import { SUBJECTS } from "./identity.ts";

type Env = Record<string, string | undefined>;

export const ENV_HATCH_VARS = ["DIFY_TOKEN", "DIFY_HOST", "DIFY_WORKSPACE_ID"] as const;

export interface Session {
  source: "env" | TokenStorage;
  hostRef: HostRef;
  bearer: string;
  tokenId: string | null;
  subjectType: SubjectType;
  /** hosts.yml content; empty for an environment session. */
  meta: HostsFile;
  workspaceId: string | null;
}

export function subjectForToken(token: string): SubjectType | null {
  for (const subject of ["account", "external_sso"] as const) if (token.startsWith(SUBJECTS[subject].prefix)) return subject;
  return null;
}

export function invalidPrefix(where: string): CliError {
  return new CliError("invalid_token_prefix", `${where} is not a difyctl OAuth token (expected a dfoa_ or dfoe_ token)`, {
    hint: "app- keys and dfp_ tokens are not accepted; sign in with 'difyctl auth login'",
  });
}

/** True when any escape-hatch variable is set (login/logout refuse then). */
export function envHatchActive(env: Env): boolean {
  return ENV_HATCH_VARS.some((k) => (env[k] ?? "") !== "");
}

/**
 * Commands that write the stored session (login, --resume, logout, auth use) refuse while the
 * environment supplies the session: what they changed would not be the session in use.
 * `instead` names what to do in the environment instead, when there is such a thing.
 */
export function refuseWhileEnvSession(env: Env, action: string, instead?: string): void {
  if (!envHatchActive(env)) return;
  const unset = `unset ${ENV_HATCH_VARS.filter((k) => env[k]).join(", ")}`;
  throw new CliError("usage_invalid_flag", `cannot ${action} while the session comes from the environment`, {
    hint: instead ? `${instead} (or ${unset} to use the stored session)` : `${unset} first`,
  });
}

/** DIFY_TOKEN + DIFY_HOST (+ DIFY_WORKSPACE_ID for account tokens): all or none, never persisted. */
export function envSession(env: Env): Session | null {
  if (!envHatchActive(env)) return null;
  const token = (env.DIFY_TOKEN ?? "").trim();
  const subject = token ? subjectForToken(token) : null;
  // A token that will be refused anyway is reported before asking for the other variables.
  if (token && (!subject || !/^dfo[ae]_[A-Za-z0-9_-]+$/.test(token))) throw invalidPrefix("DIFY_TOKEN");
  const required = subject === "external_sso" ? ["DIFY_TOKEN", "DIFY_HOST"] : [...ENV_HATCH_VARS];
  const missing = required.filter((k) => (env[k] ?? "").trim() === "");
  if (missing.length) {
    throw new CliError("usage_missing_arg", `env escape hatch requires all of ${ENV_HATCH_VARS.join(", ")}; missing: ${missing.join(", ")}`, {
      hint: "set the missing variables, or unset the others to use the stored session",
    });
  }
  const hostRef = normalizeHost(env.DIFY_HOST!, { insecure: true });
  // The bearer would cross the network in clear text: plain http only for this machine.
  if (hostRef.scheme === "http" && !isLoopback(hostRef.host)) {
    throw new CliError("usage_invalid_flag", `DIFY_HOST uses plain-text http:// for ${hostRef.host}; the token would travel unencrypted`, {
      hint: "use https:// (plain http is accepted only for localhost / 127.0.0.1 / [::1])",
    });
  }
  return {
    source: "env", hostRef, bearer: token, tokenId: null, subjectType: subject!, meta: {},
    workspaceId: subject === "account" ? env.DIFY_WORKSPACE_ID!.trim() : null,
  };
}

export function isLoopback(host: string): boolean {
  const name = host.replace(/\/.*$/, "").replace(/:\d+$/, "");
  return name === "localhost" || name === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export async function openTokenStore(kind: TokenStorage, config: ConfigStore): Promise<TokenStore> {
  if (kind === "file") return new FileTokenStore(config);
  // Loaded only here: commands that never touch credentials never load the native addon.
  const { KeychainTokenStore } = await import("../storage/keychain-store.ts");
  return new KeychainTokenStore();
}

export function activeWorkspaceId(meta: HostsFile): string | null {
  return meta.current_workspace_id ?? meta.workspace?.id ?? null;
}

/** The stored session, or null when logged out. Keychain trouble is an error, never "logged out". */
export async function storedSession(config: ConfigStore): Promise<Session | null> {
  const meta = await config.readHostsAsync();
  if (!hasSession(meta) || !meta.token_id) return null;
  const store = await openTokenStore(meta.token_storage!, config);
  const cred = await store.get(meta.current_host!, meta.token_id);
  if (!cred) return null;
  if (!subjectForToken(cred.bearer)) throw invalidPrefix(`the stored token for ${meta.current_host}`);
  return {
    source: meta.token_storage!, hostRef: hostRefFromStored(meta.current_host!, meta.scheme), bearer: cred.bearer,
    tokenId: meta.token_id, subjectType: meta.subject_type!, meta, workspaceId: activeWorkspaceId(meta),
  };
}

export function notLoggedIn(): CliError {
  return new CliError("not_logged_in", "not logged in", { hint: "run 'difyctl auth login' to sign in" });
}

/** The config store is only resolved when the environment does not supply the session. */
export async function currentSession(config: () => ConfigStore, env: Env): Promise<Session | null> {
  return envSession(env) ?? (await storedSession(config()));
}

export async function requireSession(config: () => ConfigStore, env: Env): Promise<Session> {
  const s = await currentSession(config, env);
  if (!s) throw notLoggedIn();
  return s;
}

/**
 * Writes a new session. hosts.yml is the commit point: the token is stored first, the metadata
 * then names it, and only then are older credentials removed — a crash at any point leaves either
 * the old session or the new one.
 */
export async function commitSession(config: ConfigStore, meta: HostsFile, cred: StoredCredential, store: TokenStore): Promise<void> {
  await config.withLock(async () => {
    let old: HostsFile = {};
    try { old = config.readHosts(); } catch { /* checked before the flow started; a racing corrupt file is replaced */ }
    // A keychain entry is per host, and only a later prune removes the old host's: remember that
    // host in last_host, so that a crash before the prune (or a logout killed before its own) is
    // cleaned up by the next commit instead of leaving a live token in the keychain for good.
    const switchedFrom = old.current_host && old.current_host !== meta.current_host && old.token_storage === "keychain" ? old.current_host : undefined;
    const toWrite: HostsFile = switchedFrom && meta.last_host === undefined ? { ...meta, last_host: switchedFrom } : meta;
    await store.put(meta.current_host!, cred);
    config.writeHosts(toWrite);
    await store.prune(meta.current_host!, { host: meta.current_host!, tokenId: cred.token_id });
    if (old.current_host && old.token_storage && (old.token_storage !== store.kind || old.current_host !== meta.current_host)) {
      const oldStore = await openTokenStore(old.token_storage, config).catch(() => null);
      await oldStore?.prune(old.current_host, null).catch(() => {});
    }
    if (store.kind === "keychain" && old.last_host && old.last_host !== meta.current_host && old.last_host !== old.current_host) {
      await store.prune(old.last_host, null).catch(() => {});
    }
  });
}

/**
 * Removes the session (logout, 401). Only the session that was read is cleared: if another
 * process has signed in meanwhile, its newer session is left alone.
 */
export async function clearSession(config: ConfigStore, session: Session): Promise<void> {
  if (session.source === "env") return;
  await config.withLock(async () => {
    const meta = config.readHosts();
    if (meta.token_id !== session.tokenId || meta.current_host !== session.hostRef.host) return;
    config.writeHosts({ last_host: session.hostRef.host, ...(session.hostRef.scheme === "http" ? { scheme: "http" as const } : {}) });
    const store = await openTokenStore(session.source as TokenStorage, config);
    await store.prune(session.hostRef.host, null);
  });
}

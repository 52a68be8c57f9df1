import { CliError } from "../cli/errors.ts";

export type SubjectType = "account" | "external_sso";
export type TokenStorage = "keychain" | "file";

export interface Workspace { id: string; name: string; role: string }
export interface Account { id: string; email: string; name: string }

/** hosts.yml: session metadata (host, subject, workspaces, where the token lives). Never holds the bearer. */
export interface HostsFile {
  current_host?: string;
  /** Only written when the host is not https (login --insecure). */
  scheme?: "http" | "https";
  subject_type?: SubjectType;
  account?: Account | null;
  workspace?: Workspace | null;
  current_workspace_id?: string | null;
  available_workspaces?: Workspace[];
  external_sso?: { email: string; issuer: string } | null;
  token_storage?: TokenStorage;
  token_id?: string | null;
  token_expires_at?: string | null;
  /** Kept after logout so the next login can suggest it. */
  last_host?: string;
}

function bad(path: string, what: string): CliError {
  return new CliError("config_schema_unsupported", `${path} is not a valid difyctl hosts file: ${what}`, {
    hint: `repair it, or remove it and run 'difyctl auth login'`,
  });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string";

function str(o: Record<string, unknown>, key: string, path: string, where: string, optional = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw bad(path, `${where}.${key} is missing`);
  }
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (!isStr(v)) throw bad(path, `${where}.${key} must be a string`);
  return v;
}

function workspace(v: unknown, path: string, where: string): Workspace {
  if (!isObj(v)) throw bad(path, `${where} must be a mapping`);
  return { id: str(v, "id", path, where)!, name: str(v, "name", path, where, true) ?? "", role: str(v, "role", path, where, true) ?? "" };
}

export function parseHostsFile(text: string, path: string): HostsFile {
  let raw: unknown;
  try { raw = Bun.YAML.parse(text); } catch (e) {
    throw bad(path, `malformed YAML (${String((e as Error).message).split("\n")[0].slice(0, 120)})`);
  }
  if (raw === null || raw === undefined) return {};
  if (!isObj(raw)) throw bad(path, "the top level must be a mapping");
  const out: HostsFile = {};
  const host = str(raw, "current_host", path, "hosts", true);
  if (host !== undefined) out.current_host = host;
  const last = str(raw, "last_host", path, "hosts", true);
  if (last !== undefined) out.last_host = last;
  if (raw.scheme !== undefined && raw.scheme !== null) {
    if (raw.scheme !== "http" && raw.scheme !== "https") throw bad(path, "scheme must be http or https");
    out.scheme = raw.scheme;
  }
  if (raw.subject_type !== undefined && raw.subject_type !== null) {
    if (raw.subject_type !== "account" && raw.subject_type !== "external_sso") throw bad(path, "subject_type must be account or external_sso");
    out.subject_type = raw.subject_type;
  }
  if (raw.token_storage !== undefined && raw.token_storage !== null) {
    if (raw.token_storage !== "keychain" && raw.token_storage !== "file") throw bad(path, "token_storage must be keychain or file");
    out.token_storage = raw.token_storage;
  }
  if (isObj(raw.account)) {
    out.account = { id: str(raw.account, "id", path, "account", true) ?? "", email: str(raw.account, "email", path, "account")!, name: str(raw.account, "name", path, "account", true) ?? "" };
  } else if (raw.account !== undefined && raw.account !== null) throw bad(path, "account must be a mapping");
  if (raw.workspace !== undefined && raw.workspace !== null) out.workspace = workspace(raw.workspace, path, "workspace");
  const cw = str(raw, "current_workspace_id", path, "hosts", true);
  if (cw !== undefined) out.current_workspace_id = cw;
  if (raw.available_workspaces !== undefined && raw.available_workspaces !== null) {
    if (!Array.isArray(raw.available_workspaces)) throw bad(path, "available_workspaces must be a list");
    if (raw.available_workspaces.length > 10_000) throw bad(path, "available_workspaces is too long");
    out.available_workspaces = raw.available_workspaces.map((w, i) => workspace(w, path, `available_workspaces[${i}]`));
  }
  if (isObj(raw.external_sso)) {
    out.external_sso = { email: str(raw.external_sso, "email", path, "external_sso")!, issuer: str(raw.external_sso, "issuer", path, "external_sso", true) ?? "" };
  } else if (raw.external_sso !== undefined && raw.external_sso !== null) throw bad(path, "external_sso must be a mapping");
  const tid = str(raw, "token_id", path, "hosts", true);
  if (tid !== undefined) out.token_id = tid;
  const exp = str(raw, "token_expires_at", path, "hosts", true);
  out.token_expires_at = exp ?? null;
  return out;
}

export function serializeHostsFile(h: HostsFile): string {
  const ordered: Record<string, unknown> = {};
  const keys: (keyof HostsFile)[] = [
    "current_host", "scheme", "subject_type", "account", "workspace", "current_workspace_id", "available_workspaces",
    "external_sso", "token_storage", "token_id", "token_expires_at", "last_host",
  ];
  for (const k of keys) if (h[k] !== undefined) ordered[k] = h[k];
  // A deep copy: Bun.YAML writes a shared object (workspace ∈ available_workspaces) as an anchor.
  return "# difyctl session metadata. The token is not stored here.\n" + Bun.YAML.stringify(JSON.parse(JSON.stringify(ordered)), null, 2) + "\n";
}

/** A session is present when the metadata names a host, a subject and a token id. */
export function hasSession(h: HostsFile): boolean {
  return Boolean(h.current_host && h.subject_type && h.token_storage);
}

// ---------------------------------------------------------------------------------------------
// tokens.yml: the bearer in file mode. Entries are keyed by token id so that a new token can be
// written before hosts.yml points at it: a crash between the two writes leaves the old session
// intact (hosts.yml is the commit point) and only an orphan entry that the next write prunes.

export interface TokenEntry { host: string; bearer: string; expires_at: string | null }
export interface TokensFile { tokens: Record<string, TokenEntry> }

export function parseTokensFile(text: string, path: string): TokensFile {
  let raw: unknown;
  try { raw = Bun.YAML.parse(text); } catch {
    throw new CliError("config_schema_unsupported", `${path} is not valid YAML`, { hint: `remove it and run 'difyctl auth login'` });
  }
  if (raw === null || raw === undefined) return { tokens: {} };
  if (!isObj(raw) || (raw.tokens !== undefined && raw.tokens !== null && !isObj(raw.tokens))) {
    throw new CliError("config_schema_unsupported", `${path} is not a valid difyctl tokens file`, { hint: `remove it and run 'difyctl auth login'` });
  }
  const tokens: Record<string, TokenEntry> = {};
  for (const [id, e] of Object.entries((raw.tokens ?? {}) as Record<string, unknown>)) {
    // A damaged entry is an error, not "logged out": the next login would silently drop it.
    if (!isObj(e) || !isStr(e.bearer) || !isStr(e.host)) {
      throw new CliError("config_schema_unsupported", `${path} is not a valid difyctl tokens file: entry ${JSON.stringify(id.slice(0, 64))} needs a string host and bearer`, {
        hint: `repair it, or remove it and run 'difyctl auth login'`,
      });
    }
    tokens[id] = { host: e.host, bearer: e.bearer, expires_at: isStr(e.expires_at) ? e.expires_at : null };
  }
  return { tokens };
}

export function serializeTokensFile(t: TokensFile): string {
  return "# difyctl credentials: a plaintext bearer token. Keep this file 0600 and out of images and VCS.\n"
    + Bun.YAML.stringify({ version: 1, tokens: t.tokens }, null, 2) + "\n";
}

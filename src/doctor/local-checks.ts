// The doctor's checks of this machine's own state: the environment, the config dir and its files,
// the stored session and a pending sign-in. The rules are the storage layer's own (dirRefusal,
// modeTooOpen, assertLockUsable, the readers and parsers), so doctor reports what a sign-in or a
// read would actually do.
import { assertLockUsable, dirRefusal, modeTooOpen, readFileIfExists } from "../storage/atomic-file.ts";
import { HOSTS_FILE, PENDING_FILE, TOKENS_FILE } from "../storage/config-store.ts";
import type { CliError } from "../cli/errors.ts";
import { hasSession, type HostsFile, parseHostsFile, parseTokensFile } from "../storage/hosts-file.ts";
import { parsePending } from "../auth/login-pending.ts";
import { envSession } from "../auth/session.ts";
import { type Check, type Env, fs, mode4 } from "./check.ts";
import { policyOf } from "./storage-checks.ts";

/** Variables difyctl reads. Any other DIFY_* name is probably a typo and gets a warning. */
export const KNOWN_DIFY_VARS = [
  "DIFY_CONFIG_DIR", "DIFY_CACHE_DIR", "DIFY_OUTPUT", "DIFY_DEBUG", "DIFY_DEBUG_TIMING", "DIFY_TOKEN_STORAGE", "DIFY_CREDENTIAL_STORAGE",
  "DIFY_KEYRING_TIMEOUT", "DIFY_KEYRING_DIRECT", "DIFY_HTTP_TIMEOUT", "DIFY_TOKEN", "DIFY_HOST", "DIFY_WORKSPACE_ID",
];
/** Other variables that change how difyctl behaves here. */
const RELEVANT_VARS = [
  "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "TMPDIR", "DBUS_SESSION_BUS_ADDRESS", "SSH_CONNECTION", "SSH_TTY",
  "DISPLAY", "WAYLAND_DISPLAY", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
  "NO_COLOR", "FORCE_HYPERLINK", "TMUX",
];

const uid = () => (typeof process.getuid === "function" ? process.getuid() : -1);

// ── Environment ──────────────────────────────────────────────────────────────────────────────

export function checkEnv(env: Env): Check {
  const set = (k: string) => (env[k] ?? "") !== "";
  const names = Object.keys(env).filter((k) => set(k) && (k.startsWith("DIFY_") || RELEVANT_VARS.includes(k))).sort();
  const unknown = names.filter((k) => k.startsWith("DIFY_") && !KNOWN_DIFY_VARS.includes(k));
  const data = { names, unknown };
  const base = `in effect: ${names.length ? names.join(", ") : "none"}`;
  try {
    envSession(env);
  } catch (e) {
    // The messages name variables, never their values.
    return { id: "env", title: "environment", status: "fail", message: `${base}; ${(e as Error).message}`, hint: (e as CliError).hint, data };
  }
  // The same validation a sign-in applies (storagePolicy), without the value it quotes.
  const policy = policyOf(env);
  if (policy.error) {
    return { id: "env", title: "environment", status: "fail", message: `${base}; ${policy.error}`, hint: "set DIFY_TOKEN_STORAGE to auto, keychain or file, and DIFY_CREDENTIAL_STORAGE only to file (or unset them)", data };
  }
  if (unknown.length) {
    return { id: "env", title: "environment", status: "warn", message: `${base}; not used by difyctl: ${unknown.join(", ")}`, hint: `check for typos; difyctl reads ${KNOWN_DIFY_VARS.join(", ")}`, data };
  }
  return { id: "env", title: "environment", status: "pass", message: base, data };
}

// ── Config dir and files ─────────────────────────────────────────────────────────────────────

function dirSource(env: Env): string {
  if (env.DIFY_CONFIG_DIR) return "DIFY_CONFIG_DIR";
  if (process.platform === "win32") return "%AppData%";
  if (env.XDG_CONFIG_HOME) return "XDG_CONFIG_HOME";
  return "default";
}

export function checkConfigDir(dir: string, env: Env): Check {
  const title = "config dir";
  let st;
  try { st = fs().statSync(dir); } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") {
      return { id: "config_dir", title, status: "warn", message: `${dir} does not exist yet (${dirSource(env)})`, hint: "it is created at the first 'difyctl auth login'", data: { path: dir, exists: false } };
    }
    return { id: "config_dir", title, status: "fail", message: `cannot read ${dir} (${(e as { code?: string }).code ?? "I/O error"})`, hint: "check its permissions, or set DIFY_CONFIG_DIR", data: { path: dir } };
  }
  if (!st.isDirectory()) {
    return { id: "config_dir", title, status: "fail", message: `${dir} is not a directory`, hint: "remove it, or set DIFY_CONFIG_DIR to a directory", data: { path: dir } };
  }
  const mode = st.mode & 0o777;
  const data: Record<string, unknown> = { path: dir, source: dirSource(env), mode: mode4(st.mode) };
  // Another user's dir, or one others can write: a sign-in refuses it, so doctor fails it.
  const refused = dirRefusal(dir, st);
  if (refused) return { id: "config_dir", title, status: "fail", message: refused.message, hint: refused.hint, data };
  // access(W_OK) catches a read-only mount; the owner bit catches a dir made read-only on
  // purpose (root passes access() regardless).
  let writable = (mode & 0o200) !== 0;
  try { fs().accessSync(dir, fs().constants.W_OK); } catch { writable = false; }
  data.writable = writable;
  const facts = `${dir} (${dirSource(env)}, mode ${mode4(st.mode)}, ${writable ? "writable" : "read-only"})`;
  if (modeTooOpen(mode)) {
    return { id: "config_dir", title, status: "warn", message: `${facts}: other users can list it`, hint: `chmod 700 '${dir}'`, data };
  }
  if (!writable) {
    return {
      id: "config_dir", title, status: "warn", message: `${facts}: status, whoami, get and run work; login, logout and use cannot save`,
      hint: "fine for a mounted agent session (copy the config dir); make it writable to sign in here", data,
    };
  }
  return { id: "config_dir", title, status: "pass", message: facts, data };
}

/** Mode and ownership of each file that exists, and the lock path. tokens.yml holds a bearer: a loose mode fails. */
export function checkFiles(dir: string): Check[] {
  const out: Check[] = [];
  for (const [name, secret] of [[HOSTS_FILE, false], [TOKENS_FILE, true], [PENDING_FILE, true]] as const) {
    const p = `${dir}/${name}`;
    let st;
    try { st = fs().lstatSync(p); } catch { continue; }
    const id = `file:${name}`;
    const data = { path: p, mode: mode4(st.mode & 0o777) };
    if (!st.isFile()) {
      out.push({ id, title: name, status: "fail", message: `${p} is not a regular file`, hint: `remove ${p}`, data });
      continue;
    }
    if (uid() > 0 && st.uid !== uid()) {
      out.push({ id, title: name, status: "fail", message: `${p} belongs to another user (uid ${st.uid})`, hint: `chown $(id -u) '${p}'`, data });
      continue;
    }
    if (modeTooOpen(st.mode)) {
      const what = name === TOKENS_FILE ? "it holds a plaintext bearer token that other users can read" : name === PENDING_FILE ? "it holds a one-time device code" : "it holds session metadata";
      out.push({
        id, title: name, status: secret && name === TOKENS_FILE ? "fail" : "warn", message: `${p} has mode ${mode4(st.mode & 0o777)}: ${what}`,
        hint: `chmod 600 '${p}'`, data,
      });
      continue;
    }
    out.push({ id, title: name, status: "pass", message: `${p} (mode ${mode4(st.mode & 0o777)})`, data });
  }
  // A lock path that is not a lock file stops every write; sign-ins refuse to start.
  try { assertLockUsable(dir); } catch (e) {
    out.push({ id: "file:.difyctl.lock", title: ".difyctl.lock", status: "fail", message: (e as Error).message, hint: (e as CliError).hint });
  }
  return out;
}

// ── Session and pending sign-in ──────────────────────────────────────────────────────────────

export interface LocalState { meta: HostsFile | null; metaError?: string; tokenIds: Set<string> | null; tokensError?: string }

export function readLocal(dir: string): LocalState {
  const s: LocalState = { meta: null, tokenIds: null };
  try {
    const f = readFileIfExists(`${dir}/${HOSTS_FILE}`);
    s.meta = f ? parseHostsFile(f.text, `${dir}/${HOSTS_FILE}`) : {};
  } catch (e) { s.metaError = (e as Error).message; }
  try {
    const f = readFileIfExists(`${dir}/${TOKENS_FILE}`);
    if (f) s.tokenIds = new Set(Object.entries(parseTokensFile(f.text, `${dir}/${TOKENS_FILE}`).tokens).map(([id, e]) => `${e.host} ${id}`));
  } catch (e) { s.tokensError = (e as Error).message; }
  return s;
}

export function checkSession(env: Env, local: LocalState, keychainOk: boolean | null): Check {
  const title = "session";
  try {
    const es = envSession(env);
    if (es) return { id: "session", title, status: "pass", message: `from the environment (DIFY_TOKEN, ${es.subjectType} token for ${es.hostRef.host}); nothing is stored`, data: { source: "env", host: es.hostRef.host } };
  } catch {
    return { id: "session", title, status: "fail", message: "the environment variables are unusable (see environment)", data: { source: "env" } };
  }
  if (local.metaError) return { id: "session", title, status: "fail", message: local.metaError, hint: "repair hosts.yml, or remove it and run 'difyctl auth login'" };
  const m = local.meta ?? {};
  if (!hasSession(m) || !m.token_id) {
    return { id: "session", title, status: "warn", message: "not logged in", hint: "run 'difyctl auth login'", data: { logged_in: false } };
  }
  const who = m.subject_type === "external_sso" ? `${m.external_sso?.email} (external SSO)` : m.account?.email ?? "?";
  const data = { logged_in: true, host: m.current_host, subject_type: m.subject_type, storage: m.token_storage };
  const facts = `${who} on ${m.current_host}, token in ${m.token_storage === "file" ? "tokens.yml" : "the OS keychain"}`;
  if (m.token_storage === "file") {
    if (local.tokensError) return { id: "session", title, status: "fail", message: `${facts}, but ${local.tokensError}`, hint: "remove tokens.yml and run 'difyctl auth login'", data };
    if (!local.tokenIds?.has(`${m.current_host} ${m.token_id}`)) {
      return { id: "session", title, status: "fail", message: `${facts}, but tokens.yml has no token for this session`, hint: "run 'difyctl auth login' (or copy tokens.yml along with hosts.yml)", data };
    }
  } else if (keychainOk === false) {
    return { id: "session", title, status: "fail", message: `${facts}, but the keychain cannot be reached (see keychain)`, hint: "fix the keychain, or sign in again with 'difyctl auth login --no-keyring'", data };
  }
  return { id: "session", title, status: "pass", message: facts, data };
}

export function checkPending(dir: string, now: number): Check | null {
  let f;
  try { f = readFileIfExists(`${dir}/${PENDING_FILE}`, 64 * 1024); } catch { return null; }
  if (!f) return null;
  const p = parsePending(f.text);
  if (!p) return { id: "pending_login", title: "pending sign-in", status: "warn", message: `${PENDING_FILE} is not a valid pending sign-in and is ignored`, hint: "run 'difyctl auth login' (it replaces the file) or 'difyctl auth logout'" };
  const left = Math.floor((Date.parse(p.expires_at) - now) / 1000);
  if (left <= 0) return { id: "pending_login", title: "pending sign-in", status: "warn", message: `a sign-in for ${p.host} started with --no-wait has expired`, hint: "run 'difyctl auth login --resume' to clear it, or start again", data: { host: p.host, expires_in: 0 } };
  return { id: "pending_login", title: "pending sign-in", status: "pass", message: `a sign-in for ${p.host} is waiting for approval (code ${p.user_code}, ${Math.ceil(left / 60)} min left)`, hint: "approve it, then run 'difyctl auth login --resume'", data: { host: p.host, user_code: p.user_code, expires_in: left } };
}

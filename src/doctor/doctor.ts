// `auth doctor`: everything that decides whether difyctl can sign in and stay signed in on this
// machine, each as a pass/warn/fail line with a fix. It only reads: no config file, lock, cache or
// keychain entry is written (the keychain is asked for an entry that does not exist), so it is
// safe on a read-only mounted config dir. Exit 0 unless a check fails.
import { readFileIfExists } from "../storage/atomic-file.ts";
import { configDir } from "../storage/config-dir.ts";
import { HOSTS_FILE, TOKENS_FILE } from "../storage/config-store.ts";
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import { hasSession, type HostsFile, parseHostsFile, parseTokensFile } from "../storage/hosts-file.ts";
import { type HostRef, hostRefFromStored, normalizeHost } from "../http/host-url.ts";
import { redact } from "../ui/redact.ts";
import { parsePending, PENDING_FILE } from "../auth/login-pending.ts";
import { envSession } from "../auth/session.ts";
import { sanitize } from "../ui/sanitize.ts";
import { statusWord, styleFor } from "../ui/colour.ts";

type Env = Record<string, string | undefined>;
export type Status = "pass" | "warn" | "fail";

export interface Check {
  id: string;
  title: string;
  status: Status;
  message: string;
  hint?: string;
  /** Machine-readable facts for --json (never secrets, never environment values). */
  data?: Record<string, unknown>;
}

const fs = (): typeof import("node:fs") => require("node:fs");

/** Variables difyctl reads. Any other DIFY_* name is probably a typo and gets a warning. */
export const KNOWN_DIFY_VARS = [
  "DIFY_CONFIG_DIR", "DIFY_CACHE_DIR", "DIFY_OUTPUT", "DIFY_DEBUG", "DIFY_TOKEN_STORAGE", "DIFY_CREDENTIAL_STORAGE",
  "DIFY_KEYRING_TIMEOUT", "DIFY_HTTP_TIMEOUT", "DIFY_TOKEN", "DIFY_HOST", "DIFY_WORKSPACE_ID",
];
/** Other variables that change how difyctl behaves here. */
const RELEVANT_VARS = [
  "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "TMPDIR", "DBUS_SESSION_BUS_ADDRESS", "SSH_CONNECTION", "SSH_TTY",
  "DISPLAY", "WAYLAND_DISPLAY", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
  "NO_COLOR", "FORCE_HYPERLINK", "TMUX",
];

const mode4 = (m: number) => m.toString(8).padStart(4, "0");
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
  const ts = (env.DIFY_TOKEN_STORAGE ?? "").trim().toLowerCase();
  if (ts && !["auto", "keychain", "file"].includes(ts)) {
    return { id: "env", title: "environment", status: "fail", message: `${base}; DIFY_TOKEN_STORAGE has an unsupported value`, hint: "set it to auto, keychain or file", data };
  }
  const cs = (env.DIFY_CREDENTIAL_STORAGE ?? "").trim().toLowerCase();
  if (cs && cs !== "file") {
    return { id: "env", title: "environment", status: "fail", message: `${base}; DIFY_CREDENTIAL_STORAGE accepts only 'file'`, hint: "set it to file or unset it", data };
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
  const data: Record<string, unknown> = { path: dir, source: dirSource(env), mode: mode4(mode) };
  if (uid() > 0 && st.uid !== uid()) {
    return { id: "config_dir", title, status: "fail", message: `${dir} belongs to another user (uid ${st.uid})`, hint: "set DIFY_CONFIG_DIR to a directory you own", data };
  }
  // access(W_OK) catches a read-only mount; the owner bit catches a dir made read-only on
  // purpose (root passes access() regardless).
  let writable = (mode & 0o200) !== 0;
  try { fs().accessSync(dir, fs().constants.W_OK); } catch { writable = false; }
  data.writable = writable;
  const loose = process.platform !== "win32" && (mode & 0o077) !== 0;
  const facts = `${dir} (${dirSource(env)}, mode ${mode4(mode)}, ${writable ? "writable" : "read-only"})`;
  if (loose) {
    return { id: "config_dir", title, status: "warn", message: `${facts}: other users can list it`, hint: `chmod 700 '${dir}'`, data };
  }
  if (!writable) {
    return {
      id: "config_dir", title, status: "warn", message: `${facts}: status, whoami, get and run work; login, logout and use cannot save`,
      hint: "fine for a mounted agent session (seed: copy the config dir); make it writable to sign in here", data,
    };
  }
  return { id: "config_dir", title, status: "pass", message: facts, data };
}

/** Mode and ownership of each file that exists. tokens.yml holds a bearer: a loose mode fails. */
export function checkFiles(dir: string): Check[] {
  const out: Check[] = [];
  for (const [name, secret] of [[HOSTS_FILE, false], [TOKENS_FILE, true], [PENDING_FILE, true]] as const) {
    const p = `${dir}/${name}`;
    let st;
    try { st = fs().lstatSync(p); } catch { continue; }
    const id = `file:${name}`;
    const mode = st.mode & 0o777;
    const data = { path: p, mode: mode4(mode) };
    if (!st.isFile()) {
      out.push({ id, title: name, status: "fail", message: `${p} is not a regular file`, hint: `remove ${p}`, data });
      continue;
    }
    if (uid() > 0 && st.uid !== uid()) {
      out.push({ id, title: name, status: "fail", message: `${p} belongs to another user (uid ${st.uid})`, hint: `chown $(id -u) '${p}'`, data });
      continue;
    }
    if (process.platform !== "win32" && (mode & 0o077) !== 0) {
      const what = name === TOKENS_FILE ? "it holds a plaintext bearer token that other users can read" : name === PENDING_FILE ? "it holds a one-time device code" : "it holds session metadata";
      out.push({ id, title: name, status: secret && name === TOKENS_FILE ? "fail" : "warn", message: `${p} has mode ${mode4(mode)}: ${what}`, hint: `chmod 600 '${p}'`, data });
      continue;
    }
    out.push({ id, title: name, status: "pass", message: `${p} (mode ${mode4(mode)})`, data });
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

function checkSession(env: Env, local: LocalState, keychainOk: boolean | null): Check {
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

function checkPending(dir: string, now: number): Check | null {
  let f;
  try { f = readFileIfExists(`${dir}/${PENDING_FILE}`, 64 * 1024); } catch { return null; }
  if (!f) return null;
  const p = parsePending(f.text);
  if (!p) return { id: "pending_login", title: "pending sign-in", status: "warn", message: `${PENDING_FILE} is not a valid pending sign-in and is ignored`, hint: "run 'difyctl auth login' (it replaces the file) or 'difyctl auth logout'" };
  const left = Math.floor((Date.parse(p.expires_at) - now) / 1000);
  if (left <= 0) return { id: "pending_login", title: "pending sign-in", status: "warn", message: `a sign-in for ${p.host} started with --no-wait has expired`, hint: "run 'difyctl auth login --resume' to clear it, or start again", data: { host: p.host, expires_in: 0 } };
  return { id: "pending_login", title: "pending sign-in", status: "pass", message: `a sign-in for ${p.host} is waiting for approval (code ${p.user_code}, ${Math.ceil(left / 60)} min left)`, hint: "approve it, then run 'difyctl auth login --resume'", data: { host: p.host, user_code: p.user_code, expires_in: left } };
}

// ── Storage backend, keychain, temp dir ──────────────────────────────────────────────────────

/** Whether the mount holding `path` is noexec, from /proc/self/mountinfo text; null if unknown. */
export function noexecMount(path: string, mountinfo: string): boolean | null {
  let best: { point: string; noexec: boolean } | null = null;
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    if (f.length < 6) continue;
    const point = f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const inside = point === "/" || path === point || path.startsWith(point.endsWith("/") ? point : point + "/");
    if (inside && (!best || point.length >= best.point.length)) best = { point, noexec: f[5].split(",").includes("noexec") };
  }
  return best ? best.noexec : null;
}

function tmpDir(env: Env): string {
  return env.TMPDIR || "/tmp";
}

function checkTempDir(env: Env): Check | null {
  if (process.platform !== "linux") return null;
  const dir = tmpDir(env);
  let real = dir;
  try { real = fs().realpathSync(dir); } catch {
    return { id: "temp_dir", title: "temp dir", status: "warn", message: `TMPDIR ${dir} does not exist: the keychain library cannot be unpacked`, hint: "set TMPDIR to an existing directory", data: { path: dir } };
  }
  let info = "";
  try { info = fs().readFileSync("/proc/self/mountinfo", "utf8"); } catch { return null; }
  const noexec = noexecMount(real, info);
  if (noexec) {
    return {
      id: "temp_dir", title: "temp dir", status: "warn", message: `${dir} is mounted noexec: the keychain library (unpacked there at run time) cannot load, so tokens go to tokens.yml`,
      hint: "set TMPDIR to a directory that allows executables, e.g. TMPDIR=$HOME/.cache", data: { path: dir, noexec: true },
    };
  }
  return { id: "temp_dir", title: "temp dir", status: "pass", message: `${dir} allows executables (the keychain library can load)`, data: { path: dir, noexec: false } };
}

function policyOf(env: Env): { policy: "auto" | "keychain" | "file"; by: string } {
  const ts = (env.DIFY_TOKEN_STORAGE ?? "").trim().toLowerCase();
  if ((env.DIFY_CREDENTIAL_STORAGE ?? "").trim().toLowerCase() === "file") return { policy: "file", by: "DIFY_CREDENTIAL_STORAGE=file" };
  if (ts === "file") return { policy: "file", by: "DIFY_TOKEN_STORAGE=file" };
  if (ts === "keychain") return { policy: "keychain", by: "DIFY_TOKEN_STORAGE=keychain" };
  return { policy: "auto", by: "default" };
}

export interface KeychainResult { ok: boolean; kind?: string; why?: string; whyCode?: string; reason?: string; ms: number }

/** Why the keychain is missing, as a stable code and in the words a user searches for. */
function explain(kind: string, reason: string, env: Env): { code: string; text: string } {
  // By message first: a stale DBUS_SESSION_BUS_ADDRESS (dead socket) is "no bus" too.
  if (/autolaunch|DBUS_SESSION_BUS_ADDRESS|Failed to connect to socket/i.test(reason)) return { code: "no_dbus", text: "no D-Bus session bus" };
  if (/not provided by any \.service|ServiceUnknown/i.test(reason)) return { code: "no_secret_service", text: "no Secret Service (gnome-keyring, KWallet, KeePassXC) on the session bus" };
  if (kind === "absent") {
    return process.platform === "linux" && !env.DBUS_SESSION_BUS_ADDRESS ? { code: "no_dbus", text: "no D-Bus session bus" } : { code: "absent", text: "no OS keychain" };
  }
  if (kind === "locked") return { code: "locked", text: "the keychain is locked or refused access" };
  if (kind === "timeout") return { code: "timeout", text: "the keychain did not answer in time" };
  if (kind === "load") return { code: "load", text: "the keychain library could not load (noexec temp dir?)" };
  return { code: "error", text: "the keychain reported an error" };
}

/** Asks for an entry that never exists: proves the store answers without writing or prompting. */
async function probeKeychainReadOnly(env: Env): Promise<KeychainResult> {
  const t0 = Date.now();
  try {
    const { WorkerKeyring, keyringTimeoutMs } = await import("../storage/keychain-store.ts");
    const ops = new WorkerKeyring(Math.min(keyringTimeoutMs(env, false), 10_000));
    await ops.get("difyctl-doctor:reachability");
    return { ok: true, ms: Date.now() - t0 };
  } catch (e) {
    const kind = (e as { kind?: string }).kind ?? "error";
    const reason = String((e as Error)?.message ?? e).split("\n")[0].slice(0, 200);
    const why = explain(kind, reason, env);
    return { ok: false, kind, reason, why: why.text, whyCode: why.code, ms: Date.now() - t0 };
  }
}

function keychainHint(kind: string | undefined, why: string | undefined): string {
  if (why?.startsWith("no D-Bus") && kind !== "absent") return "DBUS_SESSION_BUS_ADDRESS points at a bus that is gone: unset it or start a session bus; or use DIFY_TOKEN_STORAGE=file";
  if (why?.startsWith("no D-Bus")) return "normal on servers and containers (tokens go to tokens.yml); for a keychain, run in a desktop session or under dbus-run-session with gnome-keyring";
  if (why?.startsWith("no Secret Service")) return "install and start a Secret Service (e.g. gnome-keyring), or keep the file store";
  if (kind === "locked") return "unlock the login keyring (or macOS Keychain) and run 'difyctl auth login' again";
  if (kind === "timeout") return "check the Secret Service is responsive, or raise DIFY_KEYRING_TIMEOUT (seconds)";
  if (kind === "load") return "set TMPDIR to a directory that allows executables";
  return "use DIFY_TOKEN_STORAGE=file to avoid the keychain";
}

function checkKeychain(env: Env, local: LocalState, k: KeychainResult | null): Check {
  const title = "keychain";
  const { policy, by } = policyOf(env);
  if (!k) return { id: "keychain", title, status: "pass", message: `not used (${by})`, data: { probed: false } };
  const data = { probed: true, reachable: k.ok, why: k.whyCode ?? null, latency_ms: k.ms };
  if (k.ok) return { id: "keychain", title, status: "pass", message: `reachable (${k.ms} ms)`, data };
  const needed = policy === "keychain" || local.meta?.token_storage === "keychain";
  return {
    id: "keychain", title, status: needed ? "fail" : "warn",
    message: `unavailable: ${k.why} (${k.reason})${needed ? "" : "; tokens go to tokens.yml"}`,
    hint: keychainHint(k.kind, k.why), data,
  };
}

function checkStorage(env: Env, local: LocalState, k: KeychainResult | null): Check {
  const title = "token storage";
  const { policy, by } = policyOf(env);
  const recorded = local.meta?.token_storage;
  const now = k ? (k.ok ? "the keychain is reachable now" : `now: ${k.why}`) : "";
  const data = { policy, chosen_by: by, backend: recorded ?? null };
  if (envSession2(env)) return { id: "storage", title, status: "pass", message: "none: the token comes from DIFY_TOKEN", data: { ...data, backend: "env" } };
  if (!recorded) {
    const next = policy === "file" ? `tokens.yml (${by})` : policy === "keychain" ? `the OS keychain (${by})` : k?.ok ? "the OS keychain" : `tokens.yml (${now || "keychain unavailable"})`;
    return { id: "storage", title, status: "pass", message: `no session yet; the next login stores the token in ${next}`, data };
  }
  if (recorded === "keychain") return { id: "storage", title, status: "pass", message: "OS keychain (it worked at login)", data };
  const why = policy === "file" ? by : `chosen at login: --no-keyring, or the keychain was unusable${now ? `; ${now}` : ""}`;
  if (policy === "keychain") {
    return { id: "storage", title, status: "warn", message: `tokens.yml, but DIFY_TOKEN_STORAGE=keychain asks for the keychain`, hint: "run 'difyctl auth login' to move the token into the keychain", data };
  }
  return {
    id: "storage", title, status: "pass", message: `tokens.yml in the config dir (${why})`,
    hint: k?.ok && policy === "auto" ? "the keychain works now: 'difyctl auth login' again moves the token into it" : undefined, data,
  };
}

function envSession2(env: Env): boolean {
  try { return envSession(env) !== null; } catch { return false; }
}

// ── Server ───────────────────────────────────────────────────────────────────────────────────

function targetHost(env: Env, flag: string | undefined, local: LocalState): HostRef | null {
  if (flag) return normalizeHost(flag, { insecure: true });
  try { const es = envSession(env); if (es) return es.hostRef; } catch { /* reported by env */ }
  const m = local.meta ?? {};
  if (m.current_host) return hostRefFromStored(m.current_host, m.scheme);
  if (m.last_host) return hostRefFromStored(m.last_host, m.scheme);
  return null;
}

export function skewCheck(serverDate: string | null, sentAt: number, receivedAt: number): Check {
  const title = "clock";
  const parsed = serverDate ? Date.parse(serverDate) : NaN;
  if (Number.isNaN(parsed)) return { id: "clock", title, status: "warn", message: "the server sent no usable Date header; clock skew unknown" };
  // The Date header has 1 s resolution: up to a second of difference is noise.
  const skewMs = Math.round((sentAt + receivedAt) / 2) - parsed;
  const abs = Math.max(0, Math.abs(skewMs) - 1000);
  const s = Math.round(skewMs / 1000);
  const human = Math.abs(s) >= 120 ? `${Math.round(Math.abs(s) / 60)} min` : `${Math.abs(s)} s`;
  const data = { skew_seconds: s };
  const dir = skewMs > 0 ? "ahead of" : "behind";
  if (abs <= 30_000) return { id: "clock", title, status: "pass", message: `in step with the server (${s === 0 ? "< 1 s" : `${human} ${dir}`})`, data };
  const status: Status = abs <= 10 * 60_000 ? "warn" : "fail";
  return {
    id: "clock", title, status, message: `this machine's clock is ${human} ${dir} the server's; certificate checks and expiry times go wrong`,
    hint: "turn on time sync (e.g. 'timedatectl set-ntp true') or fix the clock", data,
  };
}

async function checkServer(ctx: Pick<Ctx, "http">, ref: HostRef | null, signal: AbortSignal | undefined): Promise<Check[]> {
  if (!ref) {
    return [{ id: "server", title: "server", status: "warn", message: "no host to check (not logged in)", hint: "pass --host https://your-dify-host" }];
  }
  const http = ctx.http({ baseUrl: ref.baseUrl, timeoutMs: 5000, signal });
  const out: Check[] = [];
  const sent = Date.now();
  let res;
  try {
    res = await http.get<Record<string, unknown>>("/_health", { retry: false, acceptStatus: [400, 401, 403, 404, 405] });
  } catch (e) {
    const ce = e instanceof CliError ? e : new CliError("unknown", String(e));
    out.push({ id: "server", title: "server", status: "fail", message: `${ref.baseUrl}: ${ce.message}`, hint: ce.hint ?? "check the host URL and the network", data: { host: ref.host, error: ce.code } });
    return out;
  }
  const received = Date.now();
  const data = { host: ref.host, http_status: res.status, latency_ms: received - sent };
  if (res.status !== 200) {
    out.push({ id: "server", title: "server", status: "fail", message: `${ref.baseUrl} answers, but not as a Dify API (GET /openapi/v1/_health → HTTP ${res.status})`, hint: "use the API address of your Dify deployment for --host", data });
  } else {
    out.push({ id: "server", title: "server", status: ref.scheme === "http" ? "warn" : "pass", message: `${ref.baseUrl} is reachable (${received - sent} ms)${ref.scheme === "http" ? "; plain http: tokens travel unencrypted" : ""}`, hint: ref.scheme === "http" ? "use https:// outside local development" : undefined, data });
  }
  out.push(skewCheck(res.headers.get("date"), sent, received));
  try {
    const v = await http.get<Record<string, unknown>>("/_version", { retry: false, acceptStatus: [404] });
    if (v.status === 404) {
      out.push({ id: "server_version", title: "server version", status: "warn", message: "the server has no /_version (an older Dify); compatibility unknown", hint: "upgrade the Dify server" });
    } else {
      const version = typeof v.body?.version === "string" ? v.body.version : "";
      const edition = typeof v.body?.edition === "string" ? ` (${v.body.edition})` : "";
      const { inSupportedRange, describeRange } = await import("../http/compat.ts");
      const ok = version ? inSupportedRange(version) : null;
      const vdata = { version: version || null, edition: v.body?.edition ?? null, supported_range: describeRange() };
      if (ok === true) out.push({ id: "server_version", title: "server version", status: "pass", message: `Dify ${version}${edition}`, data: vdata });
      else if (ok === false) out.push({ id: "server_version", title: "server version", status: "fail", message: `Dify ${version}${edition} is outside the supported range ${describeRange()}`, hint: "upgrade the server or difyctl", data: vdata });
      else out.push({ id: "server_version", title: "server version", status: "warn", message: `unreadable version '${version.slice(0, 40)}'`, data: vdata });
    }
  } catch (e) {
    out.push({ id: "server_version", title: "server version", status: "warn", message: `GET /_version failed: ${(e as Error).message}` });
  }
  return out;
}

// ── Assembly and output ──────────────────────────────────────────────────────────────────────

export async function collectChecks(ctx: Pick<Ctx, "env" | "http"> & { signal?: AbortSignal }, o: { host?: string }): Promise<Check[]> {
  const env = ctx.env;
  const checks: Check[] = [checkEnv(env)];
  let dir: string | null = null;
  try { dir = configDir(env); } catch (e) {
    checks.push({ id: "config_dir", title: "config dir", status: "fail", message: (e as Error).message, hint: (e as CliError).hint });
  }
  const local: LocalState = dir ? readLocal(dir) : { meta: null, tokenIds: null };
  if (dir) checks.push(checkConfigDir(dir, env), ...checkFiles(dir));
  const { policy } = policyOf(env);
  const keychain = policy === "file" ? null : await probeKeychainReadOnly(env);
  checks.push(checkSession(env, local, keychain ? keychain.ok : null));
  const pending = dir ? checkPending(dir, Date.now()) : null;
  if (pending) checks.push(pending);
  checks.push(checkStorage(env, local, keychain), checkKeychain(env, local, keychain));
  const tmp = checkTempDir(env);
  if (tmp) checks.push(tmp);
  let ref: HostRef | null = null;
  try { ref = targetHost(env, o.host, local); } catch (e) {
    checks.push({ id: "server", title: "server", status: "fail", message: (e as Error).message, hint: (e as CliError).hint });
    return checks;
  }
  checks.push(...(await checkServer(ctx, ref, ctx.signal)));
  return checks;
}

export function summarize(checks: Check[]): { pass: number; warn: number; fail: number } {
  return {
    pass: checks.filter((c) => c.status === "pass").length,
    warn: checks.filter((c) => c.status === "warn").length,
    fail: checks.filter((c) => c.status === "fail").length,
  };
}

/** `paint` colours a status word on a terminal (padding is added before it, so columns line up). */
export function renderHuman(checks: Check[], paint: (status: Status, padded: string) => string = (_s, t) => t): string {
  const w = Math.max(...checks.map((c) => c.title.length));
  let out = "";
  for (const c of checks) {
    out += `${paint(c.status, c.status.padEnd(4))}  ${c.title.padEnd(w)}  ${c.message}\n`;
    if (c.hint && c.status !== "pass") out += `${" ".repeat(6 + w + 2)}fix: ${c.hint}\n`;
    else if (c.hint) out += `${" ".repeat(6 + w + 2)}note: ${c.hint}\n`;
  }
  const s = summarize(checks);
  out += `\n${s.pass} passed, ${s.warn} warning${s.warn === 1 ? "" : "s"}, ${s.fail} failed\n`;
  return out;
}

/** Server-supplied text ends up in messages: no control characters, nothing token-shaped. */
function clean(s: string): string {
  return sanitize(redact(s), { oneLine: true, replacement: "?" });
}

export async function runDoctor(ctx: Ctx, o: { host?: string }): Promise<number> {
  const checks = (await collectChecks({ env: ctx.env, http: (x) => ctx.http(x), signal: ctx.signal }, o))
    .map((c) => ({ ...c, message: clean(c.message), ...(c.hint ? { hint: clean(c.hint) } : {}) }));
  const s = summarize(checks);
  if (ctx.json) {
    await ctx.out(JSON.stringify({ ok: s.fail === 0, summary: s, checks: checks.map((c) => ({ id: c.id, title: c.title, status: c.status, message: c.message, hint: c.hint ?? null, ...(c.data ? { data: c.data } : {}) })) }) + "\n");
  } else {
    const style = styleFor(ctx, 1);
    await ctx.out(renderHuman(checks, (status, padded) => statusWord(style, status, padded)));
  }
  return s.fail === 0 ? 0 : 1;
}

// The doctor's view of where a token goes: the storage policy, the keychain and the temp dir the
// keychain library is unpacked into. The policy, the keychain, its failure classes and hints are
// the ones a sign-in uses (storagePolicy, decideStorage, defaultKeyring, failureHint), so doctor
// and login cannot disagree about them; doctor only adds which bus problem it is.
import { existsSync, readFileSync, realpathSync } from "node:fs";
import type { CliError } from "../cli/errors.ts";
import type { KeyringFailure } from "../storage/keychain-store.ts";
import { decideStorage, type StoragePolicy, storagePolicy } from "../storage/storage-policy.ts";
import { envSession } from "../auth/session.ts";
import type { Check, Env } from "./check.ts";
import type { LocalState } from "./local-checks.ts";

// ── Policy ───────────────────────────────────────────────────────────────────────────────────

export interface PolicyView {
  /** null: the variables are invalid and a sign-in would refuse them (`error` says why). */
  policy: StoragePolicy | null;
  /** What chose it, for messages. */
  by: string;
  error?: string;
}

/** The policy a sign-in without --no-keyring applies, from storagePolicy itself. */
export function policyOf(env: Env): PolicyView {
  let policy: StoragePolicy;
  try { policy = storagePolicy(env, false); } catch (e) {
    // Doctor output names variables, never their values.
    return { policy: null, by: "", error: (e as Error).message.replace(/ \(got '.*'\)$/s, "") };
  }
  const is = (k: string, v: string) => (env[k] ?? "").trim().toLowerCase() === v;
  const by = policy === "file" ? (is("DIFY_CREDENTIAL_STORAGE", "file") ? "DIFY_CREDENTIAL_STORAGE=file" : "DIFY_TOKEN_STORAGE=file")
    : policy === "keychain" ? "DIFY_TOKEN_STORAGE=keychain" : "default";
  return { policy, by };
}

// ── Keychain ─────────────────────────────────────────────────────────────────────────────────

export interface KeychainResult {
  ok: boolean;
  failure?: KeyringFailure;
  /** Which problem it is, as a stable code and in the words a user searches for. */
  cause?: { code: string; text: string };
  ms: number;
}

/** An entry that never exists: asking for it proves the store answers without writing or prompting. */
const DOCTOR_ACCOUNT = "difyctl-doctor:reachability";

/** Whether the session bus named by the address can be there (an abstract socket cannot be checked without connecting). */
async function busPresent(address: string | undefined): Promise<boolean> {
  const { busSocketPath } = await import("../storage/keychain-dbus.ts");
  const path = busSocketPath(address);
  if (path === null) return false;
  return path.startsWith("\0") || existsSync(path);
}

/**
 * The failure class comes from the keychain layer's own classifier; for the classes a missing bus
 * produces, doctor says whether the bus itself is missing (or gone) or only the Secret Service.
 */
async function causeOf(f: KeyringFailure, env: Env): Promise<{ code: string; text: string }> {
  const busLike = f.kind === "absent" || f.kind === "error" || f.kind === "timeout";
  if (process.platform === "linux" && busLike && !(await busPresent(env.DBUS_SESSION_BUS_ADDRESS))) return { code: "no_dbus", text: "no D-Bus session bus" };
  switch (f.kind) {
    case "absent": return process.platform === "linux"
      ? { code: "no_secret_service", text: "no Secret Service (gnome-keyring, KWallet, KeePassXC) on the session bus" }
      : { code: "absent", text: "no OS keychain" };
    case "locked": return { code: "locked", text: "the keychain is locked or refused access" };
    case "timeout": return { code: "timeout", text: "the keychain did not answer in time" };
    case "load": return { code: "load", text: "the keychain library could not load (noexec temp dir?)" };
    default: return { code: "error", text: "the keychain reported an error" };
  }
}

/** One read through the keychain every command uses (defaultKeyring), bounded as it bounds reads. */
export async function probeKeychainReadOnly(env: Env): Promise<KeychainResult> {
  const t0 = Date.now();
  const { defaultKeyring, KeyringFailure, shortReason } = await import("../storage/keychain-store.ts");
  try {
    await defaultKeyring().get(DOCTOR_ACCOUNT);
    return { ok: true, ms: Date.now() - t0 };
  } catch (e) {
    const failure = e instanceof KeyringFailure ? e : new KeyringFailure("error", shortReason(String((e as Error)?.message ?? e)));
    return { ok: false, failure, cause: await causeOf(failure, env), ms: Date.now() - t0 };
  }
}

async function keychainHint(f: KeyringFailure, code: string, env: Env): Promise<string> {
  if (code === "no_dbus") {
    return env.DBUS_SESSION_BUS_ADDRESS
      ? "DBUS_SESSION_BUS_ADDRESS points at a bus that is gone: unset it or start a session bus; or use DIFY_TOKEN_STORAGE=file"
      : "normal on servers and containers (tokens go to tokens.yml); for a keychain, run in a desktop session or under dbus-run-session with gnome-keyring";
  }
  if (code === "no_secret_service") return "install and start a Secret Service (e.g. gnome-keyring), or keep the file store";
  const { failureHint } = await import("../storage/keychain-store.ts");
  return failureHint(f, "or use DIFY_TOKEN_STORAGE=file to avoid the keychain");
}

export async function checkKeychain(env: Env, local: LocalState, k: KeychainResult | null): Promise<Check> {
  const title = "keychain";
  const { policy, by } = policyOf(env);
  if (!k) return { id: "keychain", title, status: "pass", message: `not used (${by})`, data: { probed: false } };
  const data = { probed: true, reachable: k.ok, why: k.cause?.code ?? null, latency_ms: k.ms };
  if (k.ok) return { id: "keychain", title, status: "pass", message: `reachable (${k.ms} ms)`, data };
  const needed = policy === "keychain" || local.meta?.token_storage === "keychain";
  return {
    id: "keychain", title, status: needed ? "fail" : "warn",
    message: `unavailable: ${k.cause!.text} (${k.failure!.reason})${needed ? "" : "; tokens go to tokens.yml"}`,
    hint: await keychainHint(k.failure!, k.cause!.code, env), data,
  };
}

function fromEnv(env: Env): boolean {
  try { return envSession(env) !== null; } catch { return false; }
}

/** Where the token is, or where the next sign-in will put it: decided by the sign-in's own rule. */
export function checkStorage(env: Env, local: LocalState, k: KeychainResult | null, tokensPath: string): Check {
  const title = "token storage";
  const { policy, by, error } = policyOf(env);
  const recorded = local.meta?.token_storage;
  const now = k ? (k.ok ? "the keychain is reachable now" : `now: ${k.cause!.text}`) : "";
  const data = { policy, chosen_by: by, backend: recorded ?? null };
  if (fromEnv(env)) return { id: "storage", title, status: "pass", message: "none: the token comes from DIFY_TOKEN", data: { ...data, backend: "env" } };
  if (policy === null) return { id: "storage", title, status: "fail", message: `the next login is refused: ${error}`, hint: "see environment", data };
  if (!recorded) {
    if (policy === "file" || !k) return { id: "storage", title, status: "pass", message: `no session yet; the next login stores the token in tokens.yml (${by})`, data };
    let next: string;
    try {
      const choice = decideStorage(policy, k.ok ? { ok: true } : { ok: false, failure: k.failure! }, tokensPath);
      next = choice.kind === "keychain" ? `the OS keychain${policy === "keychain" ? ` (${by})` : ""}` : `tokens.yml (${now || "keychain unavailable"})`;
    } catch (e) {
      return { id: "storage", title, status: "fail", message: `no session yet; the next login is refused: ${(e as Error).message}`, hint: (e as CliError).hint, data };
    }
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

// ── Temp dir ─────────────────────────────────────────────────────────────────────────────────

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

export function checkTempDir(env: Env): Check | null {
  if (process.platform !== "linux") return null;
  const dir = env.TMPDIR || "/tmp";
  let real = dir;
  try { real = realpathSync(dir); } catch {
    return { id: "temp_dir", title: "temp dir", status: "warn", message: `TMPDIR ${dir} does not exist: the keychain library cannot be unpacked`, hint: "set TMPDIR to an existing directory", data: { path: dir } };
  }
  let info = "";
  try { info = readFileSync("/proc/self/mountinfo", "utf8"); } catch { return null; }
  const noexec = noexecMount(real, info);
  if (noexec) {
    return {
      id: "temp_dir", title: "temp dir", status: "warn", message: `${dir} is mounted noexec: the keychain library (unpacked there at run time) cannot load, so tokens go to tokens.yml`,
      hint: "set TMPDIR to a directory that allows executables, e.g. TMPDIR=$HOME/.cache", data: { path: dir, noexec: true },
    };
  }
  return { id: "temp_dir", title: "temp dir", status: "pass", message: `${dir} allows executables (the keychain library can load)`, data: { path: dir, noexec: false } };
}

// Two-step sign-in for agents and scripts: `auth login --no-wait` starts the device flow, saves
// the pending state and exits; `auth login --resume` polls once and either finishes the login or
// reports that it is still pending (exit 8). The state lives in <config dir>/login-pending.yml,
// 0600, written atomically: it holds the device code, which is a short-lived credential of its own
// (whoever polls with it after approval gets the token), so it is never printed.
import { readFileIfExists, removeFile, writeFileAtomic } from "../storage/atomic-file.ts";
import { type ConfigStore, PENDING_FILE } from "../storage/config-store.ts";
import type { Ctx } from "../cli/context.ts";
import { completeUrl, pollDeviceToken } from "./device-api.ts";
import { type Clock, deviceExpiresIn, deviceInterval, deviceStep, pollMarginMs } from "./device-poller.ts";
import { CliError } from "../cli/errors.ts";
import type { TokenStorage } from "../storage/hosts-file.ts";
import { hostRefFromStored, type HostRef, normalizeHost, validateVerificationUri } from "../http/host-url.ts";
import { markers } from "./login-present.ts";
import { refuseWhileEnvSession, storedSession } from "./session.ts";
import { finishLogin, loggedInResult, type LoginOptions, realClock } from "./sign-in.ts";
import { claimSignIn } from "./login-lock.ts";
import { keepOutOfCoreDumps } from "./no-dump.ts";
import { line } from "../ui/sanitize.ts";

// Named by the config store, which keeps every credential file 0600.
export { PENDING_FILE };
/** `auth login --resume`: the sign-in is not approved yet; run it again. Not an error code. */
export const EXIT_PENDING = 8;
export const RESUME_COMMAND = "difyctl auth login --resume";

export interface PendingLogin {
  host: string;
  scheme: "http" | "https";
  insecure: boolean;
  storage: TokenStorage;
  device_code: string;
  user_code: string;
  verification_uri: string;
  /** Seconds between polls; grows on slow_down. */
  interval: number;
  created_at: string;
  /** The device code's deadline (local clock, from expires_in). */
  expires_at: string;
  /** Earliest time the next poll may start: last contact + interval + margin. */
  next_poll_at: string;
}

export function pendingPath(config: ConfigStore): string {
  return config.path(PENDING_FILE);
}

const isIso = (v: unknown): v is string => typeof v === "string" && !Number.isNaN(Date.parse(v));

/** The parsed file, or null when it is absent or not a valid pending login (which is then ignored). */
export function parsePending(text: string): PendingLogin | null {
  let raw: unknown;
  try { raw = Bun.YAML.parse(text); } catch { return null; }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const s = (k: string) => (typeof r[k] === "string" && (r[k] as string).length > 0 ? (r[k] as string) : null);
  if (r.version !== 1 || !s("host") || !s("device_code") || !s("user_code") || !s("verification_uri")) return null;
  if (r.scheme !== "http" && r.scheme !== "https") return null;
  if (r.storage !== "keychain" && r.storage !== "file") return null;
  if (typeof r.interval !== "number" || !(r.interval > 0) || !isIso(r.created_at) || !isIso(r.expires_at) || !isIso(r.next_poll_at)) return null;
  return {
    host: s("host")!, scheme: r.scheme, insecure: r.insecure === true, storage: r.storage, device_code: s("device_code")!,
    user_code: s("user_code")!, verification_uri: s("verification_uri")!, interval: r.interval,
    created_at: r.created_at, expires_at: r.expires_at, next_poll_at: r.next_poll_at,
  };
}

export function readPending(config: ConfigStore): PendingLogin | null {
  const f = readFileIfExists(pendingPath(config), 64 * 1024);
  return f ? parsePending(f.text) : null;
}

export async function writePending(config: ConfigStore, p: PendingLogin): Promise<void> {
  const text = "# difyctl: a sign-in started with 'auth login --no-wait'. Holds a one-time device code; keep it 0600.\n"
    + Bun.YAML.stringify({ version: 1, ...p }, null, 2) + "\n";
  await config.withLock(() => writeFileAtomic(pendingPath(config), text));
}

/** Best effort: a read-only or missing config dir has nothing to clear. */
export function clearPending(config: ConfigStore): boolean {
  try {
    if (!readFileIfExists(pendingPath(config), 64 * 1024)) return false;
    removeFile(pendingPath(config));
    return true;
  } catch {
    return false;
  }
}

/** The `status: pending` result of --no-wait and of a --resume that is still waiting. */
export function pendingStatus(p: PendingLogin, now: number): Record<string, unknown> {
  return {
    status: "pending",
    host: p.host,
    verification_uri: p.verification_uri,
    verification_uri_complete: completeUrl(p.verification_uri, p.user_code),
    user_code: p.user_code,
    expires_in: Math.max(0, Math.floor((Date.parse(p.expires_at) - now) / 1000)),
    expires_at: p.expires_at,
    interval: p.interval,
    next: RESUME_COMMAND,
  };
}

async function printPending(ctx: Ctx, p: PendingLogin, now: number, first: boolean): Promise<void> {
  if (ctx.json) {
    await ctx.out(JSON.stringify(pendingStatus(p, now)) + "\n");
    return;
  }
  const left = Math.max(0, Math.ceil((Date.parse(p.expires_at) - now) / 60_000));
  if (!first) {
    // The markers again (off a terminal): an agent that lost the first output can still relay the code.
    const again = ctx.isTTY(2) ? "" : markers({ completeUrl: completeUrl(p.verification_uri, p.user_code), userCode: p.user_code });
    await ctx.err(`! Still waiting for approval of code ${p.user_code} (expires in ${left} minute${left === 1 ? "" : "s"}).\n` + again);
  }
  await ctx.out(`Sign-in pending. After approving, run: ${RESUME_COMMAND}\n`);
}

/**
 * --no-wait: records the started flow, then shows the code (`present`) and the pending status
 * (exit 0). Writing comes first so that a config dir that cannot be written fails before a code
 * is shown that could never be resumed.
 */
export async function savePending(ctx: Ctx, s: {
  ref: HostRef; insecure: boolean; storage: TokenStorage; deviceCode: string; userCode: string;
  verificationUri: string; interval: number; expiresIn: number; startedAt: number;
}, present: () => Promise<void>, clock: Clock = realClock): Promise<void> {
  const interval = deviceInterval(s.interval);
  const p: PendingLogin = {
    host: s.ref.host, scheme: s.ref.scheme, insecure: s.insecure, storage: s.storage, device_code: s.deviceCode,
    user_code: s.userCode, verification_uri: s.verificationUri, interval,
    created_at: new Date(s.startedAt).toISOString(),
    expires_at: new Date(s.startedAt + deviceExpiresIn(s.expiresIn) * 1000).toISOString(),
    // The code request counts as the previous contact, as in the blocking poller.
    next_poll_at: new Date(s.startedAt + interval * 1000 + pollMarginMs(interval)).toISOString(),
  };
  await writePending(ctx.config, p);
  await present();
  await printPending(ctx, p, clock.now(), true);
}

function expired(config: ConfigStore): CliError {
  clearPending(config);
  return new CliError("expired_token", "code expired before authorization; run 'difyctl auth login' to try again");
}

/**
 * --resume: waits until the next allowed poll time (never polls early, so the server has no
 * reason to answer slow_down), takes the device-flow step once, and finishes the login or reports
 * it still pending. Expired or denied codes remove the pending state; a network or server failure
 * keeps it.
 */
export async function resumeLogin(ctx: Ctx, opts: LoginOptions, clock: Clock = realClock): Promise<number> {
  refuseWhileEnvSession(ctx.env, "log in");
  const config = ctx.config;
  const p = readPending(config);
  if (!p) return noPending(ctx);
  const ref = hostRefFromStored(p.host, p.scheme);
  if (opts.host !== undefined && normalizeHost(opts.host, { insecure: true }).host !== ref.host) {
    throw new CliError("usage_invalid_flag", `the pending sign-in is for ${ref.host}, not ${opts.host}`, {
      hint: `run '${RESUME_COMMAND}' without --host, or start over with 'difyctl auth login --host ${opts.host}'`,
    });
  }
  const release = await claimSignIn(ctx, ref.host, clock);
  try {
    return await resumeOnce(ctx, p, ref, clock);
  } finally {
    release();
  }
}

async function resumeOnce(ctx: Ctx, p: PendingLogin, ref: HostRef, clock: Clock): Promise<number> {
  const config = ctx.config;
  await keepOutOfCoreDumps(ctx);
  const signal = ctx.signal;
  const deadline = Date.parse(p.expires_at);
  const wait = Math.min(Date.parse(p.next_poll_at), deadline) - clock.now();
  if (wait > 0) {
    ctx.debug(`debug: waiting ${wait} ms for the next allowed poll`);
    await clock.sleep(wait, signal);
  }
  if (clock.now() >= deadline) throw expired(config);
  // The URI was checked when it was saved; checking again guards against an edited file.
  validateVerificationUri(p.verification_uri, p.insecure);

  const http = ctx.http({ baseUrl: ref.baseUrl, signal });
  const started = clock.now();
  // Best effort: a config dir that turned read-only only loses the saved poll time.
  const later = async (interval: number) => {
    try {
      await writePending(config, { ...p, interval, next_poll_at: new Date(started + interval * 1000 + pollMarginMs(interval)).toISOString() });
    } catch (e) {
      ctx.debug(`debug: could not update ${PENDING_FILE}: ${(e as Error).message}`);
    }
  };
  let step;
  try {
    step = await deviceStep(() => pollDeviceToken(http, p.device_code, signal), p.interval);
  } catch (e) {
    if (e instanceof CliError && (e.code === "expired_token" || e.code === "access_denied")) clearPending(config);
    // Anything else keeps the code: the next resume tries again, no earlier than allowed.
    else if (e instanceof CliError && e.code !== "cancelled") await later(p.interval);
    throw e;
  }
  if (step.kind === "waiting") {
    if (step.slowDown) ctx.debug(`debug: slow_down, polling every ${step.interval}s`);
    await later(step.interval);
    await printPending(ctx, { ...p, interval: step.interval }, clock.now(), false);
    return EXIT_PENDING;
  }
  try {
    // The device code is spent from here on, whatever happens while storing the session.
    await finishLogin(ctx, { payload: step.payload, ref, storage: { kind: p.storage, notices: [] }, old: config.readHosts(), events: null });
  } finally {
    clearPending(config);
  }
  return 0;
}

/** --resume with nothing pending: report an existing session (so a retried resume is harmless). */
async function noPending(ctx: Ctx): Promise<number> {
  const s = await storedSession(ctx.config);
  if (!s) {
    throw new CliError("not_logged_in", "no sign-in is pending", { hint: "start one with 'difyctl auth login --no-wait'" });
  }
  const m = s.meta;
  if (ctx.json) {
    await ctx.out(JSON.stringify(loggedInResult(s.hostRef.host, m, m.token_storage)) + "\n");
  } else {
    const who = m.subject_type === "external_sso" ? m.external_sso?.email : m.account?.email;
    await ctx.out(line`Already logged in to ${s.hostRef.host} as ${who}; no sign-in is pending.` + "\n");
  }
  return 0;
}

// The blocking `auth login` (and the start of `--no-wait`): pick the host, claim the config dir,
// ask for a device code, show it, wait for approval, store the session (sign-in.ts).
import { hostname } from "node:os";
import { decideBrowser } from "../ui/browser.ts";
import type { Ctx } from "../cli/context.ts";
import { completeUrl, pollDeviceToken, requestDeviceCode } from "./device-api.ts";
import { awaitAuthorization, type Clock, type PollerEvent } from "./device-poller.ts";
import { CliError } from "../cli/errors.ts";
import { type HostsFile, hasSession } from "../storage/hosts-file.ts";
import { DEFAULT_HOST_SUGGESTION, type HostRef, hostRefFromStored, normalizeHost, validateVerificationUri } from "../http/host-url.ts";
import { refuseWhileEnvSession } from "./session.ts";
import { chooseStorage } from "../storage/storage-choice.ts";
import { line } from "../ui/sanitize.ts";
import { finishLogin, type LoginOptions, realClock, whoIsSignedIn } from "./sign-in.ts";
import { claimSignIn } from "./login-lock.ts";
import { keepOutOfCoreDumps } from "./no-dump.ts";

export type { LoginOptions } from "./sign-in.ts";

export function deviceLabel(): string {
  let h = "";
  try { h = hostname(); } catch { /* fall through */ }
  h = h.replace(/[^\x21-\x7e]/g, "").slice(0, 64);
  return `difyctl on ${h || "unknown-host"}`;
}

/** How many times the host prompt asks before giving up on input it cannot use. */
const HOST_PROMPT_TRIES = 3;

async function resolveHost(ctx: Ctx, opts: LoginOptions, old: HostsFile): Promise<HostRef> {
  if (opts.host !== undefined) return normalizeHost(opts.host, { insecure: opts.insecure });
  if (!ctx.isTTY(0) || !ctx.isTTY(2)) {
    throw new CliError("usage_missing_arg", "--host is required when not running in a terminal", { hint: "difyctl auth login --host https://your-dify-host" });
  }
  const prev = old.current_host ?? old.last_host;
  const suggestion = prev ? hostRefFromStored(prev, old.scheme).baseUrl : DEFAULT_HOST_SUGGESTION;
  const { readLine } = await import("../ui/tty-ui.ts");
  for (let attempt = 1; ; attempt++) {
    await ctx.err(line`? Dify host (${suggestion}): `);
    const typed = await readLine();
    if (typed === null) throw new CliError("cancelled", "login cancelled");
    const answer = typed.trim();
    try {
      // Enter takes the offered host as it was remembered, plain http included (a loopback dev server).
      return normalizeHost(answer || suggestion, { insecure: opts.insecure || (answer === "" && old.scheme === "http") });
    } catch (e) {
      if (!(e instanceof CliError) || attempt >= HOST_PROMPT_TRIES) throw e;
      await ctx.err(line`${e.message}${e.hint ? ` (${e.hint})` : ""}; try again` + "\n");
    }
  }
}

/**
 * Runs a sign-in. Returns the exit status: 0, or 130 when Ctrl-C ended the wait on a terminal
 * (the spinner says "cancelled"; no error follows it). Every failure throws.
 */
export async function login(ctx: Ctx, opts: LoginOptions, clock: Clock = realClock): Promise<number> {
  refuseWhileEnvSession(ctx.env, "log in");
  const config = ctx.config;
  // A corrupt hosts.yml stops here, before anything is written (it is never overwritten).
  const old = config.readHosts();
  config.readTokens();
  // A config dir that cannot take the session fails now, not after the user approved in the browser.
  config.checkWritable();
  const ref = await resolveHost(ctx, opts, old);
  // A plain-http host was accepted (--insecure, or Enter on a remembered http host): its device
  // page is plain http too.
  const insecure = opts.insecure || ref.scheme === "http";
  if (ref.scheme === "http") {
    await ctx.err("warning: --insecure: the device code and user code travel in plain text; anyone on the network path can intercept them, poll the token endpoint and race your approval. Use only for local development.\n");
  }
  if (hasSession(old)) {
    const who = whoIsSignedIn(old);
    await ctx.err(old.current_host !== ref.host
      ? line`note: switching from ${old.current_host} to ${ref.host}; previous session will be cleared (signed in there as ${who})` + "\n"
      : line`note: signed in to ${ref.host} as ${who}; this sign-in replaces that session once approved` + "\n");
  }
  const release = await claimSignIn(ctx, ref.host, clock);
  try {
    return await signIn(ctx, opts, { ref, insecure, old }, clock);
  } finally {
    release();
  }
}

async function signIn(ctx: Ctx, opts: LoginOptions, h: { ref: HostRef; insecure: boolean; old: HostsFile }, clock: Clock): Promise<number> {
  const { ref, insecure, old } = h;
  const config = ctx.config;
  const storage = await chooseStorage(ctx, config, ref.host, opts.noKeyring);
  // From here the process holds a device code, then a token: keep them out of core dumps.
  await keepOutOfCoreDumps(ctx);
  const signal = ctx.signal;
  const http = ctx.http({ baseUrl: ref.baseUrl, signal });
  const code = await requestDeviceCode(http, deviceLabel(), signal);
  const verification = validateVerificationUri(code.verification_uri, insecure);
  const openUrl = completeUrl(verification, code.user_code);

  const stdoutTTY = ctx.isTTY(1);
  const stderrTTY = ctx.isTTY(2);
  const decision = decideBrowser({ noBrowser: opts.noBrowser, env: ctx.env, platform: process.platform, stdoutTTY, stderrTTY });
  const shortUrl = `${verification.host}${verification.pathname}`;
  const startedAt = clock.now();
  const deadline = startedAt + code.expires_in * 1000;
  const { clearPending, savePending } = await import("./login-pending.ts");
  // A new flow supersedes any pending one: its device code is abandoned.
  if (!opts.noWait) clearPending(config);
  const events = opts.events ?? null;
  events?.emit("code", {
    verification_uri: verification.toString(), verification_uri_complete: openUrl, user_code: code.user_code,
    expires_in: code.expires_in, expires_at: new Date(deadline).toISOString(), interval: code.interval,
  });
  const { presentCode, startKeyOffers } = await import("./login-present.ts");
  const present = async () => {
    // The page can legitimately live elsewhere (a console on its own domain), but a person
    // approving there should know it is not the host they asked for.
    const asked = new URL(ref.baseUrl).host;
    if (verification.host !== asked) {
      await ctx.err(line`note: the sign-in page is on ${verification.host}, not on ${asked} (the host you are signing in to); approve only if you expect that` + "\n");
    }
    await presentCode(ctx, { verification, completeUrl: openUrl, userCode: code.user_code, expiresIn: code.expires_in, decision }, { noQr: opts.noQr, stderrTTY });
  };
  if (opts.noWait) {
    await savePending(ctx, {
      ref, insecure, storage: storage.kind, deviceCode: code.device_code, userCode: code.user_code,
      verificationUri: verification.toString(), interval: code.interval, expiresIn: code.expires_in, startedAt,
    }, async () => {
      await present();
      for (const n of storage.notices) await ctx.err(n + "\n");
    }, clock);
    return 0;
  }
  await present();
  let spinner: import("../ui/tty-ui.ts").Spinner | null = null;
  const stopKeys = await startKeyOffers(ctx, {
    userCode: code.user_code, openUrl: decision.open ? openUrl : null, shortUrl, stdinTTY: ctx.isTTY(0), stderrTTY, signal,
  });
  if (stderrTTY) {
    const { Spinner, formatRemaining } = await import("../ui/tty-ui.ts");
    spinner = new Spinner((s) => void ctx.err(s), () => `Waiting for authorization... (${formatRemaining(deadline - clock.now())} left)`);
    spinner.start();
  } else {
    await ctx.err("Waiting for authorization...\n");
  }
  let payload: Record<string, unknown>;
  try {
    payload = await awaitAuthorization({
      interval: code.interval, expiresIn: code.expires_in, clock, signal,
      poll: (s) => pollDeviceToken(http, code.device_code, s),
      onEvent: (e: PollerEvent) => {
        if (e.type === "slow_down") ctx.debug(`debug: slow_down, polling every ${e.interval}s`);
        events?.poller(e);
      },
    });
  } catch (e) {
    const cancelled = e instanceof CliError && e.code === "cancelled";
    spinner?.stop(`Waiting for authorization... ${cancelled ? "cancelled" : "failed"}`);
    // On a terminal the spinner line already says so; an agent (--json) still gets the error.
    if (cancelled && spinner && !ctx.json) return 130;
    throw e;
  } finally {
    stopKeys();
  }
  spinner?.stop("Waiting for authorization... done");
  await finishLogin(ctx, { payload, ref, storage, old, events });
  return 0;
}

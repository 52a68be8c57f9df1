import { hostname } from "node:os";
import { decideBrowser } from "../ui/browser.ts";
import type { Ctx } from "../cli/context.ts";
import { pollDeviceToken, requestDeviceCode } from "./device-api.ts";
import { awaitAuthorization, type Clock, type PollerEvent } from "./device-poller.ts";
import { CliError } from "../cli/errors.ts";
import { type HostsFile, hasSession, type TokenStorage, type Workspace } from "../storage/hosts-file.ts";
import type { LoginEvents } from "./login-events.ts";
import type { StorageChoice } from "../storage/storage-policy.ts";
import { DEFAULT_HOST_SUGGESTION, type HostRef, hostRefFromStored, normalizeHost, validateVerificationUri } from "../http/host-url.ts";
import { defaultSleep } from "../http/http-client.ts";
import { commitSession, ENV_HATCH_VARS, envHatchActive, openTokenStore, subjectForToken, invalidPrefix } from "./session.ts";
import { chooseStorage } from "../storage/storage-choice.ts";
import { TOKENS_FILE } from "../storage/config-store.ts";
import { fileExists } from "../storage/atomic-file.ts";
import { line } from "../ui/sanitize.ts";

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

export const realClock: Clock = { now: () => Date.now(), sleep: (ms, signal) => defaultSleep(ms, signal) };

export function deviceLabel(): string {
  let h = "";
  try { h = hostname(); } catch { /* fall through */ }
  h = h.replace(/[^\x21-\x7e]/g, "").slice(0, 64);
  return `difyctl on ${h || "unknown-host"}`;
}

const str = (v: unknown) => (typeof v === "string" ? v : "");

/** Turns the poll payload (contract §2.2) into hosts.yml metadata; refuses anything unusable. */
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

async function resolveHost(ctx: Ctx, opts: LoginOptions, old: HostsFile): Promise<HostRef> {
  if (opts.host !== undefined) return normalizeHost(opts.host, { insecure: opts.insecure });
  if (!ctx.isTTY(0) || !ctx.isTTY(2)) {
    throw new CliError("usage_missing_arg", "--host is required when not running in a terminal", { hint: "difyctl auth login --host https://your-dify-host" });
  }
  const prev = old.current_host ?? old.last_host;
  const suggestion = prev ? hostRefFromStored(prev, old.scheme).baseUrl : DEFAULT_HOST_SUGGESTION;
  await ctx.err(`? Dify host (${suggestion}): `);
  const { readLine } = await import("../ui/tty-ui.ts");
  const line = await readLine();
  if (line === null) throw new CliError("cancelled", "login cancelled");
  return normalizeHost(line.trim() || suggestion, { insecure: opts.insecure || (line.trim() === "" && old.scheme === "http") });
}

export async function login(ctx: Ctx, opts: LoginOptions, clock: Clock = realClock): Promise<void> {
  if (envHatchActive(ctx.env)) {
    throw new CliError("usage_invalid_flag", "cannot log in while the session comes from the environment", {
      hint: `unset ${ENV_HATCH_VARS.filter((k) => ctx.env[k]).join(", ")} first`,
    });
  }
  const config = ctx.config;
  // A corrupt hosts.yml stops here, before anything is written (it is never overwritten).
  const old = config.readHosts();
  config.readTokens();
  // A config dir that cannot take the session fails now, not after the user approved in the browser.
  config.checkWritable();
  const ref = await resolveHost(ctx, opts, old);
  if (ref.scheme === "http") {
    await ctx.err("warning: --insecure: the device code and user code travel in plain text; anyone on the network path can intercept them, poll the token endpoint and race your approval. Use only for local development.\n");
  }
  const hadSession = hasSession(old);
  if (hadSession && old.current_host !== ref.host) {
    await ctx.err(line`note: switching from ${old.current_host} to ${ref.host}; previous session will be cleared` + "\n");
  }
  const storage = await chooseStorage(ctx, config, ref.host, opts.noKeyring);
  const signal = ctx.signal;
  const http = ctx.http({ baseUrl: ref.baseUrl, signal });
  const code = await requestDeviceCode(http, deviceLabel(), signal);
  const verification = validateVerificationUri(code.verification_uri, opts.insecure);
  const openUrl = new URL(verification.toString());
  openUrl.searchParams.set("user_code", code.user_code);

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
    verification_uri: verification.toString(), verification_uri_complete: openUrl.toString(), user_code: code.user_code,
    expires_in: code.expires_in, expires_at: new Date(deadline).toISOString(), interval: code.interval,
  });
  const { presentCode, startKeyOffers } = await import("./login-present.ts");
  const present = () => presentCode(ctx, { verification, completeUrl: openUrl.toString(), userCode: code.user_code, expiresIn: code.expires_in, decision }, { noQr: opts.noQr, stderrTTY });
  if (opts.noWait) {
    await savePending(ctx, {
      ref, insecure: opts.insecure, storage: storage.kind, deviceCode: code.device_code, userCode: code.user_code,
      verificationUri: verification.toString(), interval: code.interval, expiresIn: code.expires_in, startedAt: Date.now(),
    }, async () => {
      await present();
      for (const n of storage.notices) await ctx.err(n + "\n");
    });
    return;
  }
  await present();
  let spinner: import("../ui/tty-ui.ts").Spinner | null = null;
  const stopKeys = await startKeyOffers(ctx, {
    userCode: code.user_code, openUrl: decision.open ? openUrl.toString() : null, shortUrl, stdinTTY: ctx.isTTY(0), stderrTTY, signal,
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
    spinner?.stop("Waiting for authorization... failed");
    throw e;
  } finally {
    stopKeys();
  }
  spinner?.stop("Waiting for authorization... done");
  await finishLogin(ctx, { payload, ref, storage, old, events });
}

export interface FinishInput {
  payload: Record<string, unknown>;
  ref: HostRef;
  storage: StorageChoice;
  /** hosts.yml as it was before this sign-in. */
  old: HostsFile;
  events: LoginEvents | null;
}

/** Approved: store the session and report it. Shared by the blocking login and --resume. */
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
  await commitSession(config, meta, { bearer: token, source: "oauth", token_id: tokenId, expires_at: meta.token_expires_at ?? null }, store);
  events?.emit("stored", { backend: storage.kind, ...(storage.kind === "file" ? { path: config.path(TOKENS_FILE) } : {}) });
  if (sameHostOtherAccount) {
    if (oldBearer) {
      const oldHttp = ctx.http({ baseUrl: ref.baseUrl, bearer: oldBearer, timeoutMs: 3000 });
      await oldHttp.delete("/account/sessions/self", { retry: false }).catch(() => {});
    }
    await ctx.err("note: previous account signed out\n");
  }
  for (const n of storage.notices) await ctx.err(n + "\n");
  if (firstFileWrite) {
    await ctx.err(`note: the token is stored in plain text in ${config.path(TOKENS_FILE)} (mode 0600): as safe as an SSH key on this disk. Backups and anyone who can read your files can use it.\n`);
  }
  if (ctx.json) {
    await ctx.out(JSON.stringify({
      status: "logged_in", host: ref.host, subject_type: meta.subject_type,
      account: meta.account ?? null, workspace: meta.workspace ?? null, external_sso: meta.external_sso ?? null, storage: storage.kind,
    }) + "\n");
    return;
  }
  if (meta.subject_type === "external_sso") {
    await ctx.out(line`Logged in as ${meta.external_sso!.email} (external SSO, issuer: ${meta.external_sso!.issuer})` + "\n");
  } else {
    await ctx.out((meta.account!.name ? line`Logged in as ${meta.account!.email} (${meta.account!.name})` : line`Logged in as ${meta.account!.email}`) + "\n");
    if (meta.workspace) await ctx.out(line`Workspace: ${meta.workspace.name}` + "\n");
  }
}

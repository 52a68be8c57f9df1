// A faithful fake of the Dify `/openapi/v1` surface used by difyctl, following the "June"
// snapshot of the real Dify server's wire behaviour. Bun built-ins only.

import type { Server } from "bun";
import { devicePage, resultPage } from "./device-page";
import { FaultQueue, ruleFromJson, type FaultRespond } from "./faults";
import {
  APP_MODES,
  appParameters,
  createFixtures,
  inputSchema,
  type Account,
  type App,
  type AppMode,
  type Fixtures,
  type SsoSubject,
  type Workspace,
} from "./fixtures";
import {
  ANTI_FRAMING,
  NOT_FOUND_MESSAGE,
  TOO_MANY_REQUESTS_MESSAGE,
  clientIp,
  dropResponse,
  errorBody,
  flaskJson,
  flaskLoginUnauthorized,
  forbidExtra,
  json,
  parseCookies,
  parseQueryInt,
  pydanticMessage,
  requireStrings,
  rfcError,
  validationFailed,
  withHeaders,
  type ValidationDetail,
} from "./http";
import { framesResponse, rawChunksResponse, runFrames } from "./sse";
import { FileStore, readMultipart, type PartSummary, type ResolvedFile, type UploadLimitsMb } from "./files";
import { TaskHub } from "./tasks";
import { UPLOAD_LIMITS_MB, type FileConfig } from "./fixtures";
import { DeviceStore, TokenStore, type DeviceState, type Subject, type TokenRow } from "./store";
import { Clock, SlidingWindowLimiter, isUuid, newUserCode, newUuid, pyIso, sha256Hex, sleep, tokenUrlsafe } from "./util";

export { FaultQueue } from "./faults";
export type { FaultRule, FaultRespond, FaultMatch } from "./faults";
export { IDS, EMAILS, SSO_ISSUER, createFixtures } from "./fixtures";
export type { Account, App, AppMode, Fixtures, SsoSubject, Workspace, Membership, InputField } from "./fixtures";
export type { TokenRow } from "./store";
export { answerFor, summarize, THINK } from "./sse";
export type { FileStore, UploadedFile } from "./files";
export type { TaskHub, Form, WorkflowRun } from "./tasks";

export interface FakeServerOptions {
  /** 0 = random (default) */
  port?: number;
  /** bind address, default 127.0.0.1 */
  hostname?: string;
  /** seconds returned by /code (default 5; fractional allowed for tests) */
  interval?: number;
  /** slow_down if two polls of one device_code arrive closer than this (default 5000) */
  slowDownWindowMs?: number;
  /** device code TTL in seconds (default 900) */
  expiresIn?: number;
  /** token lifetime in days (default 14) */
  tokenTtlDays?: number;
  /** default: the server's own origin; verification_uri = `${base}/device` */
  verificationBase?: string;
  /** approve automatically on the Nth poll of a code (before evaluating it) or afterMs since /code */
  autoApprove?: { afterPolls?: number; afterMs?: number; as?: string } | null;
  /** deny automatically on the Nth poll of a code (before evaluating it) */
  autoDeny?: { afterPolls?: number } | null;
  /** june: rotation revokes the old row and inserts a new id (default); v1.0: same id */
  rotation?: "june" | "v1.0";
  /** per-token bearer limit per minute, default 60, 0 disables */
  rateLimitPerToken?: number;
  /** body of the per-token 429: june ErrorBody (default) or v1.0 {"error":"rate_limited","retry_after_ms"} */
  rateLimitBody?: "june" | "v1.0";
  /** the extra GET /account limit per account per minute, default 60, 0 disables */
  accountRateLimitPerMinute?: number;
  /** /oauth/device/code limit per IP per hour, default 60, 0 disables */
  codeRateLimitPerHour?: number;
  /** /oauth/device/lookup limit per IP per 5 minutes, default 60, 0 disables */
  lookupRateLimitPer5Min?: number;
  /** shared approve/deny (cookie routes) bucket per hour, default 10, 0 disables */
  approveRateLimitPerHour?: number;
  /** OPENAPI_KNOWN_CLIENT_IDS, default ["difyctl"] */
  knownClientIds?: string[];
  /** CE => permitted-external-apps 404 and dfoe_ cannot run apps (default EE) */
  edition?: "EE" | "CE";
  /** GET /_version => {"version", "edition"}; null => 404 (older server). Default "1.14.0" */
  version?: string | null;
  /** the `edition` field of /_version (default SELF_HOSTED) */
  versionEdition?: "SELF_HOSTED" | "CLOUD";
  /** false => /oauth/device/* are 404 (host without the feature) */
  deviceFlow?: boolean;
  /**
   * Upload limits the upload route enforces, in MiB (default: the ones describe publishes). Lower
   * ones model a server whose configuration changed after the client read describe.
   */
  uploadLimitsMb?: Partial<UploadLimitsMb>;
  /** UPLOAD_FILE_EXTENSION_BLACKLIST (default empty) */
  uploadExtensionBlacklist?: string[];
  /** how long after a form is submitted the resumed run starts (default 30 ms) */
  resumeDelayMs?: number;
  /** the slow workflow's delay between words (default 50 ms) */
  slowChunkMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** lowercased keys */
  headers: Record<string, string>;
  body: string;
  /** clock.now() at arrival */
  time: number;
  ip: string;
}

export interface ApproveResult {
  status: number;
  body: unknown;
}

export interface FakeServer {
  url: string;
  port: number;
  close(): Promise<void>;
  clock: { now(): number; advance(ms: number): void; set(ms: number): void };
  requests: RecordedRequest[];
  pending(): { userCode: string; deviceCode: string; status: string }[];
  approve(userCode: string, as?: string): ApproveResult;
  deny(userCode: string): ApproveResult;
  mintToken(as?: string, deviceLabel?: string): { token: string; tokenId: string };
  revoke(tokenId: string): void;
  /** the oauth_access_tokens rows (hashes only) */
  tokenRows(): readonly TokenRow[];
  faults: FaultQueue;
  accounts: Account[];
  workspaces: Workspace[];
  apps: App[];
  ssoSubjects: SsoSubject[];
  options: Readonly<ResolvedOptions>;
  setOption(partial: Partial<FakeServerOptions>): void;
  /** uploaded files, by id */
  files: FileStore;
  /** workflow runs, human-input forms and stop requests */
  tasks: TaskHub;
}

export type ResolvedOptions = Required<Omit<FakeServerOptions, "verificationBase" | "autoApprove" | "autoDeny" | "version" | "uploadLimitsMb">> & {
  uploadLimitsMb: UploadLimitsMb;
  verificationBase: string | undefined;
  autoApprove: FakeServerOptions["autoApprove"];
  autoDeny: FakeServerOptions["autoDeny"];
  version: string | null;
};

const DAY = 86_400_000;
const LAST_POLL_TTL_MS = 900_000;
const DEFAULT_SUBJECT = "gareth@dify.ai";

function resolveOptions(o: FakeServerOptions): ResolvedOptions {
  return {
    port: o.port ?? 0,
    hostname: o.hostname ?? "127.0.0.1",
    interval: o.interval ?? 5,
    slowDownWindowMs: o.slowDownWindowMs ?? 5000,
    expiresIn: o.expiresIn ?? 900,
    tokenTtlDays: o.tokenTtlDays ?? 14,
    verificationBase: o.verificationBase,
    autoApprove: o.autoApprove ?? null,
    autoDeny: o.autoDeny ?? null,
    rotation: o.rotation ?? "june",
    rateLimitPerToken: o.rateLimitPerToken ?? 60,
    rateLimitBody: o.rateLimitBody ?? "june",
    accountRateLimitPerMinute: o.accountRateLimitPerMinute ?? 60,
    codeRateLimitPerHour: o.codeRateLimitPerHour ?? 60,
    lookupRateLimitPer5Min: o.lookupRateLimitPer5Min ?? 60,
    approveRateLimitPerHour: o.approveRateLimitPerHour ?? 10,
    knownClientIds: o.knownClientIds ?? ["difyctl"],
    edition: o.edition ?? "EE",
    version: o.version === undefined ? "1.14.0" : o.version,
    versionEdition: o.versionEdition ?? "SELF_HOSTED",
    deviceFlow: o.deviceFlow ?? true,
    uploadLimitsMb: { ...UPLOAD_LIMITS_MB, ...(o.uploadLimitsMb ?? {}) },
    uploadExtensionBlacklist: o.uploadExtensionBlacklist ?? [],
    resumeDelayMs: o.resumeDelayMs ?? 30,
    slowChunkMs: o.slowChunkMs ?? 50,
  };
}

interface Auth {
  token: string;
  row: TokenRow;
  subject: Subject;
}

type Handler = (ctx: Ctx, m: RegExpMatchArray) => Response | Promise<Response>;

interface Ctx {
  req: Request;
  url: URL;
  body: string;
  ip: string;
  /** a multipart/form-data body, parsed (null when it could not be) */
  multipart?: { parts: PartSummary[]; files: Map<string, File> } | null;
}

class FakeDify {
  readonly clock = new Clock();
  readonly faults = new FaultQueue();
  readonly requests: RecordedRequest[] = [];
  readonly fx: Fixtures = createFixtures();
  readonly devices = new DeviceStore();
  readonly tokens = new TokenStore();
  readonly limiter = new SlidingWindowLimiter();
  /** conversation id -> app id */
  readonly conversations = new Map<string, string>();
  readonly files = new FileStore();
  readonly tasks = new TaskHub(() => this.clock.now(), () => this.opts.resumeDelayMs);
  private hangs = new Set<() => void>();
  private mintSeq = 0;
  origin = "";
  opts: ResolvedOptions;

  constructor(o: FakeServerOptions) {
    this.opts = resolveOptions(o);
  }

  // ───────────────────────── entry point ─────────────────────────

  async handle(req: Request, srv: Server<undefined>): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const ct = req.headers.get("content-type") ?? "";
    let body: string;
    let multipart: Ctx["multipart"];
    if (ct.toLowerCase().startsWith("multipart/form-data")) {
      // Uploads are binary and large: the log keeps what the server saw of each part, not the bytes.
      const bytes = new Uint8Array(await req.arrayBuffer().catch(() => new ArrayBuffer(0)));
      multipart = await readMultipart(bytes, ct);
      body = JSON.stringify({ multipart: multipart?.parts ?? null, bytes: bytes.byteLength });
    } else {
      body = await req.text().catch(() => "");
    }
    const ip = clientIp(req, srv.requestIP(req)?.address);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k.toLowerCase()] = v));
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (!(k in query)) query[k] = v;
    this.requests.push({ method: req.method, path, query, headers, body, time: this.clock.now(), ip });

    this.sweepAutoApprove();

    if (!path.startsWith("/__test__")) {
      const fault = this.faults.take(req.method, path, body);
      if (fault) {
        const r = await this.applyFault(fault, req);
        if (r) return r;
      }
    }
    const res = await this.route({ req, url, body, ip, multipart });
    return withHeaders(res, ANTI_FRAMING);
  }

  private async applyFault(f: FaultRespond, req: Request): Promise<Response | null> {
    if (f === "drop") return dropResponse();
    if (f === "hang") {
      return new Promise<Response>((resolve) => {
        const done = () => {
          this.hangs.delete(done);
          resolve(dropResponse());
        };
        this.hangs.add(done);
        req.signal.addEventListener("abort", done, { once: true });
      });
    }
    if ("delayMs" in f) {
      await sleep(f.delayMs);
      return null;
    }
    if ("sse" in f) return rawChunksResponse(f.sse, f, req.signal);
    const headers: Record<string, string> = { ...(f.headers ?? {}) };
    let text = "";
    if (f.rawBody !== undefined) text = f.rawBody;
    else if (f.body !== undefined) {
      text = JSON.stringify(f.body);
      if (!Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) headers["Content-Type"] = "application/json";
    }
    return new Response(text, { status: f.status, headers });
  }

  closeHangs(): void {
    for (const done of [...this.hangs]) done();
  }

  private async route(ctx: Ctx): Promise<Response> {
    const path = ctx.url.pathname;
    const method = ctx.req.method;
    if (path === "/device" && method === "GET") {
      return new Response(devicePage(this.fx, ctx.url.searchParams.get("user_code") ?? ""), {
        headers: { "Content-Type": "text/html; charset=utf-8" },
      });
    }
    if (path.startsWith("/__test__/")) return this.testRoute(ctx);
    if (path === "/openapi/v1" || path.startsWith("/openapi/v1/")) {
      const sub = path.slice("/openapi/v1".length) || "/";
      let pathMatched = false;
      for (const [m, re, h] of this.apiRoutes) {
        const match = sub.match(re);
        if (!match) continue;
        pathMatched = true;
        if (m === method) return h(ctx, match);
      }
      if (pathMatched && !this.isHidden(sub)) return errorBody(405, "The method is not allowed for the requested URL.");
      return errorBody(404, NOT_FOUND_MESSAGE);
    }
    return new Response("Not Found", { status: 404, headers: { "Content-Type": "text/plain" } });
  }

  private isHidden(sub: string): boolean {
    return (!this.opts.deviceFlow && sub.startsWith("/oauth/device/")) || (sub === "/_version" && this.opts.version === null);
  }

  private readonly apiRoutes: [string, RegExp, Handler][] = [
    ["GET", /^\/_health$/, () => json(200, { ok: true })],
    ["GET", /^\/_version$/, () => this.version()],
    ["POST", /^\/oauth\/device\/code$/, (c) => this.deviceGate(() => this.deviceCode(c))],
    ["POST", /^\/oauth\/device\/token$/, (c) => this.deviceGate(() => this.deviceToken(c))],
    ["GET", /^\/oauth\/device\/lookup$/, (c) => this.deviceGate(() => this.deviceLookup(c))],
    ["POST", /^\/oauth\/device\/approve$/, (c) => this.deviceGate(() => this.browserMutate(c, "approve"))],
    ["POST", /^\/oauth\/device\/deny$/, (c) => this.deviceGate(() => this.browserMutate(c, "deny"))],
    ["GET", /^\/account$/, (c) => this.account(c)],
    ["GET", /^\/account\/sessions$/, (c) => this.sessions(c)],
    ["DELETE", /^\/account\/sessions\/self$/, (c) => this.revokeSelf(c)],
    ["DELETE", /^\/account\/sessions\/([^/]+)$/, (c, m) => this.revokeById(c, m[1]!)],
    ["GET", /^\/workspaces$/, (c) => this.workspaceList(c)],
    ["GET", /^\/workspaces\/([^/]+)$/, (c, m) => this.workspaceDetail(c, m[1]!)],
    ["GET", /^\/apps$/, (c) => this.appList(c)],
    ["GET", /^\/apps\/([^/]+)\/describe$/, (c, m) => this.appDescribe(c, m[1]!)],
    ["POST", /^\/apps\/([^/]+)\/run$/, (c, m) => this.appRun(c, m[1]!)],
    ["POST", /^\/apps\/([^/]+)\/files\/upload$/, (c, m) => this.fileUpload(c, m[1]!)],
    ["POST", /^\/apps\/([^/]+)\/tasks\/([^/]+)\/stop$/, (c, m) => this.taskStop(c, m[1]!, m[2]!)],
    ["GET", /^\/apps\/([^/]+)\/tasks\/([^/]+)\/events$/, (c, m) => this.taskEvents(c, m[1]!, m[2]!)],
    ["GET", /^\/apps\/([^/]+)\/form\/human_input\/([^/]+)$/, (c, m) => this.formGet(c, m[1]!, m[2]!)],
    ["POST", /^\/apps\/([^/]+)\/form\/human_input\/([^/]+)$/, (c, m) => this.formPost(c, m[1]!, m[2]!)],
    ["GET", /^\/permitted-external-apps$/, (c) => this.permittedApps(c)],
  ];

  private version(): Response {
    if (this.opts.version === null) return errorBody(404, NOT_FOUND_MESSAGE);
    return json(200, { version: this.opts.version, edition: this.opts.versionEdition });
  }

  private deviceGate(f: () => Response): Response {
    if (!this.opts.deviceFlow) return errorBody(404, NOT_FOUND_MESSAGE);
    return f();
  }

  // ───────────────────────── device flow ─────────────────────────

  private deviceCode(c: Ctx): Response {
    const now = this.clock.now();
    const rl = this.limiter.hit(`code:${c.ip}`, this.opts.codeRateLimitPerHour, 3_600_000, now);
    if (!rl.ok) return json(429, { code: "too_many_requests", message: "rate_limited", status: 429 });
    const b = flaskJson(c.req.headers.get("content-type"), c.body);
    const details = requireStrings(b, ["client_id", "device_label"]);
    if (details.length) return errorBody(400, pydanticMessage("DeviceCodeRequest", details));
    const clientId = b!.client_id as string;
    if (!this.opts.knownClientIds.includes(clientId)) return rfcError(400, "unsupported_client");

    const ttlMs = this.opts.expiresIn * 1000;
    const deviceCode = `dc_${tokenUrlsafe(24)}`;
    let userCode: string | null = null;
    for (let i = 0; i < 5 && !userCode; i++) {
      const uc = newUserCode();
      if (this.devices.claimUserCode(uc, deviceCode, ttlMs, now)) userCode = uc;
    }
    if (!userCode) return errorBody(500);
    this.devices.putState({
      deviceCode,
      userCode,
      clientId,
      deviceLabel: b!.device_label as string,
      status: "pending",
      createdAt: now,
      createdIp: c.ip,
      expiresAt: now + ttlMs,
      subjectEmail: null,
      accountId: null,
      subjectIssuer: null,
      tokenId: null,
      pollPayload: null,
    });
    const base = (this.opts.verificationBase ?? this.origin).replace(/\/+$/, "");
    return json(200, {
      device_code: deviceCode,
      user_code: userCode,
      verification_uri: `${base}/device`,
      expires_in: this.opts.expiresIn,
      interval: this.opts.interval,
    });
  }

  private deviceToken(c: Ctx): Response {
    const b = flaskJson(c.req.headers.get("content-type"), c.body);
    const details = requireStrings(b, ["device_code", "client_id"]);
    if (details.length) return errorBody(400, pydanticMessage("DevicePollRequest", details));
    const dc = b!.device_code as string;

    // Test automation: approve/deny *before* evaluating this poll.
    const n = this.devices.bumpPolls(dc);
    const pendingState = this.devices.getState(dc, this.clock.now());
    if (pendingState?.status === "pending") {
      const aa = this.opts.autoApprove;
      const ad = this.opts.autoDeny;
      if (aa?.afterPolls != null && n >= aa.afterPolls) this.approveState(pendingState, aa.as);
      else if (ad?.afterPolls != null && n >= ad.afterPolls) this.denyState(pendingState);
    }

    const now = this.clock.now();
    // 1. record_poll: the timestamp is overwritten even when slow_down is returned.
    const prev = this.devices.recordPoll(dc, now, LAST_POLL_TTL_MS);
    if (prev !== undefined && now - prev < this.opts.slowDownWindowMs) return rfcError(400, "slow_down");
    // 2. missing
    const st = this.devices.getState(dc, now);
    if (!st) return rfcError(400, "expired_token");
    // 3. pending
    if (st.status === "pending") return rfcError(400, "authorization_pending");
    // 4. atomic consume (synchronous: exactly one concurrent poller wins)
    const won = this.devices.consume(dc, now);
    if (!won) return rfcError(400, "expired_token");
    // 5. denied
    if (won.status === "denied") return rfcError(400, "access_denied");
    // 6. approved
    if (!won.pollPayload) return rfcError(400, "expired_token");
    return json(200, won.pollPayload);
  }

  private deviceLookup(c: Ctx): Response {
    const now = this.clock.now();
    const rl = this.limiter.hit(`lookup:${c.ip}`, this.opts.lookupRateLimitPer5Min, 300_000, now);
    if (!rl.ok) return json(429, { code: "too_many_requests", message: "rate_limited", status: 429 });
    const raw = c.url.searchParams.get("user_code");
    if (raw === null) {
      return errorBody(400, pydanticMessage("DeviceLookupQuery", [{ type: "missing", loc: ["user_code"], msg: "Field required" }]));
    }
    const dc = this.devices.deviceCodeFor(raw.trim().toUpperCase(), now);
    const st = dc ? this.devices.getState(dc, now) : undefined;
    if (!st) return json(200, { valid: false, expires_in_remaining: 0, client_id: null });
    if (st.status !== "pending") return json(200, { valid: false, expires_in_remaining: 0, client_id: st.clientId });
    return json(200, { valid: true, expires_in_remaining: this.opts.expiresIn, client_id: st.clientId });
  }

  /** POST /oauth/device/approve|deny with the fake console cookie `fake_console=<email or account id>`. */
  private browserMutate(c: Ctx, what: "approve" | "deny"): Response {
    const cookie = parseCookies(c.req.headers.get("cookie")).fake_console;
    const acct = cookie ? this.findAccount(cookie) : undefined;
    if (!acct) return flaskLoginUnauthorized();
    const rl = this.limiter.hit("approve:anon", this.opts.approveRateLimitPerHour, 3_600_000, this.clock.now());
    if (!rl.ok) return json(429, { code: "too_many_requests", message: "rate_limited", status: 429 });
    const b = flaskJson(c.req.headers.get("content-type"), c.body);
    const details = requireStrings(b, ["user_code"]);
    if (details.length) return errorBody(400, pydanticMessage("DeviceMutateRequest", details));
    const r = what === "approve" ? this.approve(b!.user_code as string, acct.email) : this.deny(b!.user_code as string);
    return json(r.status, r.body);
  }

  private lookupPending(userCode: string): DeviceState | ApproveResult {
    const now = this.clock.now();
    const uc = String(userCode ?? "").trim().toUpperCase();
    const dc = this.devices.deviceCodeFor(uc, now);
    const st = dc ? this.devices.getState(dc, now) : undefined;
    if (!st) return { status: 404, body: { error: "expired_or_unknown" } };
    if (st.status !== "pending") return { status: 409, body: { error: "already_resolved" } };
    return st;
  }

  approve(userCode: string, as?: string): ApproveResult {
    const st = this.lookupPending(userCode);
    if ("body" in st) return st;
    return this.approveState(st, as);
  }

  deny(userCode: string): ApproveResult {
    const st = this.lookupPending(userCode);
    if ("body" in st) return st;
    return this.denyState(st);
  }

  private approveState(st: DeviceState, as?: string): ApproveResult {
    const subject = this.resolveSubject(as);
    if (!subject) return { status: 400, body: { code: "bad_request", message: `unknown subject: ${as}`, status: 400 } };
    const now = this.clock.now();
    const { token, row } = this.mint(subject, st.clientId, st.deviceLabel);
    st.status = "approved";
    st.tokenId = row.id;
    st.subjectEmail = row.subjectEmail;
    st.subjectIssuer = row.subjectIssuer;
    st.accountId = row.accountId;
    st.pollPayload = this.pollPayload(subject, token, row);
    st.expiresAt = now + Math.max(st.expiresAt - now, 60_000);
    return { status: 200, body: { status: "approved" } };
  }

  private denyState(st: DeviceState): ApproveResult {
    const now = this.clock.now();
    st.status = "denied";
    st.expiresAt = now + Math.max(st.expiresAt - now, 1000);
    return { status: 200, body: { status: "denied" } };
  }

  private sweepAutoApprove(): void {
    const aa = this.opts.autoApprove;
    if (aa?.afterMs == null) return;
    const now = this.clock.now();
    for (const st of this.devices.allStates(now)) {
      if (st.status === "pending" && now - st.createdAt >= aa.afterMs) this.approveState(st, aa.as);
    }
  }

  pending(): { userCode: string; deviceCode: string; status: string }[] {
    this.sweepAutoApprove();
    return this.devices
      .allStates(this.clock.now())
      .map((s) => ({ userCode: s.userCode, deviceCode: s.deviceCode, status: s.status }));
  }

  // ───────────────────────── subjects & tokens ─────────────────────────

  findAccount(key: string): Account | undefined {
    const k = key.trim().toLowerCase();
    return this.fx.accounts.find((a) => a.email.toLowerCase() === k || a.id === k);
  }

  resolveSubject(as?: string): Subject | null {
    const key = (as ?? DEFAULT_SUBJECT).trim();
    if (key.toLowerCase() === "sso") {
      const sso = this.fx.ssoSubjects[0];
      return sso ? { kind: "sso", sso } : null;
    }
    const account = this.findAccount(key);
    if (account) return { kind: "account", account };
    const sso = this.fx.ssoSubjects.find((s) => s.email.toLowerCase() === key.toLowerCase());
    return sso ? { kind: "sso", sso } : null;
  }

  mint(subject: Subject, clientId: string, deviceLabel: string): { token: string; row: TokenRow } {
    const days = Number.isFinite(this.opts.tokenTtlDays) && this.opts.tokenTtlDays > 0 ? this.opts.tokenTtlDays : 14;
    return this.tokens.mint(subject, clientId, deviceLabel, this.clock.now(), days * DAY, this.opts.rotation);
  }

  mintToken(as?: string, deviceLabel?: string): { token: string; tokenId: string } {
    const subject = this.resolveSubject(as);
    if (!subject) throw new Error(`fake server: unknown subject ${as}`);
    const { token, row } = this.mint(subject, "difyctl", deviceLabel ?? `difyctl on fake-host-${++this.mintSeq}`);
    return { token, tokenId: row.id };
  }

  revoke(tokenId: string): void {
    const row = this.tokens.byId(tokenId);
    if (row) this.tokens.revoke(row, this.clock.now());
  }

  private memberships(a: Account) {
    return a.memberships
      .map((m) => ({ m, ws: this.fx.workspaces.find((w) => w.id === m.workspaceId) }))
      .filter((x): x is { m: Account["memberships"][number]; ws: Workspace } => !!x.ws)
      .sort((x, y) => x.ws.createdAt - y.ws.createdAt);
  }

  private defaultWorkspaceId(a: Account): string | null {
    const ms = this.memberships(a);
    return (ms.find((x) => x.m.current) ?? ms[0])?.ws.id ?? null;
  }

  private pollPayload(subject: Subject, token: string, row: TokenRow): Record<string, unknown> {
    const expires_at = pyIso(row.expiresAt, "+00:00");
    if (subject.kind === "account") {
      const a = subject.account;
      return {
        token,
        expires_at,
        subject_type: "account",
        account: { id: a.id, email: a.email, name: a.name },
        workspaces: this.memberships(a).map(({ m, ws }) => ({ id: ws.id, name: ws.name, role: m.role })),
        default_workspace_id: this.defaultWorkspaceId(a),
        token_id: row.id,
      };
    }
    return {
      token,
      expires_at,
      subject_type: "external_sso",
      subject_email: subject.sso.email,
      subject_issuer: subject.sso.issuer,
      account: null,
      workspaces: [],
      default_workspace_id: null,
      token_id: row.id,
    };
  }

  // ───────────────────────── bearer pipeline ─────────────────────────

  private invalidBearer(): Response {
    return this.faults.invalidBearer500 ? errorBody(500) : errorBody(401, "invalid bearer");
  }

  private authenticate(c: Ctx): Auth | Response {
    const h = c.req.headers.get("authorization");
    const sp = h ? h.indexOf(" ") : -1;
    const scheme = h && sp > 0 ? h.slice(0, sp) : "";
    const value = h && sp > 0 ? h.slice(sp + 1).trim() : "";
    if (scheme.toLowerCase() !== "bearer" || !value) return errorBody(401, "bearer required");
    if (!value.startsWith("dfoa_") && !value.startsWith("dfoe_")) return this.invalidBearer();
    const hash = sha256Hex(value);
    const now = this.clock.now();
    const rl = this.limiter.hit(`tok:${hash}`, this.opts.rateLimitPerToken, 60_000, now);
    if (!rl.ok) {
      const headers = { "Retry-After": String(rl.retryAfterSec) };
      return this.opts.rateLimitBody === "v1.0"
        ? json(429, { error: "rate_limited", retry_after_ms: rl.retryAfterSec * 1000 }, headers)
        : errorBody(429, TOO_MANY_REQUESTS_MESSAGE, { headers });
    }
    const row = this.tokens.findLiveByHash(hash);
    if (!row) return this.invalidBearer();
    if (row.expiresAt <= now) {
      this.tokens.revoke(row, now); // hard-expire
      return this.invalidBearer();
    }
    if (value.startsWith("dfoa_") !== (row.accountId !== null)) return this.invalidBearer();
    let subject: Subject;
    if (row.accountId !== null) {
      const account = this.fx.accounts.find((a) => a.id === row.accountId);
      if (!account) return errorBody(401, "account not found");
      subject = { kind: "account", account };
    } else {
      const sso = this.fx.ssoSubjects.find((s) => s.email === row.subjectEmail && s.issuer === row.subjectIssuer) ?? {
        email: row.subjectEmail,
        issuer: row.subjectIssuer,
        permittedAppIds: [],
      };
      subject = { kind: "sso", sso };
    }
    return { token: value, row, subject };
  }

  /** Bearer + dfoa_ only (June). */
  private authAccount(c: Ctx): (Auth & { account: Account }) | Response {
    const a = this.authenticate(c);
    if (a instanceof Response) return a;
    if (a.subject.kind !== "account") return errorBody(403, "unsupported_token_type");
    return { ...a, account: a.subject.account };
  }

  // ───────────────────────── account & sessions ─────────────────────────

  private account(c: Ctx): Response {
    const a = this.authAccount(c);
    if (a instanceof Response) return a;
    const rl = this.limiter.hit(`acct:${a.account.id}`, this.opts.accountRateLimitPerMinute, 60_000, this.clock.now());
    if (!rl.ok) return json(429, { code: "too_many_requests", message: "rate_limited", status: 429 });
    const acc = a.account;
    return json(200, {
      subject_type: "account",
      subject_email: acc.email,
      subject_issuer: null,
      account: { id: acc.id, email: acc.email, name: acc.name },
      workspaces: this.memberships(acc).map(({ m, ws }) => ({ id: ws.id, name: ws.name, role: m.role })),
      default_workspace_id: this.defaultWorkspaceId(acc),
    });
  }

  private sessions(c: Ctx): Response {
    const a = this.authAccount(c);
    if (a instanceof Response) return a;
    const q = c.url.searchParams;
    const details: ValidationDetail[] = [];
    forbidExtra(q, ["page", "limit"], details);
    const page = parseQueryInt(q, "page", 1, 1, null, details);
    const limit = parseQueryInt(q, "limit", 100, 1, 200, details);
    if (details.length) return validationFailed(details);
    const now = this.clock.now();
    const rows = this.tokens.rows
      .filter((r) => r.accountId === a.account.id && r.revokedAt === null && r.tokenHash !== null && r.expiresAt > now)
      .sort((x, y) => y.createdAt - x.createdAt || y.seq - x.seq);
    const slice = rows.slice((page - 1) * limit, page * limit);
    return json(200, {
      page,
      limit,
      total: rows.length,
      has_more: page * limit < rows.length,
      data: slice.map((r) => ({
        id: r.id,
        prefix: r.prefix,
        client_id: r.clientId,
        device_label: r.deviceLabel,
        created_at: pyIso(r.createdAt, "Z"),
        last_used_at: null,
        expires_at: pyIso(r.expiresAt, "Z"),
      })),
    });
  }

  private revokeSelf(c: Ctx): Response {
    const a = this.authAccount(c);
    if (a instanceof Response) return a;
    this.tokens.revoke(a.row, this.clock.now());
    return json(200, { status: "revoked" });
  }

  private revokeById(c: Ctx, id: string): Response {
    const a = this.authAccount(c);
    if (a instanceof Response) return a;
    const row = isUuid(id) ? this.tokens.byId(id.toLowerCase()) : undefined;
    if (!row || row.accountId !== a.account.id) return errorBody(404, "session not found");
    this.tokens.revoke(row, this.clock.now());
    return json(200, { status: "revoked" });
  }

  // ───────────────────────── workspaces ─────────────────────────

  private workspaceList(c: Ctx): Response {
    const a = this.authAccount(c);
    if (a instanceof Response) return a;
    return json(200, {
      workspaces: this.memberships(a.account).map(({ m, ws }) => ({
        id: ws.id,
        name: ws.name,
        role: m.role,
        status: ws.status,
        current: m.current,
      })),
    });
  }

  private workspaceDetail(c: Ctx, id: string): Response {
    const a = this.authAccount(c);
    if (a instanceof Response) return a;
    const x = this.memberships(a.account).find(({ ws }) => ws.id === id.toLowerCase());
    if (!isUuid(id) || !x) return errorBody(404, "workspace not found");
    return json(200, {
      id: x.ws.id,
      name: x.ws.name,
      role: x.m.role,
      status: x.ws.status,
      current: x.m.current,
      created_at: pyIso(x.ws.createdAt, "Z"),
    });
  }

  // ───────────────────────── apps ─────────────────────────

  private isMember(a: Account, workspaceId: string): boolean {
    return a.memberships.some((m) => m.workspaceId === workspaceId) && this.fx.workspaces.some((w) => w.id === workspaceId);
  }

  private workspaceName(id: string): string | null {
    return this.fx.workspaces.find((w) => w.id === id)?.name ?? null;
  }

  private appRow(app: App, external = false) {
    return {
      id: app.id,
      name: app.name,
      description: app.description,
      mode: app.mode,
      tags: external ? [] : app.tags.map((name) => ({ name })),
      updated_at: pyIso(app.updatedAt, "Z"),
      created_by_name: external ? null : app.author,
      workspace_id: app.workspaceId,
      workspace_name: this.workspaceName(app.workspaceId),
    };
  }

  private filterApps(apps: App[], q: URLSearchParams): App[] {
    const mode = q.get("mode");
    const name = q.get("name");
    const tag = q.get("tag");
    return apps.filter((app) => {
      if (mode && app.mode !== mode) return false;
      if (name) {
        if (isUuid(name)) {
          if (app.id !== name.toLowerCase()) return false;
        } else if (!app.name.toLowerCase().includes(name.toLowerCase())) return false;
      }
      if (tag && !app.tags.includes(tag)) return false;
      return true;
    });
  }

  private listQuery(q: URLSearchParams, details: ValidationDetail[], withTag: boolean): { page: number; limit: number } {
    const page = parseQueryInt(q, "page", 1, 1, null, details);
    const limit = parseQueryInt(q, "limit", 20, 1, 200, details);
    const mode = q.get("mode");
    if (mode !== null && mode !== "" && !APP_MODES.includes(mode as AppMode)) {
      details.push({ type: "enum", loc: ["mode"], msg: `Input should be ${APP_MODES.map((m) => `'${m}'`).join(", ")}` });
    }
    const name = q.get("name");
    if (name !== null && name.length > 200) details.push({ type: "string_too_long", loc: ["name"], msg: "String should have at most 200 characters" });
    const tag = withTag ? q.get("tag") : null;
    if (tag !== null && tag.length > 100) details.push({ type: "string_too_long", loc: ["tag"], msg: "String should have at most 100 characters" });
    return { page, limit };
  }

  private envelope<T>(items: T[], page: number, limit: number) {
    return { page, limit, total: items.length, has_more: page * limit < items.length, data: items.slice((page - 1) * limit, page * limit) };
  }

  private appList(c: Ctx): Response {
    const a = this.authAccount(c);
    if (a instanceof Response) return a;
    const q = c.url.searchParams;
    const ws = q.get("workspace_id");
    // June: the workspace guard runs before validation.
    if (ws === null || !isUuid(ws) || !this.isMember(a.account, ws.toLowerCase())) return errorBody(404, "workspace not found");
    const details: ValidationDetail[] = [];
    const { page, limit } = this.listQuery(q, details, true);
    if (details.length) return validationFailed(details);
    const apps = this.filterApps(
      this.fx.apps.filter((app) => app.workspaceId === ws.toLowerCase() && app.enableApi && app.status === "normal"),
      q,
    ).sort((x, y) => y.updatedAt - x.updatedAt);
    return json(200, this.envelope(apps.map((app) => this.appRow(app)), page, limit));
  }

  /** June app guard for account callers: 404 app, 404 workspace, 403 service_api_disabled. */
  private appGuard(account: Account, appId: string): App | Response {
    const app = isUuid(appId) ? this.fx.apps.find((x) => x.id === appId.toLowerCase()) : undefined;
    if (!app || app.status !== "normal") return errorBody(404, "app not found");
    if (!this.isMember(account, app.workspaceId)) return errorBody(404, "workspace not found");
    if (!app.enableApi) return errorBody(403, "service_api_disabled");
    return app;
  }

  private appDescribe(c: Ctx, appId: string): Response {
    const a = this.authAccount(c);
    if (a instanceof Response) return a;
    const app = this.appGuard(a.account, appId);
    if (app instanceof Response) return app;
    const q = c.url.searchParams;
    const qws = q.get("workspace_id");
    if (qws && qws !== app.workspaceId) return errorBody(422, "workspace_id does not match app's workspace", { code: "invalid_param" });
    const details: ValidationDetail[] = [];
    forbidExtra(q, ["fields"], details);
    let fields = new Set(["info", "parameters", "input_schema"]);
    const raw = q.get("fields");
    if (raw !== null && raw !== "") {
      const members = raw.split(",").map((s) => s.trim()).filter(Boolean);
      const unknown = members.filter((m) => !fields.has(m)).sort();
      if (unknown.length) {
        details.push({ type: "value_error", loc: ["fields"], msg: `Value error, unknown field(s): [${unknown.map((u) => `'${u}'`).join(", ")}]` });
      } else if (members.length) fields = new Set(members);
    }
    if (details.length) return validationFailed(details);
    return json(200, {
      info: fields.has("info")
        ? {
            id: app.id,
            name: app.name,
            description: app.description,
            mode: app.mode,
            author: app.author,
            tags: app.tags.map((name) => ({ name })),
            updated_at: pyIso(app.updatedAt, "Z"),
            service_api_enabled: app.enableApi,
            is_agent: app.mode === "agent-chat",
          }
        : null,
      parameters: fields.has("parameters") ? appParameters(app) : null,
      input_schema: fields.has("input_schema") ? inputSchema(app) : null,
    });
  }

  /**
   * The June guard of every `/apps/<id>/…` run-scoped route, for account and (EE) external SSO
   * callers, with the `workspace_id` query check. `caller` keys what the caller owns.
   */
  private runGuard(c: Ctx, appId: string): { app: App; auth: Auth; caller: string } | Response {
    const auth = this.authenticate(c);
    if (auth instanceof Response) return auth;
    let app: App;
    if (auth.subject.kind === "account") {
      const g = this.appGuard(auth.subject.account, appId);
      if (g instanceof Response) return g;
      app = g;
      const qws = c.url.searchParams.get("workspace_id");
      if (qws && qws !== app.workspaceId) return errorBody(422, "workspace_id does not match app's workspace", { code: "invalid_param" });
      return { app, auth, caller: auth.subject.account.id };
    }
    if (this.opts.edition === "CE") return errorBody(403, "external_sso_requires_ee");
    const found = isUuid(appId) ? this.fx.apps.find((x) => x.id === appId.toLowerCase()) : undefined;
    if (!found || found.status !== "normal") return errorBody(404, "app not found");
    if (!auth.subject.sso.permittedAppIds.includes(found.id)) return errorBody(403, "subject_not_allowed_for_access_mode");
    if (!found.enableApi) return errorBody(403, "service_api_disabled");
    return { app: found, auth, caller: auth.subject.sso.email };
  }

  private fileUpload(c: Ctx, appId: string): Promise<Response> | Response {
    const g = this.runGuard(c, appId);
    if (g instanceof Response) return g;
    return this.files.upload(
      c.multipart ?? null,
      { createdBy: g.caller, tenantId: g.app.workspaceId, now: this.clock.now() },
      this.opts.uploadLimitsMb,
      this.opts.uploadExtensionBlacklist,
    );
  }

  private taskStop(c: Ctx, appId: string, taskId: string): Response {
    const g = this.runGuard(c, appId);
    if (g instanceof Response) return g;
    return this.tasks.stop(g.app.id, taskId);
  }

  private taskEvents(c: Ctx, appId: string, runId: string): Response {
    const g = this.runGuard(c, appId);
    if (g instanceof Response) return g;
    return this.tasks.events(g.app, runId, g.caller, c.url.searchParams, c.req.signal);
  }

  private formGet(c: Ctx, appId: string, token: string): Response {
    const g = this.runGuard(c, appId);
    if (g instanceof Response) return g;
    return this.tasks.getForm(g.app.id, token);
  }

  private formPost(c: Ctx, appId: string, token: string): Response {
    const g = this.runGuard(c, appId);
    if (g instanceof Response) return g;
    return this.tasks.submitForm(g.app.id, token, flaskJson(c.req.headers.get("content-type"), c.body));
  }

  /**
   * The file inputs and `files` of a run body → the files they name, or the ValueError June raises
   * (a 500 for chat-family apps, an `error` event for workflows).
   */
  private resolveRunFiles(app: App, inputs: Record<string, unknown>, files: unknown, caller: string, sso: boolean): { inputs: Record<string, unknown>; files: Record<string, unknown>[] } | string {
    const out = { ...inputs };
    const seen: Record<string, unknown>[] = [];
    const one = (variable: string, m: unknown, cfg: FileConfig | null): Record<string, unknown> | string => {
      if (!m || typeof m !== "object" || Array.isArray(m)) return `${variable} in input form must be a file`;
      const r = this.files.resolve(m as Record<string, unknown>, cfg, app.workspaceId, sso ? caller : undefined);
      if (typeof r === "string") return r;
      const summary = fileSummary(variable, r);
      seen.push(summary);
      return summary;
    };
    for (const f of app.inputs) {
      if (f.type !== "file" && f.type !== "file-list") continue;
      const v = inputs[f.variable];
      if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) {
        if (f.required) return `${f.variable} is required in input form`;
        delete out[f.variable];
        continue;
      }
      if (f.type === "file") {
        const r = one(f.variable, v, f.file ?? null);
        if (typeof r === "string") return r;
        out[f.variable] = r;
      } else {
        if (!Array.isArray(v)) return `${f.variable} in input form must be a list of files`;
        // June silently drops list items without a transfer method, and remote items without a URL.
        const kept = v.filter((m) => m && typeof m === "object" && (m as Record<string, unknown>).transfer_method
          && !((m as Record<string, unknown>).transfer_method === "remote_url" && !(m as Record<string, unknown>).url && !(m as Record<string, unknown>).remote_url && !(m as Record<string, unknown>).upload_file_id));
        const got: Record<string, unknown>[] = [];
        for (const m of kept) {
          const r = one(f.variable, m, f.file ?? null);
          if (typeof r === "string") return r;
          got.push(r);
        }
        if (f.maxLength && got.length > f.maxLength) return `Number of files exceeds the maximum limit ${f.maxLength}`;
        out[f.variable] = got;
      }
    }
    // The `files` list counts only when the app's file upload feature is on; otherwise it is ignored.
    if (app.fileUpload && Array.isArray(files)) {
      const got: Record<string, unknown>[] = [];
      for (const m of files) {
        if (!m || typeof m !== "object" || !(m as Record<string, unknown>).transfer_method) continue;
        const r = one("files", m, app.fileUpload);
        if (typeof r === "string") return r;
        got.push(r);
      }
      if (got.length > app.fileUpload.numberLimits) return `Number of files exceeds the maximum limit ${app.fileUpload.numberLimits}`;
    }
    return { inputs: out, files: seen };
  }

  private appRun(c: Ctx, appId: string): Response {
    const g = this.runGuard(c, appId);
    if (g instanceof Response) return g;
    const { app, auth } = g;

    // @accepts(body=AppRunRequest)
    const b = flaskJson(c.req.headers.get("content-type"), c.body);
    const details: ValidationDetail[] = [];
    if (b === undefined) details.push({ type: "model_type", loc: [], msg: "Input should be a valid dictionary or instance of AppRunRequest" });
    else {
      if (!("inputs" in b)) details.push({ type: "missing", loc: ["inputs"], msg: "Field required" });
      else if (!b.inputs || typeof b.inputs !== "object" || Array.isArray(b.inputs)) {
        details.push({ type: "dict_type", loc: ["inputs"], msg: "Input should be a valid dictionary" });
      }
      for (const k of ["query", "workflow_id"]) {
        if (b[k] != null && typeof b[k] !== "string") details.push({ type: "string_type", loc: [k], msg: "Input should be a valid string" });
      }
      if (b.files != null && !Array.isArray(b.files)) details.push({ type: "list_type", loc: ["files"], msg: "Input should be a valid list" });
      if (b.auto_generate_name != null && typeof b.auto_generate_name !== "boolean") {
        details.push({ type: "bool_type", loc: ["auto_generate_name"], msg: "Input should be a valid boolean" });
      }
      for (const k of ["conversation_id", "workspace_id"]) {
        const v = b[k];
        if (v == null) continue;
        if (typeof v !== "string") details.push({ type: "string_type", loc: [k], msg: "Input should be a valid string" });
        else if (v.trim() !== "" && !isUuid(v.trim())) {
          details.push({ type: "value_error", loc: [k], msg: `Value error, ${k} must be a valid UUID` });
        }
      }
    }
    if (details.length) return validationFailed(details);
    const body = b!;
    const inputs = body.inputs as Record<string, unknown>;
    const query = typeof body.query === "string" ? body.query : undefined;

    const chatLike = app.mode === "chat" || app.mode === "agent-chat" || app.mode === "advanced-chat";
    if (chatLike && (!query || !query.trim())) return errorBody(422, "query_required_for_chat");
    if (app.mode === "workflow" && body.query != null) return errorBody(422, "query_not_supported_for_workflow");

    // AppGenerateService.generate(), before the stream starts
    if (app.behaviour === "unavailable") {
      return errorBody(400, "App unavailable, please check your app configurations.", { code: "app_unavailable" });
    }
    if (app.behaviour === "quota") return errorBody(429, "Rate Limit Error", { code: "rate_limit_error" });
    let conversationId: string | null = null;
    if (chatLike) {
      const cid = typeof body.conversation_id === "string" ? body.conversation_id.trim().toLowerCase() : "";
      if (cid) {
        if (this.conversations.get(cid) !== app.id) return errorBody(404, "Conversation Not Exists.");
        conversationId = cid;
      } else {
        conversationId = newUuid();
      }
    }
    const checked = this.checkInputs(app, inputs);
    // A ValueError from input validation is not translated by the June handler: it becomes a 500.
    if (checked instanceof Response) return checked;
    const resolved = this.resolveRunFiles(app, inputs, body.files, g.caller, auth.subject.kind === "sso");
    if (typeof resolved === "string") {
      // Chat-family apps validate in the request (an unmapped ValueError: 500). Workflows validate
      // in the worker: 200, an `error` event, then silence until the idle timeout.
      if (chatLike || app.mode === "completion") return errorBody(500, resolved);
      return workflowErrorStream(resolved, c.req.signal);
    }
    Object.assign(checked, resolved.inputs);
    if (conversationId) this.conversations.set(conversationId, app.id);
    if (app.behaviour === "hitl" || app.behaviour === "hitl_console") return this.tasks.startPausing(app, checked, g.caller);
    if (app.behaviour === "slow") return this.tasks.slowRun(app, checked, this.opts.slowChunkMs, c.req.signal);
    return framesResponse(runFrames({ app, query, inputs: checked, conversationId, now: this.clock.now(), files: resolved.files.length ? resolved.files : undefined }), {});
  }

  private checkInputs(app: App, inputs: Record<string, unknown>): Record<string, unknown> | Response {
    const out: Record<string, unknown> = {};
    for (const f of app.inputs) {
      if (f.type === "file" || f.type === "file-list") continue; // checked as file mappings
      let v = inputs[f.variable];
      if (v === undefined || v === null || v === "") {
        if (f.required) return errorBody(500, `${f.variable} is required in input form`);
        continue;
      }
      if (f.type === "number") {
        if (typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v))) v = Number(v);
        if (typeof v !== "number" || Number.isNaN(v)) return errorBody(500, `${f.variable} in input form must be a valid number`);
      } else if (typeof v !== "string") {
        return errorBody(500, `${f.variable} in input form must be a string`);
      } else if (f.type === "select" && !(f.options ?? []).includes(v)) {
        return errorBody(500, `${f.variable} in input form must be one of the following: ${JSON.stringify(f.options ?? [])}`);
      } else if (f.maxLength && v.length > f.maxLength) {
        return errorBody(500, `${f.variable} in input form must be less than ${f.maxLength} characters`);
      }
      out[f.variable] = v;
    }
    return out;
  }

  private permittedApps(c: Ctx): Response {
    if (this.opts.edition === "CE") return errorBody(404, NOT_FOUND_MESSAGE);
    const auth = this.authenticate(c);
    if (auth instanceof Response) return auth;
    if (auth.subject.kind !== "sso") return errorBody(403, "unsupported_token_type");
    const q = c.url.searchParams;
    const details: ValidationDetail[] = [];
    forbidExtra(q, ["page", "limit", "mode", "name"], details);
    const { page, limit } = this.listQuery(q, details, false);
    if (details.length) return validationFailed(details);
    const permitted = auth.subject.sso.permittedAppIds
      .map((id) => this.fx.apps.find((x) => x.id === id))
      .filter((x): x is App => !!x && x.status === "normal");
    const apps = this.filterApps(permitted, q);
    return json(200, this.envelope(apps.map((app) => this.appRow(app, true)), page, limit));
  }

  // ───────────────────────── test control API ─────────────────────────

  private async testRoute(c: Ctx): Promise<Response> {
    const path = c.url.pathname;
    const method = c.req.method;
    const ct = (c.req.headers.get("content-type") ?? "").toLowerCase();
    const isForm = ct.startsWith("application/x-www-form-urlencoded");
    let b: Record<string, unknown> = {};
    if (isForm) b = Object.fromEntries(new URLSearchParams(c.body));
    else if (c.body) {
      try {
        const v = JSON.parse(c.body);
        if (v && typeof v === "object") b = v;
      } catch {
        return json(400, { error: "invalid JSON" });
      }
    }
    const reply = (r: ApproveResult) =>
      isForm
        ? new Response(resultPage(r.status, r.body), { status: r.status, headers: { "Content-Type": "text/html; charset=utf-8" } })
        : json(r.status, r.body);
    const key = `${method} ${path}`;
    switch (key) {
      case "POST /__test__/approve":
        return reply(this.approve(String(b.user_code ?? ""), (b.as as string | undefined) || undefined));
      case "POST /__test__/deny":
        return reply(this.deny(String(b.user_code ?? "")));
      case "GET /__test__/pending":
        return json(200, this.pending());
      case "POST /__test__/advance":
        this.clock.advance(Number(b.ms ?? 0));
        return json(200, { now: this.clock.now() });
      case "POST /__test__/fault": {
        if (typeof b.invalidBearer500 === "boolean") this.faults.invalidBearer500 = b.invalidBearer500;
        try {
          const rules = Array.isArray(b.rules) ? b.rules : "rule" in b || "respond" in b ? [b] : [];
          for (const r of rules) this.faults.add(ruleFromJson(r));
        } catch (e) {
          return json(400, { error: String((e as Error).message) });
        }
        return json(200, { armed: this.faults.size, invalidBearer500: this.faults.invalidBearer500 });
      }
      case "DELETE /__test__/fault":
        this.faults.clear();
        return json(200, { armed: 0 });
      case "POST /__test__/mint":
        try {
          const r = this.mintToken(b.as as string | undefined, b.device_label as string | undefined);
          return json(200, { token: r.token, token_id: r.tokenId });
        } catch (e) {
          return json(400, { error: String((e as Error).message) });
        }
      case "POST /__test__/revoke":
        this.revoke(String(b.token_id ?? ""));
        return json(200, { status: "revoked" });
      case "POST /__test__/options":
        this.setOption(b as unknown as Partial<FakeServerOptions>);
        return json(200, this.opts);
      case "GET /__test__/requests":
        return json(200, this.requests);
    }
    return json(404, { error: "unknown test route" });
  }

  setOption(partial: Partial<FakeServerOptions>): void {
    const merged: Record<string, unknown> = { ...this.opts };
    for (const [k, v] of Object.entries(partial)) if (v !== undefined || k === "version") merged[k] = v;
    this.opts = resolveOptions(merged as unknown as FakeServerOptions);
  }
}

export async function startFakeServer(opts: FakeServerOptions = {}): Promise<FakeServer> {
  const dify = new FakeDify(opts);
  const server = Bun.serve({
    hostname: dify.opts.hostname,
    port: dify.opts.port,
    idleTimeout: 0, // 'hang' faults and slow streams must not be cut by the server
    fetch: (req, srv) => dify.handle(req, srv),
    error: () => errorBody(500),
  });
  const port = server.port as number;
  const host = dify.opts.hostname.includes(":") ? `[${dify.opts.hostname}]` : dify.opts.hostname;
  const url = `http://${host}:${port}`;
  dify.origin = url;
  let closed = false;
  const fake: FakeServer = {
    url,
    port,
    async close() {
      if (closed) return;
      closed = true;
      dify.closeHangs();
      await server.stop(true);
    },
    clock: dify.clock,
    requests: dify.requests,
    pending: () => dify.pending(),
    approve: (userCode, as) => dify.approve(userCode, as),
    deny: (userCode) => dify.deny(userCode),
    mintToken: (as, deviceLabel) => dify.mintToken(as, deviceLabel),
    revoke: (tokenId) => dify.revoke(tokenId),
    tokenRows: () => dify.tokens.rows,
    faults: dify.faults,
    accounts: dify.fx.accounts,
    workspaces: dify.fx.workspaces,
    apps: dify.fx.apps,
    ssoSubjects: dify.fx.ssoSubjects,
    get options() {
      return dify.opts;
    },
    setOption: (partial) => dify.setOption(partial),
    files: dify.files,
    tasks: dify.tasks,
  };
  return fake;
}

/** What a run saw of one file (the fake's outputs echo it, so tests can check what arrived). */
function fileSummary(variable: string, r: ResolvedFile): Record<string, unknown> {
  return {
    variable, filename: r.filename, extension: r.extension, type: r.type, transfer_method: r.transferMethod,
    ...(r.uploadFileId ? { upload_file_id: r.uploadFileId, size: r.size, sha256: r.sha256 } : {}), ...(r.url ? { url: r.url } : {}),
  };
}

/** June's workflow answer to inputs the worker rejects: an `error` event, then nothing until the idle timeout. */
function workflowErrorStream(message: string, signal: AbortSignal): Response {
  const enc = new TextEncoder();
  return new Response(new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(enc.encode(`event: ping\n\ndata: ${JSON.stringify({ event: "error", message, status: 500 })}\n\n`));
      signal.addEventListener("abort", () => { try { c.close(); } catch { /* gone */ } }, { once: true });
    },
  }), { headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache" } });
}

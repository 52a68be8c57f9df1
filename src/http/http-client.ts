import { userAgent } from "../cli/build-info.ts";
import { CliError, type ErrorCode } from "../cli/errors.ts";
import type { SubjectType } from "../storage/hosts-file.ts";
import { redact } from "../ui/redact.ts";
import { parseServerJson } from "./bounded-json.ts";
import { type Env, TLS_DISABLED_WARNING, tlsVerificationDisabled, transportError } from "./transport-error.ts";
import { commandsFor, SUBJECTS } from "../auth/identity.ts";

export const API_PREFIX = "/openapi/v1";
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * DIFY_HTTP_TIMEOUT (seconds, fractions allowed): the time one HTTP request may take, headers and
 * body, instead of 30 s. Built-in shorter limits (logout's 5 s revoke) still apply.
 */
export function envTimeoutMs(env: Record<string, string | undefined> = process.env): number | null {
  const raw = (env.DIFY_HTTP_TIMEOUT ?? "").trim();
  if (raw === "") return null;
  const s = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
  if (!(s > 0 && s <= 86_400)) {
    throw new CliError("config_invalid_value", `DIFY_HTTP_TIMEOUT must be a number of seconds between 0 and 86400 (got '${raw.slice(0, 40)}')`);
  }
  return Math.max(1, Math.round(s * 1000));
}
const MAX_BODY_BYTES = 16 << 20;
const RATE_LIMIT_MAX_TRIES = 3;
const RATE_LIMIT_MAX_WAIT_S = 60;
const GET_RETRY_DELAYS_MS = [500, 1000, 2000];

/** A server error body, in whichever of the four shapes Dify servers send (RFC 8628, ErrorBody, werkzeug, Flask-Login). */
export interface ServerError {
  code?: string;
  message?: string;
  hint?: string;
  details?: unknown;
  retryAfterMs?: number;
}

export function parseErrorBody(text: string): ServerError {
  let j: unknown;
  // A malformed error body says nothing more than its status does.
  try { j = parseServerJson(text); } catch { return {}; }
  if (typeof j !== "object" || j === null || Array.isArray(j)) return {};
  const o = j as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === "string" ? v : undefined);
  // RFC 8628 shape {"error": code} and the v1.0 per-token 429 {"error":"rate_limited","retry_after_ms"}.
  if (typeof o.error === "string") {
    return { code: o.error, message: s(o.error_description), retryAfterMs: typeof o.retry_after_ms === "number" ? o.retry_after_ms : undefined };
  }
  // ErrorBody (June), generic werkzeug (v1.0) and Flask-Login {"code","message"}.
  return { code: s(o.code), message: s(o.message), hint: s(o.hint), details: Array.isArray(o.details) ? o.details : o.params };
}

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Return the Response once the status is 2xx (streams); the caller reads the body. */
  raw?: boolean;
  /** Retry 5xx/transport failures with backoff; defaults to true for GET. */
  retry?: boolean;
  /** Error responses are returned (not thrown) for these statuses. */
  acceptStatus?: number[];
  signal?: AbortSignal;
  timeoutMs?: number;
  /** A body sent as is instead of JSON (a file upload): its type and exact length go in the headers. */
  rawBody?: { stream: ReadableStream<Uint8Array> | Blob; contentType: string; length: number };
}

export interface HttpClientOptions {
  baseUrl: string;
  bearer?: string;
  fetch?: typeof fetch;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called once on a 401 before auth_expired is thrown (clears the local session). */
  onUnauthorized?: () => Promise<void> | void;
  signal?: AbortSignal;
  debug?: (line: string) => void;
  timeoutMs?: number;
  /** Who the bearer belongs to, so a refusal can say which commands this session can use. */
  subjectType?: SubjectType;
  /** The bearer came from DIFY_TOKEN: a 401 tells the user to fix the variable, not to log in. */
  envToken?: boolean;
  /** The environment fetch reads its proxy and TLS settings from (default: the process's). */
  env?: Env;
  /** A line for stderr that is not an error (the TLS-verification-off warning). */
  warn?: (line: string) => void;
}

/** Environments already warned about disabled TLS checks: once per run (one process, one env). */
const tlsWarned = new WeakSet<Env>();

export interface ErrorContext { subjectType?: SubjectType; envToken?: boolean }

export interface HttpResult<T = unknown> { status: number; headers: Headers; body: T }

function headersDeadline(ms: number): { signal: AbortSignal; clear(): void } {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(new DOMException("The operation timed out.", "TimeoutError")), ms);
  (t as { unref?: () => void }).unref?.();
  return { signal: ac.signal, clear: () => clearTimeout(t) };
}

export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CliError("cancelled", "cancelled"));
    const t = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(new CliError("cancelled", "cancelled")); };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

async function readCapped(res: Response): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > MAX_BODY_BYTES) {
      try { await reader.cancel(); } catch { /* ignore */ }
      throw new CliError("unknown", `the server sent a response larger than ${MAX_BODY_BYTES >> 20} MiB`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

export function retryAfterSeconds(headers: Headers, body: ServerError, now: number = Date.now()): number | null {
  const h = headers.get("retry-after");
  if (h !== null && /^\s*\d+(\.\d+)?\s*$/.test(h)) return Number(h);
  // RFC 9110 also allows an HTTP date.
  if (h !== null && /[a-z]/i.test(h) && !Number.isNaN(Date.parse(h))) return Math.max(0, Math.ceil((Date.parse(h) - now) / 1000));
  if (body.retryAfterMs !== undefined && body.retryAfterMs >= 0) return body.retryAfterMs / 1000;
  return null;
}

/** Maps a non-2xx response to an error code, message and next step. */
export function errorForStatus(status: number, se: ServerError, ec: ErrorContext = {}): CliError {
  const server = se.message && se.message !== se.code ? se.message : se.code;
  const detail = server ? `: ${server}` : "";
  if (status === 401 && ec.envToken) {
    return new CliError("auth_expired", "the token in DIFY_TOKEN was rejected (expired or revoked)", {
      hint: "set DIFY_TOKEN to a valid token, or unset DIFY_TOKEN, DIFY_HOST and DIFY_WORKSPACE_ID and run 'difyctl auth login'", httpStatus: 401,
    });
  }
  if (status === 401) {
    return new CliError("auth_expired", "session expired or revoked; run 'difyctl auth login' to sign in again.", { hint: "run 'difyctl auth login'", httpStatus: 401 });
  }
  if (status === 429 && se.code === "rate_limit_error") {
    // A quota of the app's model provider, not per-token throttling: waiting seconds will not help.
    return new CliError("rate_limited", `the app hit its rate limit or quota${detail}`, { hint: "try again later, or check the app's model provider quota in Dify", httpStatus: 429 });
  }
  if (status === 429) {
    const wait = se.retryAfterMs !== undefined ? `wait ${Math.ceil(se.retryAfterMs / 1000)} s` : "wait a minute";
    return new CliError("rate_limited", `rate limited by the server${detail}`, { hint: `${wait} and try again`, httpStatus: 429 });
  }
  if (status >= 500) {
    return new CliError("server_5xx", `the server failed (HTTP ${status})${detail}`, { hint: "try again later; nothing was changed locally", httpStatus: status });
  }
  if (status === 403 && se.message === "unsupported_token_type") {
    const kind = ec.subjectType ? SUBJECTS[ec.subjectType].session : "this kind of session";
    return new CliError("server_4xx_other", `the server does not accept ${kind} for this request (unsupported_token_type)`, { hint: commandsFor(ec.subjectType), httpStatus: 403 });
  }
  if (status === 403 && se.message?.startsWith("wrong_surface")) {
    return new CliError("server_4xx_other", `the server says this session targets another surface (${se.message})`, { httpStatus: 403 });
  }
  if (status >= 300 && status < 400) {
    return new CliError("unknown", `the server answered with a redirect (HTTP ${status}); difyctl does not follow redirects`, { hint: "check the host URL (is it the API address of your Dify server?)", httpStatus: status });
  }
  return new CliError("server_4xx_other", `request failed (HTTP ${status})${detail}`, { hint: se.hint, httpStatus: status });
}

/** The one HTTP client: UA, bearer, timeouts, retries, 401/429/5xx mapping, redaction. */
export class HttpClient {
  readonly baseUrl: string;
  private readonly o: HttpClientOptions;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private unauthorizedHandled = false;

  constructor(o: HttpClientOptions) {
    this.o = o;
    this.baseUrl = o.baseUrl.replace(/\/+$/, "");
    this.fetchFn = o.fetch ?? fetch;
    this.sleep = o.sleep ?? defaultSleep;
  }

  url(path: string, query?: RequestOptions["query"]): string {
    const u = new URL(this.baseUrl + API_PREFIX + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  private debug(line: string): void {
    this.o.debug?.(redact(line));
  }

  get<T = unknown>(path: string, opts: RequestOptions = {}): Promise<HttpResult<T>> {
    return this.request<T>("GET", path, opts);
  }

  post<T = unknown>(path: string, body: unknown, opts: RequestOptions = {}): Promise<HttpResult<T>> {
    return this.request<T>("POST", path, { ...opts, body });
  }

  delete<T = unknown>(path: string, opts: RequestOptions = {}): Promise<HttpResult<T>> {
    return this.request<T>("DELETE", path, opts);
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResult<T>> {
    const retry = opts.retry ?? method === "GET";
    let rateTries = 0;
    let failures = 0;
    const signal = opts.signal ?? this.o.signal;
    for (;;) {
      try {
        const res = await this.once(method, path, opts, signal);
        if (res.status === 429 && !(opts.acceptStatus ?? []).includes(429)) {
          const text = await readCapped(res).catch(() => "");
          const se = parseErrorBody(text);
          const wait = retryAfterSeconds(res.headers, se);
          // Per-token throttling ("too_many_requests") is worth waiting for; a quota error is not.
          const retryable = se.code === "too_many_requests" || se.code === "rate_limited";
          rateTries++;
          if (retryable && wait !== null && wait <= RATE_LIMIT_MAX_WAIT_S && rateTries < RATE_LIMIT_MAX_TRIES) {
            this.debug(`debug: 429, retrying after ${wait}s`);
            await this.sleep(Math.max(0, wait * 1000), signal);
            continue;
          }
          throw errorForStatus(429, { ...se, retryAfterMs: wait === null ? undefined : wait * 1000 }, this.o);
        }
        return await this.finish<T>(res, opts);
      } catch (e) {
        const ce = e instanceof CliError ? e : new CliError("unknown", String(e));
        const transient: ErrorCode[] = ["server_5xx", "network_timeout", "network_connection", "network_dns"];
        failures++;
        if (retry && transient.includes(ce.code) && failures <= GET_RETRY_DELAYS_MS.length && !signal?.aborted) {
          const delay = GET_RETRY_DELAYS_MS[failures - 1];
          this.debug(`debug: ${ce.code}, retry ${failures} in ${delay}ms`);
          await this.sleep(delay, signal);
          continue;
        }
        throw ce;
      }
    }
  }

  private async once(method: string, path: string, opts: RequestOptions, signal?: AbortSignal): Promise<Response> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { "User-Agent": userAgent(), Accept: "application/json", ...opts.headers };
    if (this.o.bearer) headers.Authorization = `Bearer ${this.o.bearer}`;
    let body: string | ReadableStream<Uint8Array> | Blob | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    } else if (opts.rawBody) {
      headers["Content-Type"] = opts.rawBody.contentType;
      // A known length, not chunked encoding: every server and proxy takes it.
      headers["Content-Length"] = String(opts.rawBody.length);
      body = opts.rawBody.stream;
    }
    const env = this.o.env ?? process.env;
    const envMs = envTimeoutMs(env);
    const ms = Math.min(opts.timeoutMs ?? this.o.timeoutMs ?? envMs ?? DEFAULT_TIMEOUT_MS, envMs ?? Infinity);
    // A stream (raw) can rightly run for minutes: for it the deadline covers only the wait for
    // the headers; the stream reader watches for silence instead (sse.ts).
    const deadline = opts.raw ? headersDeadline(ms) : { signal: AbortSignal.timeout(ms), clear() {} };
    const timeout = deadline.signal;
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    if (url.startsWith("https:") && tlsVerificationDisabled(env) && !tlsWarned.has(env)) {
      tlsWarned.add(env);
      this.o.warn?.(TLS_DISABLED_WARNING);
    }
    const started = Date.now();
    this.debug(`debug: > ${method} ${url} ${JSON.stringify({ ...headers, Authorization: headers.Authorization ? "Bearer ***" : undefined })}`);
    let res: Response;
    try {
      // Redirects are never followed: the bearer must not travel to another origin.
      res = await this.fetchFn(url, { method, headers, body, redirect: "manual", signal: combined, ...(body instanceof ReadableStream ? { duplex: "half" } : {}) } as RequestInit);
    } catch (e) {
      if (signal?.aborted) throw new CliError("cancelled", "cancelled");
      throw transportError(e, url, timeout.aborted, env);
    }
    if (res.ok) deadline.clear();
    this.debug(`debug: < ${res.status} ${method} ${url} (${Date.now() - started}ms)`);
    return res;
  }

  private async finish<T>(res: Response, opts: RequestOptions): Promise<HttpResult<T>> {
    const ok = res.status >= 200 && res.status < 300;
    if (ok && opts.raw) return { status: res.status, headers: res.headers, body: res as unknown as T };
    let text: string;
    try { text = await readCapped(res); } catch (e) {
      if (e instanceof CliError) throw e;
      if ((e as { name?: string })?.name === "TimeoutError") {
        throw new CliError("network_timeout", "the server took too long to send its response", { hint: "check the network, or raise DIFY_HTTP_TIMEOUT" });
      }
      throw new CliError("network_connection", "the connection dropped while reading the response", { hint: "try again" });
    }
    if (ok || (opts.acceptStatus ?? []).includes(res.status)) {
      if (text.trim() === "") return { status: res.status, headers: res.headers, body: {} as T };
      try {
        return { status: res.status, headers: res.headers, body: parseServerJson(text) as T };
      } catch (e) {
        if (!ok) return { status: res.status, headers: res.headers, body: {} as T };
        if (e instanceof CliError) throw e;
        throw new CliError("unknown", `the server sent a response that is not JSON (HTTP ${res.status})`, { hint: "check that the host is a Dify server", httpStatus: res.status });
      }
    }
    const se = parseErrorBody(text);
    if (res.status === 401 && this.o.onUnauthorized && !this.unauthorizedHandled) {
      this.unauthorizedHandled = true;
      try { await this.o.onUnauthorized(); } catch { /* clearing is best effort (read-only dir) */ }
    }
    throw errorForStatus(res.status, se, this.o);
  }
}

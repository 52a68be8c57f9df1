import { userAgent } from "./build-info.ts";
import { CliError, type ErrorCode } from "./errors.ts";
import { redact } from "./redact.ts";

export const API_PREFIX = "/openapi/v1";
const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 16 << 20;
const RATE_LIMIT_MAX_TRIES = 3;
const RATE_LIMIT_MAX_WAIT_S = 60;
const GET_RETRY_DELAYS_MS = [500, 1000, 2000];

/** A server error body, whichever of the four shapes of the contract it came in. */
export interface ServerError {
  code?: string;
  message?: string;
  hint?: string;
  details?: unknown;
  retryAfterMs?: number;
}

export function parseErrorBody(text: string): ServerError {
  let j: unknown;
  try { j = JSON.parse(text); } catch { return {}; }
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
}

export interface HttpResult<T = unknown> { status: number; headers: Headers; body: T }

function transportError(e: unknown, url: string, timedOut: boolean): CliError {
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  const code = err?.code ?? err?.cause?.code ?? "";
  const origin = (() => { try { return new URL(url).host; } catch { return "the server"; } })();
  if (timedOut || err?.name === "TimeoutError" || code === "ETIMEDOUT" || code === "UND_ERR_CONNECT_TIMEOUT") {
    return new CliError("network_timeout", `request to ${origin} timed out`, { hint: "check the network, or the server may be overloaded" });
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") {
    return new CliError("network_dns", `cannot resolve ${origin}`, { hint: "check the host name and your DNS" });
  }
  return new CliError("network_connection", `cannot reach ${origin}${code ? ` (${code})` : ""}`, { hint: "check the host URL and that the server is up" });
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

function retryAfterSeconds(headers: Headers, body: ServerError): number | null {
  const h = headers.get("retry-after");
  if (h !== null && /^\s*\d+(\.\d+)?\s*$/.test(h)) return Number(h);
  if (body.retryAfterMs !== undefined && body.retryAfterMs >= 0) return body.retryAfterMs / 1000;
  return null;
}

/** Maps a non-2xx response to the CLI error model (DESIGN.md §Error model). */
export function errorForStatus(status: number, se: ServerError): CliError {
  const server = se.message && se.message !== se.code ? se.message : se.code;
  const detail = server ? `: ${server}` : "";
  if (status === 401) {
    return new CliError("auth_expired", "session expired or revoked; run 'difyctl auth login' to sign in again.", { hint: "run 'difyctl auth login'", httpStatus: 401 });
  }
  if (status === 429) {
    return new CliError("rate_limited", `rate limited by the server${detail}`, { hint: "wait a minute and try again", httpStatus: 429 });
  }
  if (status >= 500) {
    return new CliError("server_5xx", `the server failed (HTTP ${status})${detail}`, { hint: "try again later; nothing was changed locally", httpStatus: status });
  }
  if (status === 403 && se.message === "unsupported_token_type") {
    return new CliError("server_4xx_other", "the server does not accept this kind of session for this command (unsupported_token_type)", {
      hint: "account sessions (dfoa_) use 'get apps'/'run app'; external SSO sessions (dfoe_) use 'get permitted-external-apps'", httpStatus: 403,
    });
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
    let attempt = 0;
    const signal = opts.signal ?? this.o.signal;
    for (;;) {
      attempt++;
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
          throw errorForStatus(429, se);
        }
        return await this.finish<T>(res, opts);
      } catch (e) {
        const ce = e instanceof CliError ? e : new CliError("unknown", String(e));
        const transient: ErrorCode[] = ["server_5xx", "network_timeout", "network_connection", "network_dns"];
        if (retry && transient.includes(ce.code) && attempt <= GET_RETRY_DELAYS_MS.length && !signal?.aborted) {
          const delay = GET_RETRY_DELAYS_MS[attempt - 1];
          this.debug(`debug: ${ce.code}, retry ${attempt} in ${delay}ms`);
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
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const started = Date.now();
    this.debug(`debug: > ${method} ${url} ${JSON.stringify({ ...headers, Authorization: headers.Authorization ? "Bearer ***" : undefined })}`);
    let res: Response;
    try {
      // Redirects are never followed: the bearer must not travel to another origin.
      res = await this.fetchFn(url, { method, headers, body, redirect: "manual", signal: combined });
    } catch (e) {
      if (signal?.aborted) throw new CliError("cancelled", "cancelled");
      throw transportError(e, url, timeout.aborted);
    }
    this.debug(`debug: < ${res.status} ${method} ${url} (${Date.now() - started}ms)`);
    return res;
  }

  private async finish<T>(res: Response, opts: RequestOptions): Promise<HttpResult<T>> {
    const ok = res.status >= 200 && res.status < 300;
    if (ok && opts.raw) return { status: res.status, headers: res.headers, body: res as unknown as T };
    let text: string;
    try { text = await readCapped(res); } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError("network_connection", "the connection dropped while reading the response", { hint: "try again" });
    }
    if (ok || (opts.acceptStatus ?? []).includes(res.status)) {
      if (text.trim() === "") return { status: res.status, headers: res.headers, body: {} as T };
      try {
        return { status: res.status, headers: res.headers, body: JSON.parse(text) as T };
      } catch {
        if (!ok) return { status: res.status, headers: res.headers, body: {} as T };
        throw new CliError("unknown", `the server sent a response that is not JSON (HTTP ${res.status})`, { hint: "check that the host is a Dify server" });
      }
    }
    const se = parseErrorBody(text);
    if (res.status === 401 && this.o.onUnauthorized && !this.unauthorizedHandled) {
      this.unauthorizedHandled = true;
      try { await this.o.onUnauthorized(); } catch { /* clearing is best effort (read-only dir) */ }
    }
    throw errorForStatus(res.status, se);
  }
}

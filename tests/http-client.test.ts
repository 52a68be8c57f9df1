import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CliError, renderError } from "../src/cli/errors.ts";
import { errorForStatus, HttpClient, parseErrorBody, retryAfterSeconds } from "../src/http/http-client.ts";
import { type FakeServer, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, login, run, signedIn, tempDir } from "./helpers.ts";

// ── unit: a scripted fetch and a recording sleep, so no test waits for real ─────────────────────

type Step = { status: number; body?: unknown; headers?: Record<string, string> } | Error;

function scripted(steps: Step[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const sleeps: number[] = [];
  let unauthorized = 0;
  const fetchFn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const s = steps.shift();
    if (!s) throw new Error("no more scripted responses");
    if (s instanceof Error) throw s;
    const text = s.body === undefined ? "" : typeof s.body === "string" ? s.body : JSON.stringify(s.body);
    return new Response(text, { status: s.status, headers: s.headers });
  }) as unknown as typeof fetch;
  const make = (o: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}) => new HttpClient({
    baseUrl: "https://dify.example.com", bearer: "dfoa_" + "s".repeat(43), fetch: fetchFn,
    sleep: async (ms) => { sleeps.push(ms); }, onUnauthorized: () => { unauthorized++; }, ...o,
  });
  return { calls, sleeps, make, unauthorized: () => unauthorized };
}

async function failure(p: Promise<unknown>): Promise<CliError> {
  try { await p; } catch (e) { return e as CliError; }
  throw new Error("expected a failure");
}

const tooMany = (ra?: string): Step => ({
  status: 429, body: { code: "too_many_requests", message: "This user has exceeded an allotted request count. Try again later.", status: 429 },
  headers: ra === undefined ? {} : { "Retry-After": ra },
});

describe("error mapping of each contract error body (unit)", () => {
  test("RFC {error}, ErrorBody, generic v1.0, Flask-Login and v1.0 per-token 429 are all read", () => {
    expect(parseErrorBody('{"error":"slow_down"}')).toMatchObject({ code: "slow_down" });
    expect(parseErrorBody('{"code":"not_found","message":"session not found","status":404}')).toMatchObject({ code: "not_found", message: "session not found" });
    expect(parseErrorBody('{"code":"invalid_param","message":"Request validation failed","status":422,"hint":"h","details":[{"type":"missing","loc":["x"],"msg":"m"}]}'))
      .toMatchObject({ code: "invalid_param", hint: "h", details: [{ type: "missing" }] });
    expect(parseErrorBody('{"code":"invalid_param","message":"m","params":"limit","status":400}')).toMatchObject({ details: "limit" });
    expect(parseErrorBody('{"code":"unauthorized","message":"Unauthorized."}')).toMatchObject({ code: "unauthorized" });
    expect(parseErrorBody('{"error":"rate_limited","retry_after_ms":2000}')).toMatchObject({ code: "rate_limited", retryAfterMs: 2000 });
    expect(parseErrorBody("<html>")).toEqual({});
  });

  test("each status → code and exit", () => {
    const cases: [number, object, string, number][] = [
      [401, { code: "unauthorized", message: "invalid bearer" }, "auth_expired", 4],
      [401, { code: "unauthorized", message: "Unauthorized." }, "auth_expired", 4],
      [403, { code: "forbidden", message: "unsupported_token_type" }, "server_4xx_other", 1],
      [403, { code: "forbidden", message: "wrong_surface (canonical: /openapi/v1/permitted-external-apps)" }, "server_4xx_other", 1],
      [404, { code: "not_found", message: "session not found" }, "server_4xx_other", 1],
      [422, { code: "invalid_param", message: "Request validation failed" }, "server_4xx_other", 1],
      [400, { code: "slow_down" }, "server_4xx_other", 1],
      [429, { code: "too_many_requests" }, "rate_limited", 7],
      [429, { code: "rate_limit_error", message: "Rate Limit Error" }, "rate_limited", 7],
      [500, { code: "internal_server_error", message: "Internal Server Error" }, "server_5xx", 1],
      [503, { message: "bearer_auth_disabled: set ENABLE_OAUTH_BEARER=true to enable" }, "server_5xx", 1],
    ];
    for (const [status, body, code, exit] of cases) {
      const e = errorForStatus(status, body);
      expect([status, e.code, e.exitCode, e.httpStatus]).toEqual([status, code, exit, status]);
    }
    expect(errorForStatus(404, { code: "not_found", message: "session not found" }).message).toContain("session not found");
    expect(errorForStatus(403, { message: "wrong_surface (canonical: /openapi/v1/apps)" }).message).toContain("canonical: /openapi/v1/apps");
  });

  test("403 unsupported_token_type is explained for the session at hand", () => {
    const sso = errorForStatus(403, { code: "forbidden", message: "unsupported_token_type" }, { subjectType: "external_sso" });
    expect(sso.message).toBe("the server does not accept an external SSO (dfoe_) session for this request (unsupported_token_type)");
    expect(sso.hint).toContain("get permitted-external-apps");
    const acct = errorForStatus(403, { code: "forbidden", message: "unsupported_token_type" }, { subjectType: "account" });
    expect(acct.message).toContain("an account (dfoa_) session");
    expect(acct.hint).toContain("get apps");
  });

  test("quota 429 says quota; throttling 429 names the wait", () => {
    expect(errorForStatus(429, { code: "rate_limit_error", message: "Rate Limit Error" }).message).toContain("quota");
    expect(errorForStatus(429, { code: "too_many_requests", retryAfterMs: 120_000 }).hint).toBe("wait 120 s and try again");
  });

  test("Retry-After: seconds, HTTP date, body retry_after_ms, junk", () => {
    const now = Date.parse("2026-06-01T12:00:00Z");
    expect(retryAfterSeconds(new Headers({ "Retry-After": "7" }), {}, now)).toBe(7);
    expect(retryAfterSeconds(new Headers({ "Retry-After": "Mon, 01 Jun 2026 12:00:05 GMT" }), {}, now)).toBe(5);
    expect(retryAfterSeconds(new Headers(), { retryAfterMs: 3000 }, now)).toBe(3);
    expect(retryAfterSeconds(new Headers({ "Retry-After": "-1" }), {}, now)).toBeNull();
  });

  test("a server message echoing a token is redacted in every rendering", () => {
    const e = errorForStatus(400, { code: "bad_request", message: "bad token dfoa_" + "q".repeat(43) });
    expect(renderError(e, true)).not.toContain("qqqq");
    expect(renderError(e, false)).not.toContain("qqqq");
  });
});

describe("HttpClient behaviour (unit)", () => {
  test("401: onUnauthorized once, auth_expired, never retried", async () => {
    const t = scripted([{ status: 401, body: { code: "unauthorized", message: "invalid bearer", status: 401 }, headers: { "WWW-Authenticate": 'Bearer realm="api"' } }]);
    const e = await failure(t.make().get("/account/sessions"));
    expect([e.code, e.exitCode]).toEqual(["auth_expired", 4]);
    expect(t.calls).toHaveLength(1);
    expect(t.unauthorized()).toBe(1);
    expect(t.sleeps).toEqual([]);
  });

  test("401 with an environment token: the message names DIFY_TOKEN", async () => {
    const t = scripted([{ status: 401, body: { code: "unauthorized", message: "invalid bearer" } }]);
    const e = await failure(t.make({ envToken: true, onUnauthorized: undefined }).get("/x"));
    expect(e.code).toBe("auth_expired");
    expect(e.message).toContain("DIFY_TOKEN");
  });

  test("GET: 5xx and transport errors retried with backoff, then server_5xx; nothing cleared", async () => {
    const refused = Object.assign(new TypeError("fetch failed"), { code: "ECONNREFUSED" });
    const t = scripted([{ status: 502 }, refused, { status: 503 }, { status: 500, body: { code: "internal_server_error", message: "Internal Server Error", status: 500 } }]);
    const e = await failure(t.make().get("/x"));
    expect([e.code, e.httpStatus]).toEqual(["server_5xx", 500]);
    expect(t.calls).toHaveLength(4);
    expect(t.sleeps).toEqual([500, 1000, 2000]);
    expect(t.unauthorized()).toBe(0);
  });

  test("POST and DELETE are not retried on 5xx", async () => {
    const t = scripted([{ status: 500 }, { status: 500 }]);
    expect((await failure(t.make().delete("/account/sessions/x"))).code).toBe("server_5xx");
    expect((await failure(t.make().post("/x", {}))).code).toBe("server_5xx");
    expect(t.calls).toHaveLength(2);
  });

  test("429 too_many_requests honours Retry-After, at most 3 tries, then rate_limited exit 7", async () => {
    const t = scripted([tooMany("2"), tooMany("1"), tooMany("1")]);
    const e = await failure(t.make().get("/x"));
    expect([e.code, e.exitCode, e.httpStatus]).toEqual(["rate_limited", 7, 429]);
    expect(t.calls).toHaveLength(3);
    expect(t.sleeps).toEqual([2000, 1000]);
  });

  test("429 then success; the v1.0 body's retry_after_ms is honoured too", async () => {
    const t = scripted([{ status: 429, body: { error: "rate_limited", retry_after_ms: 4000 } }, { status: 200, body: { ok: true } }]);
    expect((await t.make().get("/x")).body).toEqual({ ok: true });
    expect(t.sleeps).toEqual([4000]);
  });

  test("429 with Retry-After over 60 s, or without one, is not waited for", async () => {
    const t = scripted([tooMany("61"), tooMany()]);
    const e = await failure(t.make().get("/x"));
    expect(e.hint).toBe("wait 61 s and try again");
    expect((await failure(t.make().get("/x"))).code).toBe("rate_limited");
    expect(t.sleeps).toEqual([]);
  });

  test("quota 429 (rate_limit_error) is not retried even with Retry-After", async () => {
    const t = scripted([{ status: 429, body: { code: "rate_limit_error", message: "Rate Limit Error", status: 429 }, headers: { "Retry-After": "1" } }]);
    const e = await failure(t.make().post("/apps/x/run", {}));
    expect(e.code).toBe("rate_limited");
    expect(t.calls).toHaveLength(1);
    expect(t.sleeps).toEqual([]);
  });

  test("waiting out a 429 does not use up the 5xx retries", async () => {
    const t = scripted([tooMany("0"), { status: 500 }, { status: 500 }, { status: 500 }, { status: 200, body: {} }]);
    expect((await t.make().get("/x")).status).toBe(200);
    expect(t.sleeps).toEqual([0, 500, 1000, 2000]);
  });

  test("redirects are not followed and the bearer goes only to the base URL", async () => {
    const t = scripted([{ status: 302, headers: { Location: "https://evil.example.net/" } }]);
    const e = await failure(t.make().get("/x"));
    expect(e.code).toBe("unknown");
    expect(t.calls[0].init.redirect).toBe("manual");
    expect(t.calls[0].url).toBe("https://dify.example.com/openapi/v1/x");
    expect((t.calls[0].init.headers as Record<string, string>).Authorization).toMatch(/^Bearer dfoa_/);
  });
});

// ── end to end against the fake server ──────────────────────────────────────────────────────

let s: FakeServer;
let dir: string;
beforeAll(async () => {
  ({ server: s, dir } = await signedIn());
});
afterAll(async () => { await s.close(); });

const sessionGets = () => s.requests.filter((r) => r.method === "GET" && r.path.endsWith("/account/sessions"));
const june429 = (ra: string) => ({ status: 429, body: { code: "too_many_requests", message: "This user has exceeded an allotted request count. Try again later.", status: 429 }, headers: { "Retry-After": ra } });

describe("rate limiting through the binary", () => {
  test("Retry-After: 1 is honoured: the retry arrives at least 1 s later and succeeds", async () => {
    s.faults.add({ match: { method: "GET", path: "/account/sessions" }, respond: june429("1") });
    const before = sessionGets().length;
    const r = await run(["auth", "devices", "list", "--json"], { env: baseEnv(dir) });
    expect(r.code).toBe(0);
    const got = sessionGets().slice(before);
    expect(got).toHaveLength(2);
    expect(got[1].time - got[0].time).toBeGreaterThanOrEqual(1000);
  });

  test("v1.0 body: three 429s → rate_limited exit 7 after three tries, each ≥ Retry-After apart", async () => {
    s.faults.add({ match: { method: "GET", path: "/account/sessions" }, times: 3, respond: { status: 429, body: { error: "rate_limited", retry_after_ms: 1000 }, headers: { "Retry-After": "1" } } });
    const before = sessionGets().length;
    const r = await run(["auth", "devices", "list", "--json"], { env: baseEnv(dir) });
    expect(r.code).toBe(7);
    expect(envelope(r.stderr)).toMatchObject({ code: "rate_limited", http_status: 429 });
    const got = sessionGets().slice(before);
    expect(got).toHaveLength(3);
    expect(got[1].time - got[0].time).toBeGreaterThanOrEqual(1000);
    expect(got[2].time - got[1].time).toBeGreaterThanOrEqual(1000);
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).toContain("token_id"); // never cleared
  }, 15_000);

  test("quota 429 (rate_limit_error) is not retried: one request, exit 7", async () => {
    s.faults.add({ match: { method: "GET", path: "/account/sessions" }, respond: { status: 429, body: { code: "rate_limit_error", message: "Rate Limit Error", status: 429 }, headers: { "Retry-After": "1" } } });
    const before = sessionGets().length;
    const r = await run(["auth", "devices", "list", "--json"], { env: baseEnv(dir) });
    expect(r.code).toBe(7);
    expect(envelope(r.stderr).message).toContain("quota");
    expect(sessionGets().length - before).toBe(1);
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliError, type ErrorCode, renderError } from "../src/cli/errors.ts";
import { errorForStatus, HttpClient, parseErrorBody, retryAfterSeconds } from "../src/http/http-client.ts";
import { proxyFor, TLS_DISABLED_WARNING, transportError } from "../src/http/transport-error.ts";
import { type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
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

describe("error mapping of each server error body shape (unit)", () => {
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
    const cases: [number, object, ErrorCode, number][] = [
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

// ── TLS, private CAs and proxies ────────────────────────────────────────────────────────────

describe("transport errors (unit)", () => {
  const fail = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new TypeError("fetch failed"), { code, ...extra });
  const url = "https://dify.example.com/openapi/v1/_version";

  test("certificate failures are network_tls (exit 1) with a hint naming NODE_EXTRA_CA_CERTS and SSL_CERT_FILE", () => {
    for (const code of ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "CERT_UNTRUSTED"]) {
      const e = transportError(fail(code), url, false, {});
      expect([code, e.code, e.exitCode]).toEqual([code, "network_tls", 1]);
      expect(e.message).toBe(`cannot verify the TLS certificate of dify.example.com (${code})`);
      expect(e.hint).toContain("NODE_EXTRA_CA_CERTS");
      expect(e.hint).toContain("SSL_CERT_FILE");
    }
    expect(transportError(fail("ERR_TLS_CERT_ALTNAME_INVALID"), url, false, {}).message).toContain("for another host name");
    expect(transportError(fail("CERT_HAS_EXPIRED"), url, false, {}).hint).toContain("clock");
  });

  test("a failed handshake on an https URL suggests the server speaks http://", () => {
    const e = transportError(fail("EPROTO"), url, false, {});
    expect([e.code, e.exitCode]).toEqual(["network_tls", 1]);
    expect(e.hint).toContain("http://dify.example.com");
  });

  test("with a proxy in effect, a refused connection or an unknown proxy name is the proxy's; credentials are never shown", () => {
    const env = { HTTPS_PROXY: "http://user:secret@proxy.corp:3128" };
    const refused = transportError(fail("ECONNREFUSED"), url, false, env);
    expect([refused.code, refused.message]).toEqual(["network_connection", "cannot reach the proxy proxy.corp:3128 set in HTTPS_PROXY (ECONNREFUSED)"]);
    expect(refused.hint).toContain("NO_PROXY");
    const dns = transportError(fail("ENOTFOUND", { hostname: "proxy.corp" }), url, false, env);
    expect([dns.code, dns.message]).toEqual(["network_dns", "cannot reach the proxy proxy.corp:3128 set in HTTPS_PROXY (ENOTFOUND)"]);
    const tunnel = transportError(Object.assign(new Error("Proxy refused to open a tunnel: 502 Bad Gateway"), { code: "ERR_PROXY_TUNNEL" }), url, false, env);
    expect(tunnel.message).toBe("the proxy proxy.corp:3128 (HTTPS_PROXY) would not connect to dify.example.com (502 Bad Gateway)");
    for (const e of [refused, dns, tunnel]) expect(renderError(e, true) + renderError(e, false)).not.toContain("secret");
    // Without a proxy (or bypassed by NO_PROXY) the same failure is the server's.
    expect(transportError(fail("ECONNREFUSED"), url, false, {}).message).toBe("cannot reach dify.example.com (ECONNREFUSED)");
    expect(transportError(fail("ECONNREFUSED"), url, false, { ...env, NO_PROXY: ".example.com" }).message).toBe("cannot reach dify.example.com (ECONNREFUSED)");
  });

  test("which proxy applies: lower case first, per scheme, ALL_PROXY last; NO_PROXY by host, parent domain, port or *", () => {
    const u = new URL("https://api.dify.example.com/x");
    expect(proxyFor(u, { https_proxy: "http://a:1", HTTPS_PROXY: "http://b:2" })).toEqual({ host: "a:1", variable: "https_proxy" });
    expect(proxyFor(u, { HTTP_PROXY: "http://b:2" })).toBeNull();
    expect(proxyFor(u, { HTTPS_PROXY: " ", ALL_PROXY: "c:3" })).toEqual({ host: "c:3", variable: "ALL_PROXY" });
    expect(proxyFor(new URL("http://h/x"), { HTTP_PROXY: "http://b:2" })).toEqual({ host: "b:2", variable: "HTTP_PROXY" });
    const p = { HTTPS_PROXY: "http://b:2" };
    for (const np of ["*", "api.dify.example.com", "example.com", ".example.com", "*.dify.example.com", "other, example.com", "api.dify.example.com:443"]) {
      expect([np, proxyFor(u, { ...p, NO_PROXY: np })]).toEqual([np, null]);
    }
    for (const np of ["ample.com", "api.dify.example.com:8443", "other.example.com"]) {
      expect([np, proxyFor(u, { ...p, NO_PROXY: np })]).toEqual([np, { host: "b:2", variable: "HTTPS_PROXY" }]);
    }
    expect(proxyFor(u, { ...p, NO_PROXY: "example.com", no_proxy: "other" })).not.toBeNull(); // no_proxy wins, as in Bun
  });

  test("NODE_TLS_REJECT_UNAUTHORIZED=0: one warning per run on stderr, on https only", async () => {
    const env = { NODE_TLS_REJECT_UNAUTHORIZED: "0" };
    const warned: string[] = [];
    const fetchFn = (async () => new Response("{}", { status: 200 })) as unknown as typeof fetch;
    const make = (baseUrl: string, e: Record<string, string | undefined>) => new HttpClient({ baseUrl, fetch: fetchFn, env: e, warn: (l) => warned.push(l) });
    await make("http://127.0.0.1:5001", env).get("/x");
    expect(warned).toEqual([]);
    await make("https://dify.example.com", env).get("/x");
    await make("https://dify.example.com", env).get("/y");
    expect(warned).toEqual([TLS_DISABLED_WARNING]);
    for (const v of ["1", "false", ""]) await make("https://dify.example.com", { NODE_TLS_REJECT_UNAUTHORIZED: v }).get("/x");
    expect(warned).toHaveLength(1);
  });
});

const haveOpenssl = Bun.which("openssl") !== null;
if (!haveOpenssl) console.warn("tests/http-client.test.ts: openssl not found, TLS tests skipped (apt-get install openssl)");

describe.skipIf(!haveOpenssl)("TLS, private CA and proxies through the binary", () => {
  let pki: string;
  let tlsFront: ReturnType<typeof Bun.serve>;
  let proxy: import("node:net").Server;
  let proxyPort = 0;
  const tunnels: string[] = [];
  let env: (extra?: Record<string, string>) => Record<string, string>;
  let httpsHost = "";
  let token = "";

  beforeAll(async () => {
    // A private CA and a server certificate for localhost, made fresh for this run.
    pki = tempDir("difyctl-pki-");
    const ssl = (...args: string[]) => {
      const r = Bun.spawnSync(["openssl", ...args], { cwd: pki, stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
    };
    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=difyctl test CA",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost");
    writeFileSync(join(pki, "ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
    ssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf");
    // The fake server behind TLS: every request forwarded as it came.
    tlsFront = Bun.serve({
      hostname: "127.0.0.1", port: 0,
      tls: { cert: readFileSync(join(pki, "srv.pem"), "utf8"), key: readFileSync(join(pki, "srv.key"), "utf8") },
      async fetch(req) {
        const u = new URL(req.url);
        const headers = new Headers(req.headers);
        for (const h of ["host", "accept-encoding", "connection"]) headers.delete(h);
        const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer();
        const r = await fetch(s.url + u.pathname + u.search, { method: req.method, headers, body, redirect: "manual" });
        const out = new Headers(r.headers);
        out.delete("content-encoding");
        out.delete("content-length");
        return new Response(r.body, { status: r.status, headers: out });
      },
    });
    httpsHost = `localhost:${tlsFront.port}`;
    // A CONNECT proxy: opens the tunnel, or answers 502 when the target cannot be reached.
    const net = await import("node:net");
    proxy = net.createServer((c) => {
      c.once("data", (head) => {
        const m = /^CONNECT ([^\s:]+):(\d+) HTTP/.exec(head.toString("latin1"));
        if (!m) return void c.end("HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        tunnels.push(`${m[1]}:${m[2]}`);
        const up = net.connect(Number(m[2]), m[1], () => { c.write("HTTP/1.1 200 Connection Established\r\n\r\n"); up.pipe(c); c.pipe(up); });
        up.on("error", () => c.end("HTTP/1.1 502 Bad Gateway\r\n\r\n"));
        c.on("error", () => up.destroy());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    proxyPort = (proxy.address() as import("node:net").AddressInfo).port;
    token = s.mintToken().token;
    env = (extra = {}) => baseEnv(tempDir(), { DIFY_TOKEN: token, DIFY_HOST: `https://${httpsHost}`, DIFY_WORKSPACE_ID: IDS.workspaces.acme, ...extra });
  });
  afterAll(() => {
    tlsFront?.stop(true);
    proxy?.close();
  });

  const getApps = (e: Record<string, string>) => run(["get", "apps", "--json"], { env: e });

  test("a private CA in NODE_EXTRA_CA_CERTS is trusted; so is one in SSL_CERT_FILE", async () => {
    for (const v of ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"]) {
      const r = await getApps(env({ [v]: join(pki, "ca.pem") }));
      expect([v, r.code, r.stderr]).toEqual([v, 0, ""]);
      expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
    }
  });

  test("an untrusted certificate is network_tls, exit 1, with a hint naming NODE_EXTRA_CA_CERTS; not retried", async () => {
    const t0 = performance.now();
    const r = await getApps(env());
    expect(r.code).toBe(1);
    const e = envelope(r.stderr);
    expect(e.code).toBe("network_tls");
    expect(e.message).toBe(`cannot verify the TLS certificate of ${httpsHost} (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`);
    expect(e.hint).toContain("NODE_EXTRA_CA_CERTS");
    expect(performance.now() - t0).toBeLessThan(3000); // the GET retries (3.5 s of backoff) are for transient failures only
  });

  test("a certificate for another name is network_tls", async () => {
    const r = await getApps(env({ NODE_EXTRA_CA_CERTS: join(pki, "ca.pem"), DIFY_HOST: `https://127.0.0.1:${tlsFront.port}` }));
    expect([r.code, envelope(r.stderr).code]).toEqual([1, "network_tls"]);
    expect(envelope(r.stderr).message).toContain("for another host name");
  });

  test("https:// against a plain-http port: network_tls, and the hint says the server may speak http://", async () => {
    const plain = new URL(s.url).host;
    const r = await getApps(env({ DIFY_HOST: `https://${plain}` }));
    expect(r.code).toBe(1);
    const e = envelope(r.stderr);
    expect(e.code).toBe("network_tls");
    expect(e.hint).toContain(`http://${plain}`);
  });

  test("NODE_TLS_REJECT_UNAUTHORIZED=0 works but warns once on stderr, in JSON mode too", async () => {
    const r = await getApps(env({ NODE_TLS_REJECT_UNAUTHORIZED: "0" }));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(TLS_DISABLED_WARNING + "\n");
  });

  test("through a CONNECT proxy (HTTPS_PROXY) with the private CA; NO_PROXY bypasses a dead one", async () => {
    const before = tunnels.length;
    const r = await getApps(env({ HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NODE_EXTRA_CA_CERTS: join(pki, "ca.pem") }));
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(tunnels.slice(before)).toContain(httpsHost);
    const direct = await getApps(env({ HTTPS_PROXY: "http://127.0.0.1:9", NO_PROXY: "localhost", NODE_EXTRA_CA_CERTS: join(pki, "ca.pem") }));
    expect([direct.code, direct.stderr]).toEqual([0, ""]);
  });

  test("a dead proxy is named as the proxy (never with its password); a proxy that cannot reach the server says so", async () => {
    const r = await getApps(env({ HTTPS_PROXY: "http://user:pw-secret@127.0.0.1:9", NODE_EXTRA_CA_CERTS: join(pki, "ca.pem") }));
    expect(r.code).toBe(1);
    const e = envelope(r.stderr);
    expect([e.code, e.message]).toEqual(["network_connection", "cannot reach the proxy 127.0.0.1:9 set in HTTPS_PROXY (ECONNREFUSED)"]);
    expect(e.hint).toContain("NO_PROXY");
    expect(r.stderr).not.toContain("pw-secret");
    const gone = await getApps(env({ HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, DIFY_HOST: "https://localhost:9" }));
    expect(envelope(gone.stderr).message).toBe(`the proxy 127.0.0.1:${proxyPort} (HTTPS_PROXY) would not connect to localhost:9 (502 Bad Gateway)`);
  }, 20_000);
});

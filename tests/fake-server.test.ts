// Contract tests for the fake Dify server (tests/fake/server.ts), driven with fetch.
// Time-dependent behaviour uses the injected clock; nothing sleeps for real except the one
// test that exercises a small real slowDownWindowMs.

import { afterEach, describe, expect, test } from "bun:test";
import {
  EMAILS,
  IDS,
  SSO_ISSUER,
  answerFor,
  startFakeServer,
  type FakeServer,
  type FakeServerOptions,
} from "./fake/server";

let s: FakeServer;
const servers: FakeServer[] = [];
async function start(opts: FakeServerOptions = {}): Promise<FakeServer> {
  s = await startFakeServer(opts);
  servers.push(s);
  return s;
}
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

const api = (p: string) => `${s.url}/openapi/v1${p}`;
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

async function call(method: string, path: string, opts: { body?: unknown; headers?: Record<string, string>; raw?: string } = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["Content-Type"] ??= "application/json";
  }
  const res = await fetch(path.startsWith("http") ? path : api(path), { method, headers, body });
  const text = await res.text();
  let json: any = undefined;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}
const get = (p: string, token?: string) => call("GET", p, { headers: token ? bearer(token) : {} });

async function newCode(label = "difyctl on test-host", headers: Record<string, string> = {}) {
  const r = await call("POST", "/oauth/device/code", { body: { client_id: "difyctl", device_label: label }, headers });
  expect(r.status).toBe(200);
  return r.json as { device_code: string; user_code: string; verification_uri: string; expires_in: number; interval: number };
}
const poll = (dc: string) => call("POST", "/oauth/device/token", { body: { device_code: dc, client_id: "difyctl" } });

/** Full device flow: code → approve → poll. Returns the poll payload. */
async function login(as?: string, label = "difyctl on test-host") {
  const c = await newCode(label);
  expect(s.approve(c.user_code, as).status).toBe(200);
  const r = await poll(c.device_code);
  expect(r.status).toBe(200);
  return r.json;
}

interface SseEvent {
  event?: string;
  data?: any;
  raw: string;
}
function parseSse(text: string): SseEvent[] {
  return text
    .split("\n\n")
    .filter((f) => f.length > 0)
    .map((raw) => {
      const ev: SseEvent = { raw };
      for (const line of raw.split("\n")) {
        if (line.startsWith("event: ")) ev.event = line.slice(7);
        else if (line.startsWith("data: ")) ev.data = JSON.parse(line.slice(6));
      }
      return ev;
    });
}
const run = (appId: string, body: unknown, token: string) => call("POST", `/apps/${appId}/run`, { body, headers: bearer(token) });

// ───────────────────────────── /oauth/device/code ─────────────────────────────

describe("POST /oauth/device/code", () => {
  test("returns the exact field set and formats", async () => {
    await start();
    const r = await call("POST", "/oauth/device/code", { body: { client_id: "difyctl", device_label: "difyctl on box", extra: 1 } });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(["device_code", "expires_in", "interval", "user_code", "verification_uri"]);
    expect(r.json.device_code).toMatch(/^dc_[A-Za-z0-9_-]{32}$/);
    expect(r.json.user_code).toMatch(/^[ABCDEFGHJKLMNPQRSTUVWXY3456789]{4}-[ABCDEFGHJKLMNPQRSTUVWXY3456789]{4}$/);
    expect(r.json.verification_uri).toBe(`${s.url}/device`);
    expect(r.json.expires_in).toBe(900);
    expect(r.json.interval).toBe(5);
    expect(r.headers.get("x-frame-options")).toBe("DENY");
    expect(r.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
  });

  test("honours interval / verificationBase options", async () => {
    await start({ interval: 0.1, verificationBase: "https://console.example.com/" });
    const c = await newCode();
    expect(c.interval).toBe(0.1);
    expect(c.verification_uri).toBe("https://console.example.com/device");
  });

  test("unknown client_id → 400 {error: unsupported_client} and nothing else", async () => {
    await start();
    const r = await call("POST", "/oauth/device/code", { body: { client_id: "DifyCtl", device_label: "x" } });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: "unsupported_client" });
  });

  test("form encoding and missing fields → 400 bad_request ErrorBody (no RFC key)", async () => {
    await start();
    const form = await call("POST", "/oauth/device/code", {
      raw: "client_id=difyctl&device_label=x",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    expect(form.status).toBe(400);
    expect(form.json.code).toBe("bad_request");
    expect(form.json.status).toBe(400);
    expect(form.json.error).toBeUndefined();
    const missing = await call("POST", "/oauth/device/code", { body: { client_id: "difyctl" } });
    expect(missing.status).toBe(400);
    expect(missing.json.message).toContain("device_label");
  });

  test("rate limit per IP: malformed calls count, refused calls do not, X-Forwarded-For separates clients", async () => {
    await start({ codeRateLimitPerHour: 2 });
    const ip1 = { "X-Forwarded-For": "10.0.0.1, 172.16.0.1" };
    const body = { client_id: "difyctl", device_label: "x" };
    expect((await call("POST", "/oauth/device/code", { raw: "garbage", headers: ip1 })).status).toBe(400); // counted
    s.clock.advance(40 * 60_000);
    expect((await call("POST", "/oauth/device/code", { body, headers: ip1 })).status).toBe(200);
    const refused = await call("POST", "/oauth/device/code", { body, headers: ip1 });
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual({ code: "too_many_requests", message: "rate_limited", status: 429 });
    expect(refused.headers.get("retry-after")).toBeNull();
    // another client is unaffected
    expect((await call("POST", "/oauth/device/code", { body, headers: { "X-Forwarded-For": "10.0.0.2" } })).status).toBe(200);
    // t = 61 min: the first call left the window; the refused call was never counted → one slot free
    s.clock.advance(21 * 60_000);
    expect((await call("POST", "/oauth/device/code", { body, headers: ip1 })).status).toBe(200);
    expect((await call("POST", "/oauth/device/code", { body, headers: ip1 })).status).toBe(429);
  });

  test("deviceFlow: false → ErrorBody 404 on every /oauth/device route", async () => {
    await start({ deviceFlow: false });
    const r = await call("POST", "/oauth/device/code", { body: { client_id: "difyctl", device_label: "x" } });
    expect(r.status).toBe(404);
    expect(r.json.code).toBe("not_found");
    expect(r.json.status).toBe(404);
    expect((await poll("dc_x")).status).toBe(404);
  });
});

// ───────────────────────────── /oauth/device/token ─────────────────────────────

describe("POST /oauth/device/token", () => {
  test("slow_down: second poll inside the window; the timestamp is updated even on slow_down", async () => {
    await start();
    const c = await newCode();
    expect((await poll(c.device_code)).json).toEqual({ error: "authorization_pending" }); // first poll never slow_down
    s.clock.advance(4000);
    const r2 = await poll(c.device_code);
    expect(r2.status).toBe(400);
    expect(r2.json).toEqual({ error: "slow_down" });
    s.clock.advance(4000); // 8 s after poll 1 but only 4 s after poll 2
    expect((await poll(c.device_code)).json).toEqual({ error: "slow_down" });
    s.clock.advance(5000);
    expect((await poll(c.device_code)).json).toEqual({ error: "authorization_pending" });
  });

  test("slow_down with a small real window", async () => {
    await start({ slowDownWindowMs: 50 });
    const c = await newCode();
    expect((await poll(c.device_code)).json.error).toBe("authorization_pending");
    expect((await poll(c.device_code)).json.error).toBe("slow_down");
    await Bun.sleep(70);
    expect((await poll(c.device_code)).json.error).toBe("authorization_pending");
  });

  test("evaluation order: slow_down is checked before expired_token and access_denied", async () => {
    await start();
    expect((await poll("dc_garbage")).json).toEqual({ error: "expired_token" });
    expect((await poll("dc_garbage")).json).toEqual({ error: "slow_down" });
    s.clock.advance(5000);
    expect((await poll("dc_garbage")).json).toEqual({ error: "expired_token" });

    const c = await newCode();
    await poll(c.device_code);
    s.deny(c.user_code);
    expect((await poll(c.device_code)).json).toEqual({ error: "slow_down" }); // not consumed yet
    s.clock.advance(5000);
    expect((await poll(c.device_code)).json).toEqual({ error: "access_denied" });
  });

  test("validation failure is a 400 ErrorBody without an RFC error key; client_id value is not checked", async () => {
    await start();
    const r = await call("POST", "/oauth/device/token", { body: { device_code: "dc_x" } });
    expect(r.status).toBe(400);
    expect(r.json.code).toBe("bad_request");
    expect(r.json.error).toBeUndefined();
    const c = await newCode();
    s.approve(c.user_code);
    const ok = await call("POST", "/oauth/device/token", { body: { device_code: c.device_code, client_id: "someone-else" } });
    expect(ok.status).toBe(200);
  });

  test("approved → exact account payload; second poll → expired_token (slow_down inside the window)", async () => {
    await start();
    const c = await newCode("difyctl on laptop");
    expect((await poll(c.device_code)).json.error).toBe("authorization_pending");
    const before = s.clock.now();
    expect(s.approve(c.user_code)).toEqual({ status: 200, body: { status: "approved" } });
    s.clock.advance(5000);
    const r = await poll(c.device_code);
    expect(r.status).toBe(200);
    const p = r.json;
    expect(Object.keys(p)).toEqual(["token", "expires_at", "subject_type", "account", "workspaces", "default_workspace_id", "token_id"]);
    expect(p.token).toMatch(/^dfoa_[A-Za-z0-9_-]{43}$/);
    expect(p.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
    const exp = Date.parse(p.expires_at);
    expect(Math.abs(exp - (before + 14 * 86_400_000))).toBeLessThan(10_000);
    expect(p.subject_type).toBe("account");
    expect(p.account).toEqual({ id: IDS.accounts.gareth, email: EMAILS.gareth, name: "Gareth Chen" });
    expect(p.workspaces).toEqual([
      { id: IDS.workspaces.acme, name: "Acme Corp", role: "owner" },
      { id: IDS.workspaces.side, name: "Side Project", role: "normal" },
    ]);
    expect(p.default_workspace_id).toBe(IDS.workspaces.acme);
    expect(p.access_token).toBeUndefined();
    expect((await poll(c.device_code)).json).toEqual({ error: "slow_down" }); // last_poll survives consume
    s.clock.advance(5000);
    expect((await poll(c.device_code)).json).toEqual({ error: "expired_token" });
  });

  test("SSO branch payload", async () => {
    await start();
    const p = await login("sso");
    expect(Object.keys(p)).toEqual([
      "token", "expires_at", "subject_type", "subject_email", "subject_issuer", "account", "workspaces", "default_workspace_id", "token_id",
    ]);
    expect(p.token).toMatch(/^dfoe_[A-Za-z0-9_-]{43}$/);
    expect(p.subject_type).toBe("external_sso");
    expect(p.subject_email).toBe(EMAILS.sso);
    expect(p.subject_issuer).toBe(SSO_ISSUER);
    expect(p.account).toBeNull();
    expect(p.workspaces).toEqual([]);
    expect(p.default_workspace_id).toBeNull();
  });

  test("atomic consume: exactly one of many concurrent pollers gets the token", async () => {
    await start({ slowDownWindowMs: 0 });
    const c = await newCode();
    s.approve(c.user_code);
    const results = await Promise.all(Array.from({ length: 12 }, () => poll(c.device_code)));
    expect(results.filter((r) => r.status === 200).length).toBe(1);
    const losers = results.filter((r) => r.status !== 200);
    expect(losers.every((r) => r.status === 400 && r.json.error === "expired_token")).toBe(true);
  });

  test("denial: access_denied once, then expired_token; approve/deny after resolution → 409", async () => {
    await start();
    const c = await newCode();
    expect(s.deny(c.user_code)).toEqual({ status: 200, body: { status: "denied" } });
    expect(s.approve(c.user_code)).toEqual({ status: 409, body: { error: "already_resolved" } });
    expect(s.deny(c.user_code)).toEqual({ status: 409, body: { error: "already_resolved" } });
    expect((await poll(c.device_code)).json).toEqual({ error: "access_denied" });
    s.clock.advance(5000);
    expect((await poll(c.device_code)).json).toEqual({ error: "expired_token" });
    expect(s.approve(c.user_code)).toEqual({ status: 404, body: { error: "expired_or_unknown" } });
  });

  test("expiry via the injected clock", async () => {
    await start();
    const c = await newCode();
    s.clock.advance(900_000);
    expect((await poll(c.device_code)).json).toEqual({ error: "expired_token" });
    expect(s.approve(c.user_code)).toEqual({ status: 404, body: { error: "expired_or_unknown" } });
    expect(s.pending()).toEqual([]);
  });

  test("after approval the TTL is max(remaining, 60 s)", async () => {
    await start();
    const a = await newCode("a");
    const b = await newCode("b");
    s.clock.advance(899_000); // 1 s left on both
    s.approve(a.user_code);
    s.approve(b.user_code);
    s.clock.advance(59_000);
    expect((await poll(a.device_code)).status).toBe(200);
    s.clock.advance(2_000);
    expect((await poll(b.device_code)).json).toEqual({ error: "expired_token" });
  });

  test("minting happens at approve time: the session row is visible before the poll", async () => {
    await start();
    const me = s.mintToken(EMAILS.gareth, "other device");
    const c = await newCode("difyctl on new-box");
    s.approve(c.user_code);
    const list = await get("/account/sessions", me.token);
    expect(list.json.data.map((d: any) => d.device_label)).toContain("difyctl on new-box");
    const p = (await poll(c.device_code)).json;
    expect(list.json.data.find((d: any) => d.device_label === "difyctl on new-box").id).toBe(p.token_id);
  });

  test("only the sha256 of a token is stored", async () => {
    await start();
    const p = await login();
    const row = s.tokenRows().find((r) => r.id === p.token_id)!;
    expect(row.tokenHash).toBe(new Bun.CryptoHasher("sha256").update(p.token).digest("hex"));
    expect(JSON.stringify(s.tokenRows())).not.toContain(p.token);
  });

  test("autoApprove afterPolls: the Nth poll returns the token", async () => {
    await start({ autoApprove: { afterPolls: 3 } });
    const c = await newCode();
    expect((await poll(c.device_code)).json.error).toBe("authorization_pending");
    s.clock.advance(5000);
    expect((await poll(c.device_code)).json.error).toBe("authorization_pending");
    s.clock.advance(5000);
    const r = await poll(c.device_code);
    expect(r.status).toBe(200);
    expect(r.json.account.email).toBe(EMAILS.gareth);
  });

  test("autoApprove afterMs (as alice) and autoDeny afterPolls", async () => {
    await start({ autoApprove: { afterMs: 10_000, as: EMAILS.alice } });
    const c = await newCode();
    expect((await poll(c.device_code)).json.error).toBe("authorization_pending");
    s.clock.advance(10_000);
    const r = await poll(c.device_code);
    expect(r.status).toBe(200);
    expect(r.json.account.email).toBe(EMAILS.alice);
    expect(r.json.default_workspace_id).toBe(IDS.workspaces.alice);

    s.setOption({ autoApprove: null, autoDeny: { afterPolls: 2 } });
    const d = await newCode();
    expect((await poll(d.device_code)).json.error).toBe("authorization_pending");
    s.clock.advance(5000);
    expect((await poll(d.device_code)).json.error).toBe("access_denied");
  });
});

// ───────────────────────────── browser side ─────────────────────────────

describe("lookup, approve, deny, /device page", () => {
  test("lookup: strip().upper() only, 900 constant, client_id after resolution", async () => {
    await start();
    const c = await newCode();
    const lk = (uc: string) => get(`/oauth/device/lookup?user_code=${encodeURIComponent(uc)}`);
    expect((await lk(`  ${c.user_code.toLowerCase()} `)).json).toEqual({ valid: true, expires_in_remaining: 900, client_id: "difyctl" });
    expect((await lk(c.user_code.replace("-", ""))).json).toEqual({ valid: false, expires_in_remaining: 0, client_id: null });
    s.clock.advance(100_000);
    expect((await lk(c.user_code)).json.expires_in_remaining).toBe(900);
    s.approve(c.user_code);
    expect((await lk(c.user_code)).json).toEqual({ valid: false, expires_in_remaining: 0, client_id: "difyctl" });
    expect((await get("/oauth/device/lookup")).status).toBe(400);
  });

  test("/oauth/device/approve needs the fake_console cookie", async () => {
    await start();
    const c = await newCode();
    const noCookie = await call("POST", "/oauth/device/approve", { body: { user_code: c.user_code } });
    expect(noCookie.status).toBe(401);
    expect(noCookie.json).toEqual({ code: "unauthorized", message: "Unauthorized." });
    const ok = await call("POST", "/oauth/device/approve", {
      body: { user_code: c.user_code },
      headers: { Cookie: `fake_console=${encodeURIComponent(EMAILS.alice)}` },
    });
    expect(ok.json).toEqual({ status: "approved" });
    const again = await call("POST", "/oauth/device/deny", {
      body: { user_code: c.user_code },
      headers: { Cookie: `fake_console=${EMAILS.alice}` },
    });
    expect(again.status).toBe(409);
    expect(again.json).toEqual({ error: "already_resolved" });
    const unknown = await call("POST", "/oauth/device/approve", { body: { user_code: "AAAA-AAAA" }, headers: { Cookie: `fake_console=${EMAILS.alice}` } });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ error: "expired_or_unknown" });
    expect((await poll(c.device_code)).json.account.email).toBe(EMAILS.alice);
  });

  test("/device page pre-fills the code and its form approves via /__test__/approve", async () => {
    await start();
    const c = await newCode();
    const page = await fetch(`${s.url}/device?user_code=${c.user_code}`);
    const html = await page.text();
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(html).toContain(`value="${c.user_code}"`);
    expect(html).toContain('action="/__test__/approve"');
    const res = await fetch(`${s.url}/__test__/approve`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ user_code: c.user_code, as: "sso-user@partner.com" }),
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("approved");
    expect((await poll(c.device_code)).json.subject_type).toBe("external_sso");
  });

  test("test control HTTP API: pending, approve, deny, advance, mint, options", async () => {
    await start();
    const c = await newCode();
    const pend = await call("GET", `${s.url}/__test__/pending`);
    expect(pend.json).toEqual([{ userCode: c.user_code, deviceCode: c.device_code, status: "pending" }]);
    const t0 = s.clock.now();
    const adv = await call("POST", `${s.url}/__test__/advance`, { body: { ms: 60_000 } });
    expect(adv.json.now).toBeGreaterThanOrEqual(t0 + 60_000);
    expect((await call("POST", `${s.url}/__test__/approve`, { body: { user_code: c.user_code, as: EMAILS.alice } })).json).toEqual({ status: "approved" });
    expect((await call("POST", `${s.url}/__test__/deny`, { body: { user_code: c.user_code } })).status).toBe(409);
    expect(s.pending()[0]!.status).toBe("approved");
    const m = await call("POST", `${s.url}/__test__/mint`, { body: { as: EMAILS.gareth, device_label: "ci" } });
    expect((await get("/account", m.json.token)).json.account.email).toBe(EMAILS.gareth);
    await call("POST", `${s.url}/__test__/revoke`, { body: { token_id: m.json.token_id } });
    expect((await get("/account", m.json.token)).status).toBe(401);
    await call("POST", `${s.url}/__test__/options`, { body: { version: null } });
    expect((await get("/_version")).status).toBe(404);
  });
});

// ───────────────────────────── tokens & sessions ─────────────────────────────

describe("rotation, sessions, revoke", () => {
  test("june rotation: same label → new id, old token 401 immediately, old id gone", async () => {
    await start();
    const p1 = await login(undefined, "difyctl on box");
    const p2 = await login(undefined, "difyctl on box");
    expect(p2.token_id).not.toBe(p1.token_id);
    const old = await get("/account", p1.token);
    expect(old.status).toBe(401);
    expect(old.headers.get("www-authenticate")).toBe('Bearer realm="api"');
    const list = await get("/account/sessions", p2.token);
    expect(list.json.data.map((d: any) => d.id)).toEqual([p2.token_id]);
    // a different label is an independent row
    const p3 = await login(undefined, "difyctl on other-box");
    expect((await get("/account", p2.token)).status).toBe(200);
    expect((await get("/account/sessions", p3.token)).json.total).toBe(2);
  });

  test("v1.0 rotation keeps the session id", async () => {
    await start({ rotation: "v1.0" });
    const p1 = await login(undefined, "difyctl on box");
    const p2 = await login(undefined, "difyctl on box");
    expect(p2.token_id).toBe(p1.token_id);
    expect((await get("/account", p1.token)).status).toBe(401);
    expect((await get("/account", p2.token)).status).toBe(200);
  });

  test("sessions list: ordering, pagination, Z timestamps, last_used_at null", async () => {
    await start();
    const ids: string[] = [];
    for (const label of ["one", "two", "three"]) {
      ids.push(s.mintToken(EMAILS.gareth, label).tokenId);
      s.clock.advance(1000);
    }
    const me = s.mintToken(EMAILS.gareth, "me");
    s.mintToken(EMAILS.alice, "alice's"); // not visible to gareth
    const p1 = await get("/account/sessions?page=1&limit=3", me.token);
    expect(p1.status).toBe(200);
    expect(p1.json.page).toBe(1);
    expect(p1.json.limit).toBe(3);
    expect(p1.json.total).toBe(4);
    expect(p1.json.has_more).toBe(true);
    expect(p1.json.data.map((d: any) => d.device_label)).toEqual(["me", "three", "two"]);
    const row = p1.json.data[0];
    expect(Object.keys(row)).toEqual(["id", "prefix", "client_id", "device_label", "created_at", "last_used_at", "expires_at"]);
    expect(row.prefix).toBe("dfoa_");
    expect(row.client_id).toBe("difyctl");
    expect(row.last_used_at).toBeNull();
    expect(row.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$/);
    expect(row.expires_at).toMatch(/Z$/);
    const p2 = await get("/account/sessions?page=2&limit=3", me.token);
    expect(p2.json.has_more).toBe(false);
    expect(p2.json.data.map((d: any) => d.id)).toEqual([ids[0]]);
    const dflt = await get("/account/sessions", me.token);
    expect(dflt.json.limit).toBe(100);
    expect(dflt.json.page).toBe(1);
  });

  test("sessions query is strict → 422 ErrorBody with details", async () => {
    await start();
    const me = s.mintToken();
    for (const q of ["page=0", "limit=0", "limit=201", "page=abc", "foo=1"]) {
      const r = await get(`/account/sessions?${q}`, me.token);
      expect(r.status).toBe(422);
      expect(r.json.code).toBe("invalid_param");
      expect(r.json.message).toBe("Request validation failed");
      expect(r.json.status).toBe(422);
      expect(Array.isArray(r.json.details)).toBe(true);
      expect(r.json.details[0].loc[0]).toBe(q.split("=")[0]);
    }
    expect((await get("/account/sessions?limit=200", me.token)).status).toBe(200);
  });

  test("DELETE /account/sessions/self revokes the current token", async () => {
    await start();
    const me = s.mintToken();
    const r = await call("DELETE", "/account/sessions/self", { headers: bearer(me.token) });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "revoked" });
    expect((await get("/account", me.token)).status).toBe(401);
    expect((await call("DELETE", "/account/sessions/self", { headers: bearer(me.token) })).status).toBe(401);
    const row = s.tokenRows().find((x) => x.id === me.tokenId)!;
    expect(row.revokedAt).not.toBeNull();
    expect(row.tokenHash).toBeNull();
  });

  test("DELETE /account/sessions/<id>: own → 200 (idempotent), foreign/unknown/non-UUID → 404", async () => {
    await start();
    const me = s.mintToken(EMAILS.gareth, "me");
    const other = s.mintToken(EMAILS.gareth, "old laptop");
    const alice = s.mintToken(EMAILS.alice, "alice laptop");
    const del = (id: string) => call("DELETE", `/account/sessions/${id}`, { headers: bearer(me.token) });
    expect((await del(other.tokenId)).json).toEqual({ status: "revoked" });
    expect((await get("/account", other.token)).status).toBe(401);
    expect((await del(other.tokenId)).status).toBe(200);
    for (const id of [alice.tokenId, "00000000-0000-4000-8000-000000000000", "not-a-uuid"]) {
      const r = await del(id);
      expect(r.status).toBe(404);
      expect(r.json).toEqual({ code: "not_found", message: "session not found", status: 404 });
    }
    expect((await get("/account", alice.token)).status).toBe(200);
  });

  test("token expiry: 14 days, hard-expire on use → 401", async () => {
    await start();
    const me = s.mintToken();
    s.clock.advance(14 * 86_400_000 - 1000);
    expect((await get("/account", me.token)).status).toBe(200);
    s.clock.advance(1000);
    const r = await get("/account", me.token);
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ code: "unauthorized", message: "invalid bearer", status: 401 });
    expect(s.tokenRows().find((x) => x.id === me.tokenId)!.tokenHash).toBeNull();
  });
});

// ───────────────────────────── bearer errors ─────────────────────────────

describe("401 / 403 / 429", () => {
  test("missing, malformed, unknown-prefix and unknown tokens → 401 ErrorBody with WWW-Authenticate", async () => {
    await start();
    for (const headers of <Record<string, string>[]>[{}, { Authorization: "Basic abc" }, { Authorization: "Bearer " }, { Authorization: "Bearer" }]) {
      const r = await call("GET", "/account", { headers });
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ code: "unauthorized", message: "bearer required", status: 401 });
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="api"');
    }
    for (const t of ["app-abc", "dfp_abc", `dfoa_${"A".repeat(43)}`]) {
      const r = await get("/account", t);
      expect(r.status).toBe(401);
      expect(r.json.code).toBe("unauthorized");
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="api"');
    }
    const me = s.mintToken();
    expect((await call("GET", "/account", { headers: { Authorization: `bEaReR   ${me.token}  ` } })).status).toBe(200);
  });

  test("faults.invalidBearer500 mimics the June bug", async () => {
    await start();
    s.faults.invalidBearer500 = true;
    const r = await get("/account", `dfoa_${"B".repeat(43)}`);
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ code: "internal_server_error", message: "Internal Server Error", status: 500 });
    expect((await get("/account", "app-xyz")).status).toBe(500);
  });

  test("dfoe_ on account routes and dfoa_ on permitted-external-apps → 403 unsupported_token_type", async () => {
    await start();
    const sso = s.mintToken("sso");
    const acct = s.mintToken();
    for (const p of ["/account", "/account/sessions", "/workspaces", `/apps?workspace_id=${IDS.workspaces.acme}`, `/apps/${IDS.apps.supportChat}/describe`]) {
      const r = await get(p, sso.token);
      expect(r.status).toBe(403);
      expect(r.json).toEqual({ code: "forbidden", message: "unsupported_token_type", status: 403 });
    }
    expect((await call("DELETE", "/account/sessions/self", { headers: bearer(sso.token) })).status).toBe(403);
    expect((await get("/permitted-external-apps", acct.token)).json.message).toBe("unsupported_token_type");
  });

  test("per-token rate limit: June ErrorBody 429 with Retry-After", async () => {
    await start({ rateLimitPerToken: 3 });
    const me = s.mintToken();
    for (let i = 0; i < 3; i++) expect((await get("/workspaces", me.token)).status).toBe(200);
    const r = await get("/account", me.token);
    expect(r.status).toBe(429);
    expect(r.json).toEqual({
      code: "too_many_requests",
      message: "This user has exceeded an allotted request count. Try again later.",
      status: 429,
    });
    const ra = Number(r.headers.get("retry-after"));
    expect(ra).toBeGreaterThanOrEqual(1);
    expect(ra).toBeLessThanOrEqual(60);
    const other = s.mintToken(EMAILS.gareth, "second");
    expect((await get("/account", other.token)).status).toBe(200); // per token
    s.clock.advance(60_000);
    expect((await get("/account", me.token)).status).toBe(200);
  });

  test("v1.0 per-token 429 body and disabling with 0", async () => {
    await start({ rateLimitPerToken: 1, rateLimitBody: "v1.0" });
    const me = s.mintToken();
    await get("/workspaces", me.token);
    const r = await get("/workspaces", me.token);
    expect(r.status).toBe(429);
    expect(r.json.error).toBe("rate_limited");
    expect(r.json.retry_after_ms).toBe(Number(r.headers.get("retry-after")) * 1000);
    s.setOption({ rateLimitPerToken: 0 });
    for (let i = 0; i < 5; i++) expect((await get("/workspaces", me.token)).status).toBe(200);
  });
});

// ───────────────────────────── account, workspaces, apps ─────────────────────────────

describe("account, workspaces, apps", () => {
  test("GET /account", async () => {
    await start();
    const me = s.mintToken();
    const r = await get("/account", me.token);
    expect(r.json).toEqual({
      subject_type: "account",
      subject_email: EMAILS.gareth,
      subject_issuer: null,
      account: { id: IDS.accounts.gareth, email: EMAILS.gareth, name: "Gareth Chen" },
      workspaces: [
        { id: IDS.workspaces.acme, name: "Acme Corp", role: "owner" },
        { id: IDS.workspaces.side, name: "Side Project", role: "normal" },
      ],
      default_workspace_id: IDS.workspaces.acme,
    });
  });

  test("workspaces list and detail", async () => {
    await start();
    const me = s.mintToken();
    const l = await get("/workspaces", me.token);
    expect(l.json.workspaces).toEqual([
      { id: IDS.workspaces.acme, name: "Acme Corp", role: "owner", status: "normal", current: true },
      { id: IDS.workspaces.side, name: "Side Project", role: "normal", status: "normal", current: false },
    ]);
    const d = await get(`/workspaces/${IDS.workspaces.side}`, me.token);
    expect(d.json.name).toBe("Side Project");
    expect(d.json.created_at).toMatch(/Z$/);
    for (const id of [IDS.workspaces.alice, "nope"]) {
      const r = await get(`/workspaces/${id}`, me.token);
      expect(r.status).toBe(404);
      expect(r.json.message).toBe("workspace not found");
    }
  });

  test("GET /apps: envelope, openapi gate, filters, guard-before-validation", async () => {
    await start();
    const me = s.mintToken();
    const r = await get(`/apps?workspace_id=${IDS.workspaces.acme}`, me.token);
    expect(r.status).toBe(200);
    expect(Object.keys(r.json)).toEqual(["page", "limit", "total", "has_more", "data"]);
    expect(r.json.limit).toBe(20);
    const ids = r.json.data.map((a: any) => a.id);
    expect(ids).toContain(IDS.apps.supportChat);
    expect(ids).not.toContain(IDS.apps.internalOnly);
    const row = r.json.data.find((a: any) => a.id === IDS.apps.blogWriter);
    expect(row).toEqual({
      id: IDS.apps.blogWriter,
      name: "Blog Writer",
      description: "Writes a short blog post about a topic.",
      mode: "completion",
      tags: [{ name: "marketing" }, { name: "writing" }],
      updated_at: expect.stringMatching(/Z$/),
      created_by_name: "Gareth Chen",
      workspace_id: IDS.workspaces.acme,
      workspace_name: "Acme Corp",
    });
    const paged = await get(`/apps?workspace_id=${IDS.workspaces.acme}&limit=2&page=2`, me.token);
    expect(paged.json.data.length).toBe(2);
    expect(paged.json.has_more).toBe(true);
    expect((await get(`/apps?workspace_id=${IDS.workspaces.acme}&mode=workflow`, me.token)).json.data.map((a: any) => a.id)).toEqual([IDS.apps.summarizer]);
    expect((await get(`/apps?workspace_id=${IDS.workspaces.acme}&name=blog`, me.token)).json.total).toBe(1);
    expect((await get(`/apps?workspace_id=${IDS.workspaces.acme}&tag=support`, me.token)).json.total).toBe(1);
    expect((await get(`/apps?workspace_id=${IDS.workspaces.acme}&tag=nothing`, me.token)).json.data).toEqual([]);
    for (const q of ["", "workspace_id=nope", `workspace_id=${IDS.workspaces.alice}`, "limit=0"]) {
      const e = await get(`/apps?${q}`, me.token);
      expect(e.status).toBe(404);
      expect(e.json).toEqual({ code: "not_found", message: "workspace not found", status: 404 });
    }
    for (const q of ["limit=0", "limit=201", "mode=bogus", "page=0"]) {
      const e = await get(`/apps?workspace_id=${IDS.workspaces.acme}&${q}`, me.token);
      expect(e.status).toBe(422);
      expect(e.json.details.length).toBeGreaterThan(0);
    }
  });

  test("GET /apps/<id>/describe", async () => {
    await start();
    const me = s.mintToken();
    const all = await get(`/apps/${IDS.apps.summarizer}/describe?fields=info,parameters,input_schema`, me.token);
    expect(all.json.info).toMatchObject({ id: IDS.apps.summarizer, mode: "workflow", service_api_enabled: true, is_agent: false });
    expect(all.json.parameters.user_input_form).toEqual([
      { paragraph: { label: "Text", variable: "text", required: true, default: "", max_length: 0 } },
      { number: { label: "Word count", variable: "count", required: false, default: "" } },
    ]);
    expect(all.json.input_schema).toMatchObject({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: { text: { type: "string" }, count: { type: "integer" } },
      required: ["text"],
    });
    const info = await get(`/apps/${IDS.apps.blogWriter}/describe?fields=info`, me.token);
    expect(info.json.parameters).toBeNull();
    expect(info.json.input_schema).toBeNull();
    expect(info.json.info.name).toBe("Blog Writer");
    expect((await get(`/apps/${IDS.apps.blogWriter}/describe?fields=input_schema`, me.token)).json.input_schema.required).toEqual(["topic"]);
    expect((await get(`/apps/${IDS.apps.supportChat}/describe`, me.token)).json.input_schema.required).toEqual([]);

    expect((await get(`/apps/${IDS.apps.blogWriter}/describe?fields=info,secrets`, me.token)).status).toBe(422);
    expect((await get(`/apps/${IDS.apps.blogWriter}/describe?workspace_id=${IDS.workspaces.acme}`, me.token)).status).toBe(422);
    const disabled = await get(`/apps/${IDS.apps.internalOnly}/describe`, me.token);
    expect(disabled.status).toBe(403);
    expect(disabled.json.message).toBe("service_api_disabled");
    expect((await get(`/apps/${IDS.apps.aliceNotes}/describe`, me.token)).json.message).toBe("workspace not found");
    for (const id of ["00000000-0000-4000-8000-000000000000", "Blog%20Writer"]) {
      const r = await get(`/apps/${id}/describe`, me.token);
      expect(r.status).toBe(404);
      expect(r.json.message).toBe("app not found");
    }
  });

  test("permitted-external-apps: dfoe_ only, strict query, workspace fields populated; CE → 404", async () => {
    await start();
    const sso = s.mintToken("sso");
    const r = await get("/permitted-external-apps", sso.token);
    expect(r.status).toBe(200);
    expect(r.json.total).toBe(3);
    const row = r.json.data.find((a: any) => a.id === IDS.apps.aliceNotes);
    expect(row).toMatchObject({ tags: [], created_by_name: null, workspace_id: IDS.workspaces.alice, workspace_name: "Alice's Workspace" });
    expect((await get("/permitted-external-apps?mode=workflow", sso.token)).json.data.map((a: any) => a.id)).toEqual([IDS.apps.summarizer]);
    for (const q of ["workspace_id=x", "tag=a", "limit=0", "mode=nope"]) {
      expect((await get(`/permitted-external-apps?${q}`, sso.token)).status).toBe(422);
    }
    s.setOption({ edition: "CE" });
    const ce = await get("/permitted-external-apps", sso.token);
    expect(ce.status).toBe(404);
    expect(ce.json.code).toBe("not_found");
  });
});

// ───────────────────────────── /run ─────────────────────────────

describe("POST /apps/<id>/run (SSE)", () => {
  test("chat: message pieces, ping, message_end with usage; conversation reuse", async () => {
    await start();
    const me = s.mintToken();
    const r = await run(IDS.apps.supportChat, { inputs: {}, query: "refunds", response_mode: "blocking", user: "x" }, me.token);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/event-stream");
    expect(r.headers.get("x-frame-options")).toBe("DENY");
    expect(r.text.endsWith("\n\n")).toBe(true);
    const evs = parseSse(r.text);
    expect(evs[0]!.raw).toBe("event: ping");
    expect(evs.some((e) => e.event === "ping" && e !== evs[0])).toBe(true);
    const msgs = evs.filter((e) => e.data?.event === "message");
    expect(msgs.length).toBeGreaterThan(2);
    const answer = msgs.map((e) => e.data.answer).join("");
    expect(answer).toBe(answerFor(s.apps.find((a) => a.id === IDS.apps.supportChat)!, "refunds", {}));
    const end = evs[evs.length - 1]!.data;
    expect(end.event).toBe("message_end");
    expect(end.metadata.usage.total_tokens).toBe(end.metadata.usage.prompt_tokens + end.metadata.usage.completion_tokens);
    expect(end.conversation_id).toBe(msgs[0]!.data.conversation_id);
    expect(end.message_id).toBe(msgs[0]!.data.message_id);
    const again = await run(IDS.apps.supportChat, { inputs: {}, query: "more", conversation_id: end.conversation_id }, me.token);
    expect(parseSse(again.text).at(-1)!.data.conversation_id).toBe(end.conversation_id);
  });

  test("completion and workflow frames", async () => {
    await start();
    const me = s.mintToken();
    const c = await run(IDS.apps.blogWriter, { inputs: { topic: "Bun" } }, me.token);
    const cev = parseSse(c.text).filter((e) => e.data);
    expect(cev.map((e) => e.data.answer ?? "").join("")).toContain("Bun is a fascinating subject");
    expect(cev.at(-1)!.data.event).toBe("message_end");
    expect(cev[0]!.data.conversation_id).toBeUndefined();

    const w = await run(IDS.apps.summarizer, { inputs: { text: "one two three four five six", count: 2 } }, me.token);
    expect(w.status).toBe(200);
    const wev = parseSse(w.text).filter((e) => e.data).map((e) => e.data);
    const kinds = wev.map((d) => d.event);
    expect(kinds[0]).toBe("workflow_started");
    expect(kinds.at(-1)).toBe("workflow_finished");
    expect(kinds).toContain("node_started");
    expect(kinds).toContain("node_finished");
    expect(kinds).toContain("text_chunk");
    expect(kinds.indexOf("text_chunk")).toBeGreaterThan(kinds.indexOf("node_started"));
    const fin = wev.at(-1)!;
    expect(fin.data.status).toBe("succeeded");
    expect(fin.data.outputs).toEqual({ summary: "one two …", word_count: 6 });
    expect(wev.every((d) => d.workflow_run_id === fin.workflow_run_id)).toBe(true);
  });

  test("advanced-chat and agent-chat streams", async () => {
    await start();
    const me = s.mintToken();
    const adv = parseSse((await run(IDS.apps.sideHelpdesk, { inputs: {}, query: "printer" }, me.token)).text).filter((e) => e.data).map((e) => e.data.event);
    expect(adv).toEqual(expect.arrayContaining(["workflow_started", "message", "workflow_finished", "message_end"]));
    const ag = parseSse((await run(IDS.apps.researchAgent, { inputs: {}, query: "life" }, me.token)).text).filter((e) => e.data).map((e) => e.data);
    expect(ag.filter((d) => d.event === "agent_message").map((d) => d.answer).join("")).toContain("42");
    expect(ag.some((d) => d.event === "agent_thought")).toBe(true);
  });

  test("pre-stream errors", async () => {
    await start();
    const me = s.mintToken();
    const expectErr = async (appId: string, body: unknown, status: number, code: string, message?: string) => {
      const r = await run(appId, body, me.token);
      expect(r.status).toBe(status);
      expect(r.json.code).toBe(code);
      if (message) expect(r.json.message).toBe(message);
      expect(r.json.status).toBe(status);
    };
    await expectErr(IDS.apps.supportChat, { inputs: {} }, 422, "invalid_param", "query_required_for_chat");
    await expectErr(IDS.apps.supportChat, { inputs: {}, query: "   " }, 422, "invalid_param", "query_required_for_chat");
    await expectErr(IDS.apps.summarizer, { inputs: { text: "x" }, query: "hi" }, 422, "invalid_param", "query_not_supported_for_workflow");
    await expectErr(IDS.apps.supportChat, { inputs: {}, query: "q", conversation_id: "00000000-0000-4000-8000-00000000abcd" }, 404, "not_found", "Conversation Not Exists.");
    await expectErr(IDS.apps.unavailable, { inputs: {}, query: "q" }, 400, "app_unavailable");
    await expectErr(IDS.apps.quotaExhausted, { inputs: {} }, 429, "rate_limit_error");
    await expectErr(IDS.apps.internalOnly, { inputs: {}, query: "q" }, 403, "forbidden", "service_api_disabled");
    await expectErr(IDS.apps.aliceNotes, { inputs: { note: "n" } }, 404, "not_found", "workspace not found");
    await expectErr(IDS.apps.blogWriter, { query: "no inputs" }, 422, "invalid_param", "Request validation failed");
    await expectErr(IDS.apps.blogWriter, { inputs: {} }, 500, "internal_server_error", "Internal Server Error");
    const nonJson = await call("POST", `/apps/${IDS.apps.blogWriter}/run`, { raw: "inputs=1", headers: { ...bearer(me.token), "Content-Type": "text/plain" } });
    expect(nonJson.status).toBe(422);
    expect(nonJson.json.details[0].loc).toEqual(["inputs"]);
  });

  test("error event after a 200", async () => {
    await start();
    const me = s.mintToken();
    const r = await run(IDS.apps.flakyChat, { inputs: {}, query: "hi" }, me.token);
    expect(r.status).toBe(200);
    const evs = parseSse(r.text).filter((e) => e.data).map((e) => e.data);
    expect(evs.filter((d) => d.event === "message").length).toBeGreaterThan(0);
    const last = evs.at(-1)!;
    expect(last.event).toBe("error");
    expect(last).toMatchObject({ status: 400, code: "completion_request_error" });
    expect(typeof last.message).toBe("string");
  });

  test("firehose: configurable count and size", async () => {
    await start();
    const me = s.mintToken();
    const r = await run(IDS.apps.firehose, { inputs: { events: 5000, chunk_size: 100 } }, me.token);
    const evs = parseSse(r.text);
    const msgs = evs.filter((e) => e.data?.event === "message");
    expect(msgs.length).toBe(5000);
    expect(msgs.every((e) => e.data.answer.length === 100)).toBe(true);
    expect(evs.filter((e) => e.event === "ping").length).toBeGreaterThan(5);
    expect(evs.at(-1)!.data.event).toBe("message_end");
  });

  test("dfoe_ may run permitted apps only (EE); CE → 403", async () => {
    await start();
    const sso = s.mintToken("sso");
    expect((await run(IDS.apps.aliceNotes, { inputs: { note: "n" } }, sso.token)).status).toBe(200);
    const denied = await run(IDS.apps.blogWriter, { inputs: { topic: "t" } }, sso.token);
    expect(denied.status).toBe(403);
    s.setOption({ edition: "CE" });
    const ce = await run(IDS.apps.aliceNotes, { inputs: { note: "n" } }, sso.token);
    expect(ce.status).toBe(403);
    expect(ce.json.message).toBe("external_sso_requires_ee");
  });
});

// ───────────────────────────── faults ─────────────────────────────

describe("fault injection", () => {
  test("status responses are consumed in order, `times` honoured, then normal routing resumes", async () => {
    await start();
    s.faults.add({ match: { method: "POST", path: "/oauth/device/token" }, times: 2, respond: { status: 503, body: { oops: 1 }, headers: { "Retry-After": "1" } } });
    s.faults.add({ match: { path: /\/token$/ }, respond: { status: 502, rawBody: "<html>bad gateway</html>", headers: { "Content-Type": "text/html" } } });
    const r1 = await poll("dc_x");
    expect(r1.status).toBe(503);
    expect(r1.json).toEqual({ oops: 1 });
    expect(r1.headers.get("retry-after")).toBe("1");
    expect((await poll("dc_x")).status).toBe(503);
    const r3 = await poll("dc_x");
    expect(r3.status).toBe(502);
    expect(r3.text).toBe("<html>bad gateway</html>");
    s.clock.advance(5000);
    expect((await poll("dc_x")).json).toEqual({ error: "expired_token" });
    expect(s.faults.size).toBe(0);
  });

  test("method and path filters", async () => {
    await start();
    s.faults.add({ match: { method: "POST", path: "/openapi/v1/_health" }, respond: { status: 500 } });
    expect((await get("/_health")).status).toBe(200); // GET does not match
    expect(s.faults.size).toBe(1);
    s.faults.clear();
    s.faults.add({ match: { path: "/apps" }, respond: { status: 418 } });
    expect((await get("/_health")).status).toBe(200);
    expect((await get("/apps")).status).toBe(418);
  });

  test("drop: the connection is closed without a response", async () => {
    await start();
    s.faults.add({ match: { path: "/oauth/device/token" }, respond: "drop" });
    await expect(fetch(api("/oauth/device/token"), { method: "POST", body: "{}" })).rejects.toThrow();
    expect((await get("/_health")).json).toEqual({ ok: true });
  });

  test("hang: no response until the client aborts; the server keeps serving", async () => {
    await start();
    s.faults.add({ match: { path: "/_health" }, respond: "hang" });
    const ac = new AbortController();
    const p = fetch(api("/_health"), { signal: ac.signal });
    let settled = false;
    p.then(() => (settled = true), () => (settled = true));
    await Bun.sleep(50);
    expect(settled).toBe(false);
    ac.abort();
    await expect(p).rejects.toThrow();
    expect((await get("/_health")).status).toBe(200);
  });

  test("hang is released by close()", async () => {
    const srv = await startFakeServer();
    srv.faults.add({ respond: "hang" });
    const p = fetch(`${srv.url}/openapi/v1/_health`).then(() => "resolved", () => "rejected");
    await Bun.sleep(20);
    await srv.close();
    expect(await p).toBe("rejected");
  });

  test("delayMs delays, then routes normally", async () => {
    await start();
    s.faults.add({ match: { path: "/_health" }, respond: { delayMs: 40 } });
    const t = performance.now();
    expect((await get("/_health")).json).toEqual({ ok: true });
    expect(performance.now() - t).toBeGreaterThanOrEqual(35);
  });

  test("sse fault streams raw chunks; thenDrop resets mid-body", async () => {
    await start();
    s.faults.add({ match: { path: /\/run$/ }, respond: { sse: ['data: {"event":"message","answer":"hi"}\n\n', "event: ping\n\n"], chunkDelayMs: 5 } });
    const me = s.mintToken();
    const r = await run(IDS.apps.supportChat, { inputs: {}, query: "q" }, me.token);
    expect(r.status).toBe(200);
    expect(r.text).toBe('data: {"event":"message","answer":"hi"}\n\nevent: ping\n\n');
    s.faults.add({ match: { path: /\/run$/ }, respond: { sse: ['data: {"event":"message","answer":"partial"}\n\n'], thenDrop: true } });
    const res = await fetch(api(`/apps/${IDS.apps.supportChat}/run`), { method: "POST", headers: { ...bearer(me.token), "Content-Type": "application/json" }, body: "{}" });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  test("faults over HTTP: /__test__/fault with pathRegex, and DELETE clears", async () => {
    await start();
    const add = await call("POST", `${s.url}/__test__/fault`, { body: { rule: { match: { pathRegex: "^/oauth/device/(code|token)$" }, times: -1, respond: { status: 502 } } } });
    expect(add.json.armed).toBe(1);
    expect((await poll("dc_x")).status).toBe(502);
    expect((await poll("dc_x")).status).toBe(502);
    await call("POST", `${s.url}/__test__/fault`, { body: { invalidBearer500: true } });
    expect(s.faults.invalidBearer500).toBe(true);
    await call("DELETE", `${s.url}/__test__/fault`);
    expect((await poll("dc_x")).status).toBe(400);
  });
});

// ───────────────────────────── meta & misc ─────────────────────────────

describe("meta, unknown routes, recording", () => {
  test("_health, _version, unknown routes, 405", async () => {
    await start({ version: "1.14.2" });
    expect((await get("/_health")).json).toEqual({ ok: true });
    expect((await get("/_version")).json).toEqual({ version: "1.14.2", edition: "SELF_HOSTED" });
    const unknown = await get("/nope");
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe("not_found");
    expect(unknown.json.status).toBe(404);
    expect(unknown.headers.get("x-frame-options")).toBe("DENY");
    expect(unknown.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
    const wrongMethod = await call("GET", "/oauth/device/code");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.json.code).toBe("method_not_allowed");
    s.setOption({ version: null });
    expect((await get("/_version")).status).toBe(404);
  });

  test("requests are recorded with lowercased headers, query and body", async () => {
    await start();
    await call("POST", "/oauth/device/code?x=1", { body: { client_id: "difyctl", device_label: "rec" }, headers: { "User-Agent": "difyctl/1.0.0 (linux; x64; stable)" } });
    const r = s.requests.find((q) => q.path === "/openapi/v1/oauth/device/code")!;
    expect(r.method).toBe("POST");
    expect(r.query).toEqual({ x: "1" });
    expect(r.headers["user-agent"]).toBe("difyctl/1.0.0 (linux; x64; stable)");
    expect(r.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(r.body)).toEqual({ client_id: "difyctl", device_label: "rec" });
    expect(typeof r.time).toBe("number");
  });

  test("fixtures are per server and mutable", async () => {
    const a = await start();
    const b = await startFakeServer();
    servers.push(b);
    a.apps.find((x) => x.id === IDS.apps.blogWriter)!.enableApi = false;
    expect(b.apps.find((x) => x.id === IDS.apps.blogWriter)!.enableApi).toBe(true);
    const me = a.mintToken();
    expect((await get(`/apps/${IDS.apps.blogWriter}/describe`, me.token)).status).toBe(403);
  });

  test("scripts/fake-server.ts prints FAKE_SERVER_URL first and stops on SIGTERM", async () => {
    const proc = Bun.spawn([process.execPath, "scripts/fake-server.ts", "--port", "0", "--interval", "0.2", "--auto-approve-after-ms", "0"], {
      cwd: `${import.meta.dir}/..`,
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const reader = proc.stdout.getReader();
      let buf = "";
      while (!buf.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += new TextDecoder().decode(value);
      }
      const line = buf.split("\n")[0]!;
      expect(line).toMatch(/^FAKE_SERVER_URL=http:\/\/127\.0\.0\.1:\d+$/);
      const url = line.slice("FAKE_SERVER_URL=".length);
      const c = await (await fetch(`${url}/openapi/v1/oauth/device/code`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ client_id: "difyctl", device_label: "x" }) })).json();
      expect((c as any).interval).toBe(0.2);
      const t = await fetch(`${url}/openapi/v1/oauth/device/token`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ device_code: (c as any).device_code, client_id: "difyctl" }) });
      expect(t.status).toBe(200);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  });
});

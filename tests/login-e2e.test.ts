import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EMAILS, type FakeServer, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, login, readUntil, run, tempDir, serverPool } from "./helpers.ts";

const pool = serverPool();
const server = pool.start;
afterAll(async () => { await pool.closeAll(); });

const hostOf = (s: FakeServer) => new URL(s.url).host;
const polls = (s: FakeServer) => s.requests.filter((r) => r.path.endsWith("/oauth/device/token"));
const tokensIn = (dir: string) => (existsSync(join(dir, "tokens.yml")) ? readFileSync(join(dir, "tokens.yml"), "utf8") : "");

describe("auth login (happy path) and the commands that read the session", () => {
  let s: FakeServer;
  let dir: string;
  beforeAll(async () => {
    s = await server();
    dir = join(tempDir(), "cfg");
  });

  test("login prints code and URL on stderr, identity on stdout, stores metadata and token apart", async () => {
    const r = await login(s.url, dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Logged in as gareth@dify.ai (Gareth Chen)\nWorkspace: Acme Corp\n");
    expect(r.stderr).toMatch(/[A-Z0-9]{4}-[A-Z0-9]{4}/);
    expect(r.stderr).toContain(`${s.url}/device`);
    expect(r.stderr).toContain("warning: --insecure");
    const hosts = readFileSync(join(dir, "hosts.yml"), "utf8");
    expect(hosts).toContain(`current_host: ${hostOf(s)}`);
    expect(hosts).toContain("subject_type: account");
    expect(hosts).toContain("token_storage: file");
    expect(hosts).not.toMatch(/dfo[ae]_/);
    expect(tokensIn(dir)).toMatch(/bearer: dfoa_[A-Za-z0-9_-]{43}/);
  });

  test("device-flow requests carry the wire contract: JSON bodies, client_id, label, User-Agent", () => {
    const code = s.requests.find((r) => r.path.endsWith("/oauth/device/code"))!;
    expect(JSON.parse(code.body)).toEqual({ client_id: "difyctl", device_label: expect.stringMatching(/^difyctl on .+/) });
    expect(code.headers["content-type"]).toContain("application/json");
    expect(code.headers["user-agent"]).toMatch(/^difyctl\/\d+\.\d+\.\d+\S* \((linux|darwin|windows); (x64|arm64); \w+\)$/);
    const poll = polls(s)[0];
    expect(JSON.parse(poll.body)).toEqual({ device_code: expect.stringMatching(/^dc_/), client_id: "difyctl" });
  });

  test("status: compact, verbose and JSON", async () => {
    const env = baseEnv(dir);
    const before = s.requests.length;
    const c = await run(["auth", "status"], { env });
    expect(c.code).toBe(0);
    expect(c.stdout).toBe(`Logged in to ${hostOf(s)} as gareth@dify.ai (Gareth Chen)\nWorkspace: Acme Corp\nSession: Dify account — full access\n`);
    const v = await run(["auth", "status", "-v"], { env });
    expect(v.stdout).toContain("Account: gareth@dify.ai (Gareth Chen, a0000000-0000-4000-8000-000000000001)");
    expect(v.stdout).toContain("Workspace: Acme Corp (b0000000-0000-4000-8000-000000000001, role: owner)");
    expect(v.stdout).toContain("Available: 2 workspaces");
    expect(v.stdout).toContain("Surface: apps (dfoa_)");
    expect(v.stdout).toContain("Storage: file");
    const j = await run(["auth", "status", "--json"], { env });
    expect(JSON.parse(j.stdout)).toMatchObject({
      host: hostOf(s), logged_in: true,
      account: { id: "a0000000-0000-4000-8000-000000000001", email: EMAILS.gareth, name: "Gareth Chen" },
      workspace: { id: "b0000000-0000-4000-8000-000000000001", name: "Acme Corp", role: "owner" },
      available_workspaces_count: 2, storage: "file",
    });
    expect(s.requests.length).toBe(before); // offline
  });

  test("whoami: human and JSON, offline", async () => {
    const env = baseEnv(dir);
    const before = s.requests.length;
    expect((await run(["auth", "whoami"], { env })).stdout).toBe("gareth@dify.ai (Gareth Chen)\n");
    expect(JSON.parse((await run(["auth", "whoami", "--json"], { env })).stdout)).toEqual({ id: "a0000000-0000-4000-8000-000000000001", email: EMAILS.gareth, name: "Gareth Chen" });
    expect(s.requests.length).toBe(before);
  });

  test("logout revokes on the server, clears locally, and status then exits 4", async () => {
    const env = baseEnv(dir);
    const r = await run(["logout"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Logged out of ${hostOf(s)}\n`);
    const del = s.requests.filter((q) => q.method === "DELETE" && q.path.endsWith("/account/sessions/self"));
    expect(del).toHaveLength(1);
    expect(del[0].headers.authorization).toMatch(/^Bearer dfoa_/);
    expect(tokensIn(dir)).toBe("");
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).not.toContain("token_id");
    const st = await run(["auth", "status"], { env });
    expect(st.code).toBe(4);
    expect(st.stdout).toBe("Not logged in. Run 'difyctl auth login' to sign in.\n");
    const sj = await run(["auth", "status", "--json"], { env });
    expect(JSON.parse(sj.stdout)).toEqual({ host: null, logged_in: false });
    const w = await run(["auth", "whoami", "--json"], { env });
    expect(w.code).toBe(4);
    expect(envelope(w.stderr).code).toBe("not_logged_in");
  });
});

describe("auth login failure modes", () => {
  test("slow_down grows the interval by at least 5 s and polling continues", async () => {
    // The faulted poll never reaches the server's counter: its first real poll approves.
    const s = await server({ autoApprove: { afterPolls: 1 } });
    s.faults.add({ match: { path: "/oauth/device/token" }, respond: { status: 400, body: { error: "slow_down" } } });
    const dir = tempDir();
    const r = await login(s.url, dir);
    expect(r.code).toBe(0);
    const p = polls(s);
    expect(p.length).toBe(2);
    expect(p[1].time - p[0].time).toBeGreaterThanOrEqual(5100);
  }, 20_000);

  test("expired code → expired_token, exit 4, nothing written", async () => {
    const s = await server({ autoApprove: null, expiresIn: 1 });
    const dir = join(tempDir(), "cfg");
    const r = await login(s.url, dir, ["--json"]);
    expect(r.code).toBe(4);
    expect(envelope(r.stderr).code).toBe("expired_token");
    expect(existsSync(join(dir, "hosts.yml"))).toBe(false);
  });

  test("denied → access_denied, exit 4", async () => {
    const s = await server({ autoApprove: null, autoDeny: { afterPolls: 1 } });
    const r = await login(s.url, tempDir());
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("error: authorization denied");
  });

  test("5xx on polls is retried with backoff, then succeeds", async () => {
    const s = await server();
    s.faults.add({ match: { path: "/oauth/device/token" }, times: 2, respond: { status: 503, body: { code: "service_unavailable", message: "x", status: 503 } } });
    const r = await login(s.url, tempDir());
    expect(r.code).toBe(0);
    const p = polls(s);
    expect(p.length).toBe(3);
    expect(p[2].time - p[1].time).toBeGreaterThanOrEqual(1900);
  }, 20_000);

  test("host without the device flow → unsupported_endpoint, exit 6", async () => {
    const s = await server({ deviceFlow: false });
    const r = await login(s.url, tempDir(), ["--json"]);
    expect(r.code).toBe(6);
    expect(envelope(r.stderr)).toMatchObject({ code: "unsupported_endpoint", message: expect.stringMatching(/^127\.0\.0\.1:\d+ does not look like a Dify server: it does not implement the OAuth device flow \(POST \/openapi\/v1\/oauth\/device\/code answered HTTP 404\)$/) });
  });

  test("rate limited /code → rate_limited, exit 7", async () => {
    const s = await server();
    s.faults.add({ match: { path: "/oauth/device/code" }, respond: { status: 429, body: { code: "too_many_requests", message: "rate_limited", status: 429 } } });
    const r = await login(s.url, tempDir(), ["--json"]);
    expect(r.code).toBe(7);
    expect(envelope(r.stderr).code).toBe("rate_limited");
  });

  test("unknown RFC error code stops at once, exit 1", async () => {
    const s = await server({ autoApprove: null });
    s.faults.add({ match: { path: "/oauth/device/token" }, respond: { status: 400, body: { error: "foo_bar" } } });
    const r = await login(s.url, tempDir());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error: unexpected device-flow error: foo_bar");
    expect(polls(s).length).toBe(1);
  });

  test("plain-text http host is refused without --insecure, before any request", async () => {
    const s = await server();
    const r = await run(["auth", "login", "--host", s.url, "--no-browser", "--json"], { env: baseEnv(tempDir()) });
    expect(r.code).toBe(2);
    expect(envelope(r.stderr).code).toBe("usage_invalid_flag");
    expect(s.requests.length).toBe(0);
  });

  test("no --host off a terminal is a usage error", async () => {
    const r = await run(["auth", "login", "--no-browser"], { env: baseEnv(tempDir()) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--host is required");
  });

  test("a bad verification URI is never shown", async () => {
    const s = await server();
    s.faults.add({ match: { path: "/oauth/device/code" }, respond: { status: 200, body: { device_code: "dc_x", user_code: "ABCD-EFGH", verification_uri: "javascript:alert(1)", expires_in: 900, interval: 1 } } });
    const r = await login(s.url, tempDir());
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain("javascript:");
    expect(r.stderr).not.toContain("ABCD-EFGH");
  });

  test("a token with a foreign prefix is refused and nothing is saved", async () => {
    const s = await server({ autoApprove: null });
    s.faults.add({ match: { path: "/oauth/device/token" }, respond: { status: 200, body: { token: "app-0123456789abcdef", subject_type: "account", account: { id: "x", email: "e@x", name: "n" }, workspaces: [] } } });
    const dir = join(tempDir(), "cfg");
    const r = await login(s.url, dir, ["--json"]);
    expect(r.code).toBe(4);
    expect(envelope(r.stderr).code).toBe("invalid_token_prefix");
    expect(existsSync(join(dir, "tokens.yml"))).toBe(false);
  });

  test("Ctrl-C while waiting exits 130 and writes nothing", async () => {
    const s = await server({ autoApprove: null });
    const dir = join(tempDir(), "cfg");
    const proc = Bun.spawn([join(import.meta.dir, "..", "dist", "difyctl"), "auth", "login", "--host", s.url, "--insecure", "--no-browser"], { env: baseEnv(dir), stdout: "pipe", stderr: "pipe" });
    await readUntil(proc.stderr, "Waiting for authorization");
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(130);
    expect(existsSync(join(dir, "hosts.yml"))).toBe(false);
    expect(existsSync(join(dir, "tokens.yml"))).toBe(false);
  });
});

describe("re-login, account switch and host switch", () => {
  test("a failed re-login keeps the old session intact", async () => {
    const s = await server();
    const dir = tempDir();
    expect((await login(s.url, dir)).code).toBe(0);
    const hostsBefore = readFileSync(join(dir, "hosts.yml"), "utf8");
    const tokensBefore = tokensIn(dir);
    s.setOption({ autoApprove: null, autoDeny: { afterPolls: 1 } });
    const r = await login(s.url, dir);
    expect(r.code).toBe(4);
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).toBe(hostsBefore);
    expect(tokensIn(dir)).toBe(tokensBefore);
    expect((await run(["auth", "whoami"], { env: baseEnv(dir) })).stdout).toBe("gareth@dify.ai (Gareth Chen)\n");
  });

  test("another account on the same host: old session revoked, note printed, metadata replaced", async () => {
    const s = await server();
    const dir = tempDir();
    expect((await login(s.url, dir)).code).toBe(0);
    const oldToken = tokensIn(dir).match(/dfoa_[A-Za-z0-9_-]{43}/)![0];
    s.setOption({ autoApprove: { afterPolls: 1, as: EMAILS.alice } });
    const r = await login(s.url, dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("note: previous account signed out");
    expect(r.stdout).toContain("Logged in as alice@example.com (Alice Example)");
    const revoke = s.requests.filter((q) => q.method === "DELETE" && q.path.endsWith("/sessions/self"));
    expect(revoke.at(-1)!.headers.authorization).toBe(`Bearer ${oldToken}`);
    const tokens = tokensIn(dir);
    expect(tokens).not.toContain(oldToken);
    expect(tokens.match(/bearer:/g)).toHaveLength(1);
    const st = JSON.parse((await run(["auth", "status", "--json"], { env: baseEnv(dir) })).stdout);
    expect(st.account.email).toBe(EMAILS.alice);
    expect(st.available_workspaces_count).toBe(1);
  });

  test("a different host: note before the flow, old session cleared after success", async () => {
    const a = await server();
    const b = await server();
    const dir = tempDir();
    expect((await login(a.url, dir)).code).toBe(0);
    const r = await login(b.url, dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`note: switching from ${hostOf(a)} to ${hostOf(b)}; previous session will be cleared`);
    const tokens = tokensIn(dir);
    expect(tokens.match(/bearer:/g)).toHaveLength(1);
    expect(tokens).toContain(hostOf(b));
    expect(tokens).not.toContain(hostOf(a));
  });
});

describe("external SSO session", () => {
  test("login, status and whoami render the SSO subject without workspace lines", async () => {
    const s = await server({ autoApprove: { afterPolls: 1, as: "sso" } });
    const dir = tempDir();
    const r = await login(s.url, dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("sso-user@partner.com");
    const env = baseEnv(dir);
    const st = await run(["auth", "status"], { env });
    expect(st.stdout).toBe(`Logged in to ${hostOf(s)} as sso-user@partner.com (via https://idp.partner.com)\nSurface: permitted-external-apps (external SSO)\nScopes: apps:run, apps:read:permitted-external\n`);
    expect(st.stdout).not.toContain("Workspace");
    expect((await run(["auth", "whoami"], { env })).stdout).toBe("sso-user@partner.com (external SSO, issuer: https://idp.partner.com)\n");
    expect(JSON.parse((await run(["auth", "whoami", "--json"], { env })).stdout)).toEqual({ subject_type: "external_sso", email: "sso-user@partner.com", issuer: "https://idp.partner.com" });
  });
});

describe("logout edge cases and local files", () => {
  test("logout with a token the server already revoked still clears locally (warning, exit 0)", async () => {
    const s = await server();
    const dir = tempDir();
    expect((await login(s.url, dir)).code).toBe(0);
    for (const row of s.tokenRows()) s.revoke(row.id);
    const r = await run(["auth", "logout"], { env: baseEnv(dir) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: server revoke failed (401 Unauthorized); local credentials cleared anyway");
    expect(tokensIn(dir)).toBe("");
  });

  test("logout when the server is unreachable still clears locally", async () => {
    const s = await server();
    const dir = tempDir();
    expect((await login(s.url, dir)).code).toBe(0);
    await s.close();
    const r = await run(["auth", "logout"], { env: baseEnv(dir) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: server revoke failed");
    expect((await run(["auth", "status"], { env: baseEnv(dir) })).code).toBe(4);
  });

  test("a malformed hosts.yml stops login with exit 6 and is not overwritten", async () => {
    const s = await server();
    const dir = tempDir();
    writeFileSync(join(dir, "hosts.yml"), "current_host: [oops\n", { mode: 0o600 });
    const r = await login(s.url, dir, ["--json"]);
    expect(r.code).toBe(6);
    expect(envelope(r.stderr).code).toBe("config_schema_unsupported");
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).toBe("current_host: [oops\n");
    expect(s.requests.length).toBe(0);
    const st = await run(["auth", "status"], { env: baseEnv(dir) });
    expect(st.code).toBe(6);
  });

  test("no temp or lock files are left in the config dir", async () => {
    const s = await server();
    const dir = tempDir();
    expect((await login(s.url, dir)).code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(["hosts.yml", "tokens.yml"]);
  });
});

describe("router and error envelope", () => {
  test("usage errors exit 2 with a JSON envelope under --json or DIFY_OUTPUT=json", async () => {
    const env = baseEnv(tempDir());
    const a = await run(["auth", "status", "--bogus", "--json"], { env });
    expect(a.code).toBe(2);
    expect(a.stderr.trim().split("\n")).toHaveLength(1);
    expect(envelope(a.stderr).code).toBe("usage_invalid_flag");
    const b = await run(["nope"], { env: { ...env, DIFY_OUTPUT: "json" } });
    expect(b.code).toBe(2);
    expect(envelope(b.stderr).code).toBe("usage_unknown_command");
    const c = await run(["auth", "whoami", "extra"], { env });
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/^error: /);
  });
  test("help everywhere, version", async () => {
    const env = baseEnv(tempDir());
    for (const args of [["--help"], ["help"], ["auth", "--help"], ["auth"], ["auth", "login", "--help"], ["help", "auth", "status"], ["login", "-h"]]) {
      const r = await run(args, { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Usage:");
    }
    const v = await run(["version", "--json"], { env });
    expect(JSON.parse(v.stdout)).toMatchObject({ version: expect.any(String), channel: expect.any(String), commit: expect.any(String), platform: "linux" });
    expect((await run(["--version"], { env })).stdout).toMatch(/^difyctl \d+\.\d+\.\d+/);
  });
});

describe("environment session needs no config directory", () => {
  test("status and whoami work with neither HOME nor DIFY_CONFIG_DIR set", async () => {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", DIFY_TOKEN: "dfoa_" + "C".repeat(43), DIFY_HOST: "https://dify.example.com", DIFY_WORKSPACE_ID: "ws-1" };
    const st = await run(["auth", "status", "--json"], { env });
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ host: "dify.example.com", logged_in: true, storage: "env" });
    const w = await run(["auth", "whoami"], { env });
    expect(w.code).toBe(0);
    expect(w.stdout).toContain("environment");
  });
});

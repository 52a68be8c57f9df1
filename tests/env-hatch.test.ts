// The env escape hatch: command logic runs in-process (runInProcess); the sign-in fixture uses the
// compiled binary, and tests/binary-smoke.test.ts proves the binary end to end.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { envSession } from "../src/auth/session.ts";
import { type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, login, runInProcess as run, tempDir } from "./helpers.ts";

const MESSAGE = "env escape hatch requires all of DIFY_TOKEN, DIFY_HOST, DIFY_WORKSPACE_ID; missing: ";

let s: FakeServer;
let token: string;
let tokenId: string;
beforeAll(async () => {
  s = await startFakeServer({ ...FAST, autoApprove: { afterPolls: 1 } });
  ({ token, tokenId } = s.mintToken(undefined, "difyctl on ci-env"));
});
afterAll(async () => { await s.close(); });

const WS = IDS.workspaces.acme;
const full = () => ({ DIFY_TOKEN: token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: WS });

describe("env escape hatch (unit)", () => {
  test("the workspace comes from DIFY_WORKSPACE_ID; nothing names a stored token", () => {
    const e = envSession({ DIFY_TOKEN: "dfoa_" + "a".repeat(43), DIFY_HOST: "https://dify.example.com/", DIFY_WORKSPACE_ID: " ws1 " })!;
    expect(e).toMatchObject({ source: "env", tokenId: null, workspaceId: "ws1", subjectType: "account", meta: {} });
    expect(e.hostRef.baseUrl).toBe("https://dify.example.com");
  });
  test("a bad prefix is reported before the missing variables", () => {
    expect(() => envSession({ DIFY_TOKEN: "app-0123456789abcdef" })).toThrow(/not a difyctl OAuth token/);
  });
});

describe("env escape hatch (in-process: the router and commands the binary runs)", () => {
  const partials: [Record<string, string>, string][] = [
    [{ DIFY_TOKEN: "dfoa_" + "x".repeat(43) }, "DIFY_HOST, DIFY_WORKSPACE_ID"],
    [{ DIFY_HOST: "https://dify.example.com" }, "DIFY_TOKEN, DIFY_WORKSPACE_ID"],
    [{ DIFY_WORKSPACE_ID: "ws" }, "DIFY_TOKEN, DIFY_HOST"],
    [{ DIFY_TOKEN: "dfoa_" + "x".repeat(43), DIFY_HOST: "https://dify.example.com" }, "DIFY_WORKSPACE_ID"],
    [{ DIFY_TOKEN: "dfoe_" + "x".repeat(43) }, "DIFY_HOST"],
  ];
  for (const [vars, missing] of partials) {
    test(`partial set (${Object.keys(vars).join(" + ")}) → exit 2 naming ${missing}; no request, no storage`, async () => {
      const dir = join(tempDir(), "cfg");
      const before = s.requests.length;
      const r = await run(["auth", "devices", "list"], { env: baseEnv(dir, vars) });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`error: ${MESSAGE}${missing}\nhint: set the missing variables, or unset the others to use the stored session\n`);
      expect(s.requests.length).toBe(before);
      expect(existsSync(dir)).toBe(false);
    });
  }

  for (const bad of ["app-0123456789abcdefghij", "dfp_0123456789abcdefghij", "sk-0123456789abcdef", "dfoa_has spaces", "Bearer dfoa_x"]) {
    test(`DIFY_TOKEN '${bad.slice(0, 6)}…' → invalid_token_prefix exit 4, no request, token not echoed`, async () => {
      const before = s.requests.length;
      const r = await run(["auth", "devices", "list", "--json"], { env: baseEnv(join(tempDir(), "cfg"), { ...full(), DIFY_TOKEN: bad }) });
      expect(r.code).toBe(4);
      expect(envelope(r.stderr).code).toBe("invalid_token_prefix");
      expect(r.stderr).not.toContain("0123456789abcdef");
      expect(s.requests.length).toBe(before);
    });
  }

  test("a full set is used as is: the env bearer is sent, a corrupt hosts.yml is neither read nor touched", async () => {
    const dir = join(tempDir(), "cfg");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "hosts.yml"), "{{{ not yaml", { mode: 0o600 });
    const env = baseEnv(dir, full());
    const r = await run(["auth", "devices", "list", "--json"], { env });
    expect(r.code).toBe(0);
    const ids = (JSON.parse(r.stdout) as { id: string; current: boolean }[]);
    expect(ids.map((x) => x.id)).toContain(tokenId);
    expect(ids.every((x) => !x.current)).toBe(true); // its own id is unknown: nothing is starred
    const q = s.requests.filter((x) => x.path.endsWith("/account/sessions")).at(-1)!;
    expect(q.headers.authorization).toBe(`Bearer ${token}`);
    expect(readdirSync(dir)).toEqual(["hosts.yml"]);
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).toBe("{{{ not yaml");
  });

  test("the config dir is never even located: no HOME and no DIFY_CONFIG_DIR still works", async () => {
    const cache = join(tempDir(), "cache");
    const r = await run(["auth", "devices", "list"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", DIFY_CACHE_DIR: cache, ...full() } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("difyctl on ci-env");
  });

  test("status and whoami say the session comes from the environment, offline", async () => {
    const env = baseEnv(join(tempDir(), "cfg"), full());
    const before = s.requests.length;
    const st = await run(["auth", "status"], { env });
    expect(st.code).toBe(0);
    expect(st.stdout).toContain("environment");
    expect(st.stdout).toContain("DIFY_TOKEN");
    expect(JSON.parse((await run(["auth", "status", "--json"], { env })).stdout)).toMatchObject({ logged_in: true, storage: "env" });
    const w = await run(["auth", "whoami"], { env });
    expect(w.stdout).toContain("session from the environment");
    expect(JSON.parse((await run(["auth", "whoami", "--json"], { env })).stdout)).toMatchObject({ source: "env", subject_type: "account" });
    expect(s.requests.length).toBe(before);
    expect(st.stdout + w.stdout).not.toContain(token);
  });

  test("login, logout and auth use refuse, naming the variables to unset; nothing is sent or written", async () => {
    const dir = join(tempDir(), "cfg");
    const env = baseEnv(dir, full());
    const before = s.requests.length;
    for (const args of [["auth", "login", "--host", s.url, "--insecure", "--no-browser"], ["logout"], ["auth", "use", WS]]) {
      const r = await run(args, { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("environment");
      expect(r.stderr).toMatch(/DIFY_TOKEN, DIFY_HOST, DIFY_WORKSPACE_ID/);
    }
    const partial = await run(["logout"], { env: baseEnv(dir, { DIFY_WORKSPACE_ID: WS }) });
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain("unset DIFY_WORKSPACE_ID");
    expect(s.requests.length).toBe(before);
    expect(existsSync(dir)).toBe(false);
  });

  test("a rejected env token → auth_expired naming DIFY_TOKEN; the stored session is left alone", async () => {
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir)).code).toBe(0);
    const h0 = readFileSync(join(dir, "hosts.yml"), "utf8");
    const t0 = readFileSync(join(dir, "tokens.yml"), "utf8");
    const dead = s.mintToken(undefined, "difyctl on doomed");
    s.revoke(dead.tokenId);
    const r = await run(["auth", "devices", "list", "--json"], { env: baseEnv(dir, { ...full(), DIFY_TOKEN: dead.token }) });
    expect(r.code).toBe(4);
    const e = envelope(r.stderr);
    expect(e.code).toBe("auth_expired");
    expect(e.message).toContain("DIFY_TOKEN");
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).toBe(h0);
    expect(readFileSync(join(dir, "tokens.yml"), "utf8")).toBe(t0);
    expect((await run(["auth", "status"], { env: baseEnv(dir) })).code).toBe(0);
  });

  test("an SSO token needs no DIFY_WORKSPACE_ID", async () => {
    const sso = s.mintToken("sso", "difyctl on sso-box");
    const env = baseEnv(join(tempDir(), "cfg"), { DIFY_TOKEN: sso.token, DIFY_HOST: s.url });
    const r = await run(["auth", "whoami", "--json"], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ subject_type: "external_sso", source: "env" });
  });
});

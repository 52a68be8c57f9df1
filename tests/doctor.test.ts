// `auth doctor` and `auth status --verify`, end to end against the fake server, plus the pure
// pieces of the doctor (mount table, clock skew).
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeServer, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, login, run, tempDir, serverPool } from "./helpers.ts";
import { KNOWN_DIFY_VARS, noexecMount, skewCheck } from "../src/doctor/doctor.ts";
import { storagePolicy } from "../src/storage/storage-policy.ts";
import { mkdirSync } from "node:fs";

const pool = serverPool();
const server = pool.start;
afterAll(async () => { await pool.closeAll(); });

interface Check { id: string; status: "pass" | "warn" | "fail"; message: string; hint: string | null; data?: Record<string, unknown> }
interface Report { ok: boolean; summary: { pass: number; warn: number; fail: number }; checks: Check[] }
const byId = (r: Report, id: string) => r.checks.find((c) => c.id === id)!;

/** Names, sizes, modes and mtimes of everything in the dir: "doctor writes nothing" is checked against it. */
function snapshot(dir: string): string {
  return readdirSync(dir).sort().map((n) => {
    const st = statSync(join(dir, n));
    return `${n} ${st.size} ${(st.mode & 0o777).toString(8)} ${st.mtimeMs}`;
  }).join("\n") + `\n. ${statSync(dir).mtimeMs}`;
}

async function signedIn(opts: Parameters<typeof startFakeServer>[0] = {}) {
  const s = await server(opts);
  const dir = join(tempDir(), "cfg");
  const r = await login(s.url, dir);
  expect(r.code).toBe(0);
  return { s, dir };
}

const doctor = async (env: Record<string, string>, extra: string[] = []) => {
  const r = await run(["auth", "doctor", "--json", ...extra], { env });
  return { ...r, report: JSON.parse(r.stdout) as Report };
};

describe("auth doctor", () => {
  test("healthy signed-in setup: exit 0, every area reported, only unauthenticated GETs, nothing written", async () => {
    const { s, dir } = await signedIn();
    const before = snapshot(dir);
    const n = s.requests.length;
    const { code, report } = await doctor(baseEnv(dir, { DIFY_DEBUG: "0" }));
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.summary.fail).toBe(0);
    for (const id of ["env", "config_dir", "file:hosts.yml", "file:tokens.yml", "session", "storage", "server", "clock", "server_version"]) {
      expect(byId(report, id)?.status).not.toBe("fail");
    }
    expect(byId(report, "config_dir")).toMatchObject({ status: "pass", data: { mode: "0700", writable: true } });
    expect(byId(report, "file:tokens.yml")).toMatchObject({ status: "pass", data: { mode: "0600" } });
    expect(byId(report, "session")).toMatchObject({ status: "pass", message: expect.stringContaining("gareth@dify.ai") });
    expect(byId(report, "storage").message).toContain("tokens.yml");
    // No session bus in the test environment: the keychain is a warning with the reason, not a failure.
    expect(byId(report, "keychain")).toMatchObject({ status: "warn", data: { why: "no_dbus" }, message: expect.stringContaining("no D-Bus session bus") });
    expect(byId(report, "server_version")).toMatchObject({ status: "pass", message: "Dify 1.14.0 (SELF_HOSTED)" });
    expect(byId(report, "clock").status).toBe("pass");
    expect(byId(report, "env").data).toMatchObject({ names: expect.arrayContaining(["DIFY_CONFIG_DIR", "DIFY_DEBUG"]) });
    const reqs = s.requests.slice(n);
    expect(reqs.map((q) => `${q.method} ${q.path}`).sort()).toEqual(["GET /openapi/v1/_health", "GET /openapi/v1/_version"]);
    expect(reqs.every((q) => !q.headers.authorization)).toBe(true);
    expect(snapshot(dir)).toBe(before);
  });

  test("human output: one pass/warn/fail line per check, fix hints, summary line", async () => {
    const { dir } = await signedIn();
    const r = await run(["auth", "doctor"], { env: baseEnv(dir) });
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.filter((l) => /^(pass|warn|fail)  /.test(l)).length).toBeGreaterThanOrEqual(9);
    expect(r.stdout).toMatch(/^warn  keychain .*\n +fix: /m);
    expect(r.stdout).toMatch(/\n\d+ passed, \d+ warnings?, 0 failed\n$/);
  });

  test("read-only config dir with a group/world-readable tokens.yml: fails with the chmod fix, writes nothing", async () => {
    const { dir } = await signedIn();
    chmodSync(join(dir, "tokens.yml"), 0o644);
    chmodSync(dir, 0o500);
    try {
      const before = snapshot(dir);
      const { code, report } = await doctor(baseEnv(dir));
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      expect(byId(report, "config_dir")).toMatchObject({ status: "warn", data: { writable: false }, message: expect.stringContaining("read-only") });
      expect(byId(report, "file:tokens.yml")).toMatchObject({ status: "fail", hint: `chmod 600 '${join(dir, "tokens.yml")}'` });
      expect(byId(report, "file:hosts.yml").status).toBe("pass");
      expect(snapshot(dir)).toBe(before);
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  test("a looser hosts.yml is a warning only; the exit stays 0", async () => {
    const { dir } = await signedIn();
    chmodSync(join(dir, "hosts.yml"), 0o640);
    const { code, report } = await doctor(baseEnv(dir));
    expect(code).toBe(0);
    expect(byId(report, "file:hosts.yml")).toMatchObject({ status: "warn", hint: expect.stringContaining("chmod 600") });
  });

  test("no Secret Service: keychain required by DIFY_TOKEN_STORAGE=keychain → fail, exit 1", async () => {
    const dir = join(tempDir(), "cfg");
    const { code, report } = await doctor(baseEnv(dir, { DIFY_TOKEN_STORAGE: "keychain", DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/bus" }));
    expect(code).toBe(1);
    expect(byId(report, "keychain")).toMatchObject({ status: "fail", data: { reachable: false, why: "no_dbus" } });
    expect(byId(report, "keychain").message).toContain("no D-Bus session bus");
  });

  const BUS = process.env.DBUS_SESSION_BUS_ADDRESS;
  test.skipIf(!BUS)("with the Secret Service of `npm test`: keychain reachable, session token found there", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir, [], { DBUS_SESSION_BUS_ADDRESS: BUS })).code).toBe(0);
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).toContain("token_storage: keychain");
    const { code, report } = await doctor(baseEnv(dir, { DBUS_SESSION_BUS_ADDRESS: BUS! }));
    expect(code).toBe(0);
    expect(byId(report, "keychain")).toMatchObject({ status: "pass", data: { reachable: true } });
    expect(byId(report, "storage").message).toContain("OS keychain");
    expect(byId(report, "session").status).toBe("pass");
    // The same session without the bus: the token cannot be read, so the session fails.
    const off = await doctor(baseEnv(dir));
    expect(off.code).toBe(1);
    expect(byId(off.report, "keychain").status).toBe("fail");
    expect(byId(off.report, "session").status).toBe("fail");
  });

  const haveDbus = Bun.spawnSync(["sh", "-c", "command -v dbus-run-session"]).exitCode === 0;
  test.skipIf(!haveDbus)("a session bus without any Secret Service provider is named as such", async () => {
    const dir = join(tempDir(), "cfg");
    const conf = join(tempDir(), "bus.conf");
    writeFileSync(conf, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>\n`);
    const { BIN } = await import("./helpers.ts");
    const proc = Bun.spawn(["dbus-run-session", `--config-file=${conf}`, "--", BIN, "auth", "doctor", "--json"], { env: baseEnv(dir), stdout: "pipe", stderr: "pipe" });
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    const report = JSON.parse(out.trim().split("\n").pop()!) as Report;
    expect(byId(report, "keychain")).toMatchObject({ status: "warn", data: { reachable: false, why: "no_secret_service" } });
    expect(byId(report, "keychain").message).toContain("no Secret Service");
  });

  test("clock skew from the server's Date header; an old server without /_version is a warning", async () => {
    const { s, dir } = await signedIn({ version: null });
    const future = new Date(Date.now() + 20 * 60_000).toUTCString();
    s.faults.add({ match: { path: "/_health" }, respond: { status: 200, body: { ok: true }, headers: { Date: future } } });
    const { code, report } = await doctor(baseEnv(dir));
    expect(code).toBe(1);
    expect(byId(report, "clock")).toMatchObject({ status: "fail", message: expect.stringContaining("20 min behind") });
    expect(byId(report, "server_version").status).toBe("warn");
  });

  test("unreachable server → fail, exit 1; --host checks a server before any login", async () => {
    const dir = join(tempDir(), "cfg");
    const bad = await doctor(baseEnv(dir), ["--host", "http://127.0.0.1:9"]);
    expect(bad.code).toBe(1);
    expect(byId(bad.report, "server")).toMatchObject({ status: "fail", data: { error: "network_connection" } });
    const s = await server();
    const good = await doctor(baseEnv(dir), ["--host", s.url]);
    expect(good.code).toBe(0);
    expect(byId(good.report, "server_version").status).toBe("pass");
    expect(byId(good.report, "session").status).toBe("warn");
  });

  test("environment: names only, never values; a partial escape hatch fails; a typo warns", async () => {
    const dir = join(tempDir(), "cfg");
    const secret = "dfoa_doctorNeverPrintsThisValue123";
    const { code, report, stdout, stderr } = await doctor(baseEnv(dir, { DIFY_TOKEN: secret, DIFY_TOKN_STORAGE: "file-value-xyz" }));
    expect(code).toBe(1);
    expect(byId(report, "env")).toMatchObject({ status: "fail", message: expect.stringContaining("DIFY_HOST") });
    expect(byId(report, "env").data).toMatchObject({ unknown: ["DIFY_TOKN_STORAGE"] });
    expect(stdout + stderr).not.toContain("doctorNeverPrints");
    expect(stdout + stderr).not.toContain("file-value-xyz");
    const typo = await doctor(baseEnv(dir, { DIFY_TOKN_STORAGE: "file" }));
    expect(byId(typo.report, "env")).toMatchObject({ status: "warn", message: expect.stringContaining("DIFY_TOKN_STORAGE") });
  });

  test("a pending --no-wait sign-in is reported with its code, never the device code", async () => {
    const s = await server({ autoApprove: null });
    const dir = join(tempDir(), "cfg");
    await run(["auth", "login", "--host", s.url, "--insecure", "--no-wait"], { env: baseEnv(dir) });
    const { report, stdout } = await doctor(baseEnv(dir));
    const { userCode, deviceCode } = s.pending()[0];
    expect(byId(report, "pending_login")).toMatchObject({ status: "pass", data: { user_code: userCode } });
    expect(byId(report, "file:login-pending.yml").status).toBe("pass");
    expect(stdout).not.toContain(deviceCode);
  });
});

describe("auth doctor applies the rules a sign-in applies", () => {
  test("storage variables: a value login refuses fails here too, named but never quoted; the conflict login refuses is a failure", async () => {
    const dir = join(tempDir(), "cfg");
    const bad = await doctor(baseEnv(dir, { DIFY_TOKEN_STORAGE: "floppy-secret-value" }));
    expect(bad.code).toBe(1);
    expect(byId(bad.report, "env")).toMatchObject({ status: "fail", message: expect.stringContaining("DIFY_TOKEN_STORAGE must be auto, keychain or file") });
    expect(bad.stdout).not.toContain("floppy-secret-value");
    // Login refuses this pair (usage_invalid_flag); the doctor used to call it the file store.
    const env = { DIFY_TOKEN_STORAGE: "keychain", DIFY_CREDENTIAL_STORAGE: "file" };
    expect(() => storagePolicy(env, false)).toThrow("conflicts");
    const both = await doctor(baseEnv(dir, env));
    expect(both.code).toBe(1);
    expect(byId(both.report, "env")).toMatchObject({ status: "fail", message: expect.stringContaining("DIFY_TOKEN_STORAGE=keychain conflicts") });
    expect(byId(both.report, "storage").status).toBe("fail");
  });

  test("a config dir others can write fails with the sign-in's own refusal; a lock path that is a directory fails with its removal", async () => {
    const dir = join(tempDir(), "cfg");
    mkdirSync(dir, { mode: 0o700 });
    chmodSync(dir, 0o777);
    const open = await doctor(baseEnv(dir));
    expect(open.code).toBe(1);
    expect(byId(open.report, "config_dir")).toMatchObject({
      status: "fail", message: `config directory ${dir} (mode 0777) can be written by other users; difyctl does not store credentials there`,
      hint: expect.stringContaining(`chmod 700 '${dir}'`),
    });
    const login = await run(["auth", "login", "--host", "http://127.0.0.1:9", "--insecure", "--no-browser"], { env: baseEnv(dir) });
    expect(login.stderr).toContain(byId(open.report, "config_dir").message);
    chmodSync(dir, 0o700);
    mkdirSync(join(dir, ".difyctl.lock"));
    const lock = await doctor(baseEnv(dir));
    expect(byId(lock.report, "file:.difyctl.lock")).toMatchObject({ status: "fail", hint: `if no other difyctl is running, remove it: rm -r '${join(dir, ".difyctl.lock")}'` });
  });

  test("a dead DBUS_SESSION_BUS_ADDRESS is named as a gone bus, a missing one as normal on servers", async () => {
    const dir = join(tempDir(), "cfg");
    const dead = await doctor(baseEnv(dir, { DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/bus" }));
    expect(byId(dead.report, "keychain")).toMatchObject({ status: "warn", data: { why: "no_dbus" }, hint: expect.stringContaining("points at a bus that is gone") });
    const none = await doctor(baseEnv(dir));
    expect(byId(none.report, "keychain").hint).toContain("normal on servers and containers");
  });

  test("every DIFY_* variable the source reads is known to the doctor (no false typo warning)", () => {
    const src = Bun.spawnSync(["grep", "-rhoE", "\\bDIFY_[A-Z_]+[A-Z]\\b", join(import.meta.dir, "..", "src")]).stdout.toString();
    const used = [...new Set(src.split("\n").filter(Boolean))].sort();
    expect(used.length).toBeGreaterThan(8);
    expect(used.filter((v) => !KNOWN_DIFY_VARS.includes(v))).toEqual([]);
  });
});

describe("doctor internals", () => {
  const mountinfo = [
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "30 22 0:26 / /tmp rw,nosuid,nodev,noexec shared:5 - tmpfs tmpfs rw",
    "31 22 0:27 / /tmp/exec\\040dir rw,nosuid shared:6 - tmpfs tmpfs rw",
  ].join("\n");
  test("noexec is read from the longest matching mount point", () => {
    expect(noexecMount("/tmp", mountinfo)).toBe(true);
    expect(noexecMount("/tmp/x/y", mountinfo)).toBe(true);
    expect(noexecMount("/tmp/exec dir/z", mountinfo)).toBe(false);
    expect(noexecMount("/home/u", mountinfo)).toBe(false);
    expect(noexecMount("/tmpfoo", mountinfo)).toBe(false);
  });
  test("clock skew thresholds: ≤ 30 s pass, ≤ 10 min warn, beyond fail; the Date second is not skew", () => {
    const t = Date.parse("2026-06-01T12:00:00Z");
    const at = (ms: number) => skewCheck(new Date(t + ms).toUTCString(), t, t);
    expect(at(900).status).toBe("pass");
    expect(at(-25_000).status).toBe("pass");
    expect(at(-60_000).status).toBe("warn");
    expect(at(5 * 60_000).status).toBe("warn");
    expect(at(11 * 60_000).status).toBe("fail");
    expect(skewCheck(null, t, t).status).toBe("warn");
  });
});

describe("auth status --verify", () => {
  test("one GET /account with the bearer; verified in JSON and human output; plain status stays offline", async () => {
    const { s, dir } = await signedIn();
    const n = s.requests.length;
    const j = await run(["auth", "status", "--verify", "--json"], { env: baseEnv(dir) });
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ logged_in: true, verified: true, verified_with: "/account" });
    const acct = s.requests.slice(n).filter((q) => q.path === "/openapi/v1/account");
    expect(acct).toHaveLength(1);
    expect(acct[0].headers.authorization).toMatch(/^Bearer dfoa_/);
    const h = await run(["auth", "status", "--verify"], { env: baseEnv(dir) });
    expect(h.stdout).toMatch(/^Verified: the server accepted this session \(GET \/account, \d+ ms\)$/m);
    const m = s.requests.length;
    expect((await run(["auth", "status"], { env: baseEnv(dir) })).code).toBe(0);
    expect(s.requests.length).toBe(m);
  });

  test("a revoked session → exit 4 auth_expired and the local session is cleared", async () => {
    const { s, dir } = await signedIn();
    const tokenId = /token_id: (\S+)/.exec(readFileSync(join(dir, "hosts.yml"), "utf8"))![1];
    s.revoke(tokenId);
    const r = await run(["auth", "status", "--verify", "--json"], { env: baseEnv(dir) });
    expect(r.code).toBe(4);
    expect(envelope(r.stderr).code).toBe("auth_expired");
    expect(r.stdout).toBe("");
    expect(readFileSync(join(dir, "hosts.yml"), "utf8")).not.toContain("token_id");
    expect((await run(["auth", "status"], { env: baseEnv(dir) })).code).toBe(4);
  });

  test("an external SSO session verifies with GET /permitted-external-apps?limit=1 (June /account is dfoa_-only)", async () => {
    const { s, dir } = await signedIn({ autoApprove: { afterPolls: 1, as: "sso" } });
    const n = s.requests.length;
    const r = await run(["auth", "status", "--verify", "--json"], { env: baseEnv(dir) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verified: true, verified_with: "/permitted-external-apps" });
    const q = s.requests.slice(n).filter((x) => x.path.startsWith("/openapi/v1/permitted-external-apps"));
    expect(q).toHaveLength(1);
    expect(q[0].query).toEqual({ limit: "1" });
    expect(s.requests.slice(n).some((x) => x.path === "/openapi/v1/account")).toBe(false);
  });
});

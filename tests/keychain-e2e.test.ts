// The keychain runtime end to end: the compiled binary, the fake Dify server and a real Secret
// Service (gnome-keyring). `npm test` runs the suite inside a private D-Bus session; the binary
// gets that bus only when a test passes DBUS_SESSION_BUS_ADDRESS explicitly (baseEnv strips it).
// Without a session bus these tests FAIL, so a broken CI setup is noticed — unless
// DIFYCTL_TEST_NO_KEYCHAIN=1 says the machine has no keychain on purpose.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lookupSecret } from "../src/storage/keychain-secret-service.ts";
import { EMAILS, type FakeServer, startFakeServer } from "./fake/server.ts";
import { baseEnv, BIN, envelope, FAST, login, run, tempDir } from "./helpers.ts";

const BUS = process.env.DBUS_SESSION_BUS_ADDRESS;
const NO_KEYCHAIN = process.env.DIFYCTL_TEST_NO_KEYCHAIN === "1";
/** Several binary runs, or a deliberate wait on a hung keychain (bunfig's timeout is not applied by bun 1.4.5). */
const SLOW = 30_000;
/** Needs the inherited Secret Service session. */
const kc = !BUS && NO_KEYCHAIN ? test.skip : test;
/** Needs dbus-daemon + gnome-keyring-daemon to start a private session of its own. */
const ktool = NO_KEYCHAIN ? test.skip : test;

test("the suite runs with a Secret Service session bus (or DIFYCTL_TEST_NO_KEYCHAIN=1)", () => {
  if (NO_KEYCHAIN) return;
  expect(BUS, "DBUS_SESSION_BUS_ADDRESS is unset: run the suite with `npm test`, or set DIFYCTL_TEST_NO_KEYCHAIN=1 on a machine without a keychain").toBeTruthy();
});

const servers: FakeServer[] = [];
async function server(opts: Parameters<typeof startFakeServer>[0] = {}): Promise<FakeServer> {
  const s = await startFakeServer({ ...FAST, autoApprove: { afterPolls: 1 }, ...opts });
  servers.push(s);
  return s;
}
const cleanups: (() => void)[] = [];
afterAll(async () => {
  for (const c of cleanups) try { c(); } catch { /* best effort */ }
  await Promise.all(servers.map((s) => s.close()));
});

const hostOf = (s: FakeServer) => new URL(s.url).host;
const withBus = (extra: Record<string, string | undefined> = {}) => ({ DBUS_SESSION_BUS_ADDRESS: BUS, ...extra });
const hostsYml = (dir: string) => (existsSync(join(dir, "hosts.yml")) ? readFileSync(join(dir, "hosts.yml"), "utf8") : "");
const field = (yml: string, key: string) => yml.match(new RegExp(`^${key}: (.*)$`, "m"))?.[1] ?? null;
const bearerRequests = (s: FakeServer, bearer: string) => s.requests.filter((r) => r.headers.authorization === `Bearer ${bearer}`);

// Direct access to the Secret Service from the test process, as a second, independent client.
type Entry = { getPassword(): string | null; setPassword(v: string): void; deletePassword(): boolean };
function entry(account: string): Entry {
  const { Entry: E } = require("@napi-rs/keyring") as { Entry: new (s: string, a: string, o?: unknown) => Entry };
  return new E("difyctl", account, { linux: { store: "secret-service" } });
}
function keychainBlob(host: string): { bearer: string; source: string; token_id: string; expires_at: string | null } | null {
  const v = entry(host).getPassword();
  return v === null ? null : JSON.parse(v);
}
/** Accounts of every `difyctl` item, via secret-tool (libsecret), a client other than ours. */
function difyctlAccounts(env: Record<string, string | undefined> = process.env): string[] {
  const r = Bun.spawnSync(["secret-tool", "search", "--all", "service", "difyctl"], { env: env as Record<string, string>, stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString() + r.stderr.toString();
  if (r.exitCode !== 0 && out.trim() !== "") throw new Error(`secret-tool failed (${r.exitCode})`);
  return [...out.matchAll(/^attribute\.username = (.*)$/gm)].map((m) => m[1]);
}

/** Every file under the given directories, for the "token is in no file" check. */
function filesUnder(...dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p); else out.push(p);
    }
  };
  dirs.forEach(walk);
  return out;
}

/** A private D-Bus session with its own unlocked gnome-keyring, so it can be locked or frozen. */
function privateKeyring(): { address: string; env: Record<string, string>; lock(): void; freeze(): void; thaw(): void; close(): void; servicePid(): number } {
  const home = tempDir("difyctl-kr-home-");
  const rt = tempDir("difyctl-kr-run-");
  chmodSync(rt, 0o700);
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_RUNTIME_DIR: rt };
  const d = Bun.spawnSync(["dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1"], { env, stdout: "pipe", stderr: "pipe" });
  if (d.exitCode !== 0) throw new Error(`dbus-daemon failed: ${d.stderr.toString()}`);
  const [address, pidText] = d.stdout.toString().trim().split("\n");
  const pid = Number(pidText);
  env.DBUS_SESSION_BUS_ADDRESS = address;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try { process.kill(pid, "SIGCONT"); process.kill(pid, "SIGTERM"); } catch { /* gone */ }
  };
  cleanups.push(close);
  const g = Bun.spawnSync(["gnome-keyring-daemon", "--unlock", "--components=secrets"], { env, stdin: Buffer.from("difyctl-test"), stdout: "ignore", stderr: "ignore" });
  if (g.exitCode !== 0) throw new Error("gnome-keyring-daemon --unlock failed");
  return {
    address, env, close,
    lock() {
      const r = Bun.spawnSync(["dbus-send", "--session", "--dest=org.freedesktop.secrets", "--print-reply", "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service.Lock", "array:objpath:/org/freedesktop/secrets/collection/login"], { env, stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`lock failed: ${r.stderr.toString()}`);
    },
    freeze() { process.kill(pid, "SIGSTOP"); },
    thaw() { process.kill(pid, "SIGCONT"); },
    /** The pid of the process that owns org.freedesktop.secrets on this bus (gnome-keyring). */
    servicePid() {
      const r = Bun.spawnSync(["dbus-send", "--session", "--dest=org.freedesktop.DBus", "--print-reply", "/org/freedesktop/DBus",
        "org.freedesktop.DBus.GetConnectionUnixProcessID", "string:org.freedesktop.secrets"], { env, stdout: "pipe", stderr: "pipe" });
      const m = r.stdout.toString().match(/uint32 (\d+)/);
      if (!m) throw new Error(`no Secret Service pid: ${r.stderr.toString()}`);
      return Number(m[1]);
    },
  };
}

describe("keychain mode: login, reads from a second process, logout", () => {
  let s: FakeServer;
  let dir: string;
  let bearer = "";
  beforeAll(async () => {
    s = await server();
    dir = join(tempDir(), "cfg");
  });

  kc("login stores the bearer in the Secret Service and in no file", async () => {
    const r = await login(s.url, dir, [], withBus());
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Logged in as gareth@dify.ai (Gareth Chen)\nWorkspace: Acme Corp\n");
    expect(r.stderr).not.toContain("info:");
    expect(r.stderr).not.toContain("keychain");
    expect(r.stderr).not.toContain("plain text in");
    const yml = hostsYml(dir);
    expect(field(yml, "token_storage")).toBe("keychain");
    const blob = keychainBlob(hostOf(s));
    expect(blob).not.toBeNull();
    expect(Object.keys(blob!).sort()).toEqual(["bearer", "expires_at", "source", "token_id"]);
    expect(blob!.bearer).toMatch(/^dfoa_[A-Za-z0-9_-]{43}$/);
    expect(blob!.source).toBe("oauth");
    expect(blob!.token_id).toBe(field(yml, "token_id")!);
    expect(blob!.expires_at).toBe(field(yml, "token_expires_at")!);
    bearer = blob!.bearer;
    expect(existsSync(join(dir, "tokens.yml"))).toBe(false);
    const files = filesUnder(dir, dir + "-home", dir + "-cache");
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(readFileSync(f, "latin1").includes(bearer), f).toBe(false);
    expect(r.stdout + r.stderr).not.toContain(bearer);
  });

  kc("the probe leaves no difyctl-probe:* entry behind", () => {
    const accounts = difyctlAccounts();
    expect(accounts).toContain(hostOf(s));
    expect(accounts.filter((a) => a.startsWith("difyctl-probe:"))).toEqual([]);
  });

  kc("status and whoami read the session from the keychain in another process, offline", async () => {
    const before = s.requests.length;
    const st = await run(["auth", "status", "--json"], { env: baseEnv(dir, withBus()) });
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ host: hostOf(s), logged_in: true, storage: "keychain" });
    const v = await run(["auth", "status", "-v"], { env: baseEnv(dir, withBus()) });
    expect(v.stdout).toContain("Storage: keychain");
    const w = await run(["auth", "whoami"], { env: baseEnv(dir, withBus()) });
    expect([w.code, w.stdout]).toEqual([0, "gareth@dify.ai (Gareth Chen)\n"]);
    expect(s.requests.length).toBe(before);
  });

  kc("a bearer-using command sends the keychain's token; a `tokens:` key hand-added to hosts.yml is ignored", async () => {
    writeFileSync(join(dir, "hosts.yml"), hostsYml(dir) + `tokens:\n  bearer: "dfoa_${"Z".repeat(43)}"\n`);
    const r = await run(["auth", "devices", "list", "--json"], { env: baseEnv(dir, withBus()) });
    expect(r.code).toBe(0);
    const sent = s.requests.filter((q) => q.path.endsWith("/account/sessions")).map((q) => q.headers.authorization);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((h) => h === `Bearer ${bearer}`)).toBe(true);
  });

  kc("metadata whose token_id the keychain blob does not match is logged out (an interrupted login), never used", async () => {
    const e = entry(hostOf(s));
    const good = e.getPassword()!;
    const before = s.requests.length;
    try {
      e.setPassword(JSON.stringify({ ...JSON.parse(good), token_id: "another-token-id" }));
      const st = await run(["auth", "status"], { env: baseEnv(dir, withBus()) });
      expect([st.code, st.stdout]).toEqual([4, "Not logged in. Run 'difyctl auth login' to sign in.\n"]);
      const d = await run(["auth", "devices", "list", "--json"], { env: baseEnv(dir, withBus()) });
      expect([d.code, envelope(d.stderr).code]).toEqual([4, "not_logged_in"]);
      expect(s.requests.length).toBe(before);
    } finally {
      e.setPassword(good);
    }
  });

  kc("metadata without a keychain entry is logged out", async () => {
    const e = entry(hostOf(s));
    const good = e.getPassword()!;
    try {
      expect(e.deletePassword()).toBe(true);
      const w = await run(["auth", "whoami", "--json"], { env: baseEnv(dir, withBus()) });
      expect([w.code, envelope(w.stderr).code]).toEqual([4, "not_logged_in"]);
    } finally {
      e.setPassword(good);
    }
  });

  kc("the same directory without the Secret Service: keyring_unavailable, exit 4 — not 'not logged in'", async () => {
    const st = await run(["auth", "status", "--json"], { env: baseEnv(dir) });
    expect(st.code).toBe(4);
    const env = envelope(st.stderr);
    expect(env.code).toBe("keyring_unavailable");
    expect(env.hint).toContain("--no-keyring");
    expect(hostsYml(dir)).toContain("token_storage: keychain"); // nothing was cleared
  });

  kc("logout revokes with the keychain's bearer and deletes the entry", async () => {
    const r = await run(["auth", "logout"], { env: baseEnv(dir, withBus()) });
    expect([r.code, r.stdout]).toEqual([0, `Logged out of ${hostOf(s)}\n`]);
    const del = bearerRequests(s, bearer).filter((q) => q.method === "DELETE" && q.path.endsWith("/account/sessions/self"));
    expect(del).toHaveLength(1);
    expect(keychainBlob(hostOf(s))).toBeNull();
    expect(difyctlAccounts()).not.toContain(hostOf(s));
    expect(field(hostsYml(dir), "token_id")).toBeNull();
    expect(existsSync(join(dir, "tokens.yml"))).toBe(false);
  });
});

describe("keychain mode: switching and 401 leave nothing behind", () => {
  kc("host switch removes the old host's entry; account switch replaces the entry and revokes the old token", async () => {
    const a = await server();
    const b = await server();
    const dir = join(tempDir(), "cfg");
    expect((await login(a.url, dir, [], withBus())).code).toBe(0);
    expect(keychainBlob(hostOf(a))).not.toBeNull();

    const r = await login(b.url, dir, [], withBus());
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`note: switching from ${hostOf(a)} to ${hostOf(b)}`);
    expect(keychainBlob(hostOf(a))).toBeNull();
    const first = keychainBlob(hostOf(b))!;
    expect(first.token_id).toBe(field(hostsYml(dir), "token_id")!);

    b.setOption({ autoApprove: { afterPolls: 1, as: EMAILS.alice } });
    const sw = await login(b.url, dir, [], withBus());
    expect(sw.code).toBe(0);
    expect(sw.stderr).toContain("note: previous account signed out");
    const second = keychainBlob(hostOf(b))!;
    expect(second.token_id).not.toBe(first.token_id);
    expect(second.token_id).toBe(field(hostsYml(dir), "token_id")!);
    expect(hostsYml(dir)).toContain(EMAILS.alice);
    expect(b.tokenRows().find((t) => t.id === first.token_id)?.revokedAt).not.toBeNull();
    expect(bearerRequests(b, first.bearer).some((q) => q.method === "DELETE")).toBe(true);
    const accounts = difyctlAccounts();
    expect(accounts).not.toContain(hostOf(a));
    expect(accounts.filter((x) => x.startsWith("difyctl-probe:"))).toEqual([]);

    // 401: the server revoked the token → the local session and the keychain entry go.
    b.revoke(second.token_id);
    const d = await run(["auth", "devices", "list", "--json"], { env: baseEnv(dir, withBus()) });
    expect([d.code, envelope(d.stderr).code]).toEqual([4, "auth_expired"]);
    expect(keychainBlob(hostOf(b))).toBeNull();
    expect(field(hostsYml(dir), "current_host")).toBeNull();
  }, SLOW);

  kc("moving between file and keychain mode removes the copy in the other store", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir, ["--no-keyring"], withBus())).code).toBe(0);
    expect(existsSync(join(dir, "tokens.yml"))).toBe(true);
    expect(keychainBlob(hostOf(s))).toBeNull();
    expect((await login(s.url, dir, [], withBus())).code).toBe(0);
    expect(existsSync(join(dir, "tokens.yml"))).toBe(false);
    expect(keychainBlob(hostOf(s))).not.toBeNull();
    expect((await login(s.url, dir, [], withBus({ DIFY_CREDENTIAL_STORAGE: "file" }))).code).toBe(0);
    expect(keychainBlob(hostOf(s))).toBeNull();
    expect(field(hostsYml(dir), "token_storage")).toBe("file");
    expect((await run(["auth", "logout"], { env: baseEnv(dir, withBus()) })).code).toBe(0);
    expect(existsSync(join(dir, "tokens.yml"))).toBe(false);
  }, SLOW);
});

describe("fallback and policy", () => {
  test("no session bus: silent fallback to tokens.yml with exactly the documented info line, trade-off note once", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const r = await login(s.url, dir);
    expect(r.code).toBe(0);
    const lines = r.stderr.split("\n");
    expect(lines.filter((l) => l.startsWith("info:"))).toEqual([`info: OS keychain unavailable; token will be stored in ${join(dir, "tokens.yml")} (0600).`]);
    expect(lines.filter((l) => l.startsWith("warning:") && !l.startsWith("warning: --insecure"))).toEqual([]);
    expect(lines.filter((l) => l.includes("plain text in"))).toHaveLength(1);
    expect(field(hostsYml(dir), "token_storage")).toBe("file");
    expect(statSync(join(dir, "tokens.yml")).mode & 0o777).toBe(0o600);
    // A second write to the existing file: the probe says so again, the trade-off note does not.
    const again = await login(s.url, dir);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("info: OS keychain unavailable");
    expect(again.stderr).not.toContain("plain text in");
  }, SLOW);

  test("a broken bus address: fallback plus a warning naming the cause, no info line", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const r = await login(s.url, dir, [], { DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(tempDir(), "no-such-bus")}` });
    expect(r.code).toBe(0);
    const warn = r.stderr.split("\n").filter((l) => l.startsWith("warning:") && !l.startsWith("warning: --insecure"));
    expect(warn).toHaveLength(1);
    expect(warn[0]).toContain("Failed to connect to socket");
    expect(warn[0]).toContain(`token will be stored in ${join(dir, "tokens.yml")} (0600).`);
    expect(r.stderr).not.toContain("info:");
    expect(field(hostsYml(dir), "token_storage")).toBe("file");
  });

  test("an addon that cannot be loaded (unusable TMPDIR): fallback plus a warning suggesting TMPDIR=", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const notADir = join(tempDir(), "file");
    writeFileSync(notADir, "");
    const r = await login(s.url, dir, [], { TMPDIR: notADir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: the OS keychain library could not load");
    expect(r.stderr).toContain("TMPDIR=");
    expect(field(hostsYml(dir), "token_storage")).toBe("file");
  });

  test("DIFY_TOKEN_STORAGE=keychain without a service: exit 4 before any device-flow request, nothing written", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const r = await login(s.url, dir, ["--json"], { DIFY_TOKEN_STORAGE: "keychain" });
    expect(r.code).toBe(4);
    const e = envelope(r.stderr);
    expect(e.code).toBe("keyring_unavailable");
    expect(e.hint).toContain("DIFY_TOKEN_STORAGE=file");
    expect(s.requests.filter((q) => q.path.includes("/oauth/device/"))).toEqual([]);
    expect(existsSync(join(dir, "hosts.yml"))).toBe(false);
  });

  test("file policy never probes: DIFY_TOKEN_STORAGE=file, DIFY_CREDENTIAL_STORAGE=file, --no-keyring", async () => {
    const s = await server();
    // A bus address that would produce a warning if anything touched it.
    const broken = { DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(tempDir(), "no-such-bus")}` };
    for (const [args, env] of [[[], { DIFY_TOKEN_STORAGE: "file" }], [[], { DIFY_CREDENTIAL_STORAGE: "file" }], [["--no-keyring"], {}]] as const) {
      const dir = join(tempDir(), "cfg");
      const r = await login(s.url, dir, [...args], { ...broken, ...env });
      expect(r.code).toBe(0);
      expect(r.stderr).not.toContain("keychain");
      expect(r.stderr).not.toContain("info:");
      expect(r.stderr.split("\n").filter((l) => l.includes("plain text in"))).toHaveLength(1);
      expect(field(hostsYml(dir), "token_storage")).toBe("file");
    }
  }, SLOW);

  kc("commands that do not touch credentials never load the native addon", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir, ["--no-keyring"])).code).toBe(0);
    const tmp = tempDir("difyctl-lazy-");
    const nodeFiles = () => readdirSync(tmp).filter((f) => f.endsWith(".node"));
    for (const args of [["version"], ["--help"], ["auth", "status"], ["auth", "whoami"]]) {
      expect((await run(args, { env: baseEnv(dir, withBus({ TMPDIR: tmp })) })).code).toBe(0);
    }
    expect(nodeFiles()).toEqual([]);
    // The control: a keychain-mode read through the library does extract it there.
    const kdir = join(tempDir(), "cfg");
    expect((await login(s.url, kdir, [], withBus())).code).toBe(0);
    expect((await run(["auth", "status"], { env: baseEnv(kdir, withBus({ TMPDIR: tmp, DIFY_KEYRING_DIRECT: "0" })) })).code).toBe(0);
    expect(nodeFiles().length).toBe(1);
    expect((await run(["auth", "logout"], { env: baseEnv(kdir, withBus()) })).code).toBe(0);
  }, SLOW);

  kc("keychain-mode reads go straight to the Secret Service on Linux: no worker, no addon", async () => {
    if (process.platform !== "linux") return;
    const s = await server();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir, [], withBus())).code).toBe(0);
    const tmp = tempDir("difyctl-direct-");
    for (const args of [["auth", "status"], ["auth", "whoami"], ["auth", "devices", "list", "--json"]]) {
      const r = await run(args, { env: baseEnv(dir, withBus({ TMPDIR: tmp, DIFY_DEBUG_TIMING: "1" })) });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("timing: secret service: secret read");
      expect(r.stderr).not.toContain("worker");
    }
    expect(readdirSync(tmp).filter((f) => f.endsWith(".node"))).toEqual([]);
    expect((await run(["auth", "logout"], { env: baseEnv(dir, withBus()) })).code).toBe(0);
  }, SLOW);
});

describe("a file-mode config directory is portable", () => {
  kc("logged in without the keychain, copied to another HOME, used through DIFY_CONFIG_DIR", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir, ["--no-keyring"], withBus())).code).toBe(0);
    expect(keychainBlob(hostOf(s))).toBeNull();
    const bearer = readFileSync(join(dir, "tokens.yml"), "utf8").match(/bearer: (dfoa_\S+)/)![1];
    const target = join(tempDir("difyctl-copy-"), "mounted");
    cpSync(dir, target, { recursive: true });
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir("difyctl-otherhome-"), DIFY_CONFIG_DIR: target, TMPDIR: process.env.TMPDIR ?? "/tmp" };
    const st = await run(["auth", "status", "--json"], { env });
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ host: hostOf(s), logged_in: true, storage: "file" });
    const w = await run(["auth", "whoami"], { env });
    expect(w.stdout).toBe("gareth@dify.ai (Gareth Chen)\n");
    const before = bearerRequests(s, bearer).length;
    expect((await run(["auth", "devices", "list", "--json"], { env })).code).toBe(0);
    expect(bearerRequests(s, bearer).length).toBe(before + 1);
  }, SLOW);

  kc("a keychain-mode directory copied elsewhere says where the token is (exit 4), not 'not logged in'", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir, [], withBus())).code).toBe(0);
    const target = join(tempDir("difyctl-copy-"), "mounted");
    cpSync(dir, target, { recursive: true });
    const r = await run(["auth", "whoami", "--json"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir(), DIFY_CONFIG_DIR: target } });
    expect(r.code).toBe(4);
    expect(envelope(r.stderr).code).toBe("keyring_unavailable");
    expect((await run(["auth", "logout"], { env: baseEnv(dir, withBus()) })).code).toBe(0);
  }, SLOW);
});

describe("a keychain that is locked, hung or frozen", () => {
  ktool("locked at read time: keyring_unavailable, exit 4, hint to unlock; the session is kept", async () => {
    const k = privateKeyring();
    try {
      const s = await server();
      const dir = join(tempDir(), "cfg");
      const env = { DBUS_SESSION_BUS_ADDRESS: k.address };
      expect((await login(s.url, dir, [], env)).code).toBe(0);
      expect(field(hostsYml(dir), "token_storage")).toBe("keychain");
      k.lock();
      const before = s.requests.length;
      for (const args of [["auth", "status", "--json"], ["auth", "whoami", "--json"], ["auth", "devices", "list", "--json"]]) {
        const r = await run(args, { env: baseEnv(dir, env) });
        expect(r.code).toBe(4);
        const e = envelope(r.stderr);
        expect(e.code).toBe("keyring_unavailable");
        expect(e.message).toContain("locked");
        expect(e.hint).toContain("unlock");
      }
      const human = await run(["auth", "status"], { env: baseEnv(dir, env) });
      expect(human.stdout).not.toContain("Not logged in");
      expect(human.stderr).toStartWith("error: ");
      expect(s.requests.length).toBe(before); // never an unauthenticated request
      expect(field(hostsYml(dir), "token_storage")).toBe("keychain");

      // A login while it is locked falls back to the file, with a warning that says why.
      const dir2 = join(tempDir(), "cfg");
      const r2 = await login(s.url, dir2, [], env);
      expect(r2.code).toBe(0);
      expect(r2.stderr).toMatch(/warning: the OS keychain is locked.*unlock it and log in again/);
      expect(field(hostsYml(dir2), "token_storage")).toBe("file");
    } finally {
      k.close();
    }
  }, SLOW);

  ktool("a frozen bus: every read is bounded by the timeout (exit 4), and works again once it answers", async () => {
    const k = privateKeyring();
    try {
      const s = await server();
      const dir = join(tempDir(), "cfg");
      const env = { DBUS_SESSION_BUS_ADDRESS: k.address, DIFY_KEYRING_TIMEOUT: "1" };
      expect((await login(s.url, dir, [], env)).code).toBe(0);
      k.freeze();
      const t0 = performance.now();
      const r = await run(["auth", "status", "--json"], { env: baseEnv(dir, env), timeoutMs: 15_000 });
      const took = performance.now() - t0;
      k.thaw();
      expect(r.code).toBe(4);
      const e = envelope(r.stderr);
      expect(e.code).toBe("keyring_unavailable");
      expect(e.message).toContain("did not answer");
      expect(took).toBeLessThan(4000);
      const ok = await run(["auth", "status", "--json"], { env: baseEnv(dir, env) });
      expect(JSON.parse(ok.stdout)).toMatchObject({ logged_in: true, storage: "keychain" });
    } finally {
      k.close();
    }
  }, SLOW);

  ktool("a Secret Service that is activatable but never answers: login falls back with a warning within the D-Bus ceiling", async () => {
    const root = tempDir("difyctl-hungbus-");
    mkdirSync(join(root, "services"));
    writeFileSync(join(root, "services", "org.freedesktop.secrets.service"), "[D-BUS Service]\nName=org.freedesktop.secrets\nExec=/bin/sleep 8\n");
    writeFileSync(join(root, "session.conf"), `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:tmpdir=${root}</listen><servicedir>${join(root, "services")}</servicedir>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>\n`);
    const d = Bun.spawnSync(["dbus-daemon", `--config-file=${join(root, "session.conf")}`, "--fork", "--print-address=1", "--print-pid=1"], { stdout: "pipe", stderr: "pipe" });
    expect(d.exitCode).toBe(0);
    const [address, pid] = d.stdout.toString().trim().split("\n");
    cleanups.push(() => process.kill(Number(pid), "SIGTERM"));
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const t0 = performance.now();
    const r = await login(s.url, dir, [], { DBUS_SESSION_BUS_ADDRESS: address });
    const took = performance.now() - t0;
    process.kill(Number(pid), "SIGTERM");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: the OS keychain did not answer");
    expect(field(hostsYml(dir), "token_storage")).toBe("file");
    expect(took).toBeLessThan(8000);
  }, SLOW);

  ktool("Ctrl-C ends a read stuck on a frozen bus at once (the main thread is never blocked)", async () => {
    const k = privateKeyring();
    try {
      const s = await server();
      const dir = join(tempDir(), "cfg");
      const env = { DBUS_SESSION_BUS_ADDRESS: k.address, DIFY_KEYRING_TIMEOUT: "30" };
      expect((await login(s.url, dir, [], env)).code).toBe(0);
      k.freeze();
      for (const direct of ["1", "0"]) {
        const proc = Bun.spawn([BIN, "auth", "status", "--json"], { env: baseEnv(dir, { ...env, DIFY_KEYRING_DIRECT: direct }), stdout: "pipe", stderr: "pipe" });
        await Bun.sleep(700); // the read is under way: connected and waiting on the frozen bus
        const t0 = performance.now();
        proc.kill("SIGINT");
        await proc.exited;
        const took = performance.now() - t0;
        expect([direct, proc.exitCode === 130 || proc.signalCode === "SIGINT"]).toEqual([direct, true]);
        expect(took).toBeLessThan(1000);
      }
    } finally {
      k.thaw();
      k.close();
    }
  }, SLOW);

  ktool("a hung Secret Service behind a live bus: the direct read hands over, and the whole read stays within DIFY_KEYRING_TIMEOUT", async () => {
    const k = privateKeyring();
    let stopped = 0;
    try {
      const s = await server();
      const dir = join(tempDir(), "cfg");
      const env = { DBUS_SESSION_BUS_ADDRESS: k.address, DIFY_KEYRING_TIMEOUT: "3" };
      expect((await login(s.url, dir, [], env)).code).toBe(0);
      stopped = k.servicePid();
      process.kill(stopped, "SIGSTOP");
      const t0 = performance.now();
      const r = await run(["auth", "status", "--json"], { env: baseEnv(dir, { ...env, DIFY_DEBUG_TIMING: "1" }), timeoutMs: 20_000 });
      const took = performance.now() - t0;
      process.kill(stopped, "SIGCONT");
      stopped = 0;
      expect(r.code).toBe(4);
      expect(envelope(r.stderr).code).toBe("keyring_unavailable");
      expect(envelope(r.stderr).message).toContain("did not answer");
      expect(r.stderr).toContain("direct read deferred"); // the library was given the rest of the bound
      expect(took).toBeGreaterThan(1500);
      expect(took).toBeLessThan(6000);
      const ok = await run(["auth", "status", "--json"], { env: baseEnv(dir, env) });
      expect(JSON.parse(ok.stdout)).toMatchObject({ logged_in: true, storage: "keychain" });
    } finally {
      if (stopped) process.kill(stopped, "SIGCONT");
      k.close();
    }
  }, SLOW);

  ktool("the direct read of a locked item leaves it to the library (which reports it locked)", async () => {
    const k = privateKeyring();
    try {
      const s = await server();
      const dir = join(tempDir(), "cfg");
      expect((await login(s.url, dir, [], { DBUS_SESSION_BUS_ADDRESS: k.address })).code).toBe(0);
      const opts = { timeoutMs: 5000, serviceSilenceMs: 2000, uid: process.getuid?.() ?? 0 };
      const before = await lookupSecret(k.address, "difyctl", hostOf(s), opts);
      expect(before.kind === "value" && JSON.parse(before.value).token_id).toBe(field(hostsYml(dir), "token_id")!);
      k.lock();
      expect(await lookupSecret(k.address, "difyctl", hostOf(s), opts)).toMatchObject({ kind: "defer", reason: "the item is locked" });
    } finally {
      k.close();
    }
  }, SLOW);
});

describe("the direct read agrees with the library (real gnome-keyring)", () => {
  const opts = { timeoutMs: 5000, serviceSilenceMs: 2000, uid: process.getuid?.() ?? 0 };

  kc("values written through the library read back identically; a missing entry is none", async () => {
    const account = `direct-${process.pid}.example`;
    const e = entry(account);
    try {
      for (const v of ['{"bearer":"dfoa_x","token_id":"t"}', "ünïcode ✓ 例え", "x".repeat(4096)]) {
        e.setPassword(v);
        expect(await lookupSecret(BUS, "difyctl", account, opts)).toEqual({ kind: "value", value: v });
        expect(e.getPassword()).toBe(v);
      }
      e.deletePassword();
      expect(await lookupSecret(BUS, "difyctl", account, opts)).toEqual({ kind: "none" });
      expect(e.getPassword()).toBeNull();
    } finally {
      try { e.deletePassword(); } catch { /* gone */ }
    }
  });

  kc("two items matching one account (another app's): both paths give the library's answer", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir, [], withBus())).code).toBe(0);
    const host = hostOf(s);
    const extra = Bun.spawnSync(["secret-tool", "store", "--label=other", "service", "difyctl", "username", host, "origin", "another-app"], { stdin: Buffer.from("not ours"), stdout: "pipe", stderr: "pipe" });
    expect(extra.exitCode).toBe(0);
    try {
      expect(await lookupSecret(BUS, "difyctl", host, opts)).toMatchObject({ kind: "defer", reason: "several matching items" });
      const direct = await run(["auth", "status", "--json"], { env: baseEnv(dir, withBus()) });
      const library = await run(["auth", "status", "--json"], { env: baseEnv(dir, withBus({ DIFY_KEYRING_DIRECT: "0" })) });
      expect([direct.code, envelope(direct.stderr).code]).toEqual([4, "keyring_unavailable"]);
      expect([library.code, envelope(library.stderr)]).toEqual([direct.code, envelope(direct.stderr)]);
    } finally {
      Bun.spawnSync(["secret-tool", "clear", "origin", "another-app"]);
      await run(["auth", "logout"], { env: baseEnv(dir, withBus()) });
    }
  }, SLOW);
});

describe("Bun's cached copy of the addon", () => {
  const elf = (p: string) => readFileSync(p).subarray(0, 4).toString("latin1") === "\x7fELF";

  kc("a damaged copy of our own is removed and extracted again; the command still works", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const tmp = tempDir("difyctl-addoncache-");
    expect((await login(s.url, dir, [], withBus({ TMPDIR: tmp }))).code).toBe(0);
    const [name] = readdirSync(tmp).filter((f) => f.endsWith(".node"));
    expect(name).toMatch(/^\.bun-\d+-[0-9a-f]+\.node$/);
    const copy = join(tmp, name);
    writeFileSync(copy, new Uint8Array(statSync(copy).size)); // same size, same owner and mode: Bun would reuse it
    expect(elf(copy)).toBe(false);
    const r = await run(["auth", "status", "--json"], { env: baseEnv(dir, withBus({ TMPDIR: tmp, DIFY_KEYRING_DIRECT: "0" })) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ logged_in: true, storage: "keychain" });
    expect(elf(copy)).toBe(true);
    expect((await run(["auth", "logout"], { env: baseEnv(dir, withBus()) })).code).toBe(0);
  }, SLOW);

  const asRoot = (process.getuid?.() ?? -1) === 0 ? kc : test.skip;
  asRoot("a copy planted by another user is not loaded: Bun replaces it with its own", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const tmp = tempDir("difyctl-addonplant-");
    chmodSync(tmp, 0o1777);
    expect((await login(s.url, dir, [], withBus({ TMPDIR: tmp }))).code).toBe(0);
    const [name] = readdirSync(tmp).filter((f) => f.endsWith(".node"));
    const copy = join(tmp, name);
    writeFileSync(copy, new Uint8Array(statSync(copy).size));
    chownSync(copy, 65534, 65534);
    chmodSync(copy, 0o600);
    const r = await run(["auth", "status", "--json"], { env: baseEnv(dir, withBus({ TMPDIR: tmp, DIFY_KEYRING_DIRECT: "0" })) });
    expect(r.code).toBe(0);
    expect(statSync(copy).uid).toBe(0);
    expect(elf(copy)).toBe(true);
    expect((await run(["auth", "logout"], { env: baseEnv(dir, withBus()) })).code).toBe(0);
  }, SLOW);
});

// Sign-in for agents and headless machines, end to end through the compiled binary: the two-step
// --no-wait / --resume flow, the relay markers, the --json event stream, and the terminal extras
// (QR, OSC 8, OSC 52) under a real pty.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FakeServer, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, haveScript, login, run, runPty, tempDir } from "./helpers.ts";
import { decodeHalfBlocks } from "./qr-decode.ts";

const servers: FakeServer[] = [];
async function server(opts: Parameters<typeof startFakeServer>[0] = {}): Promise<FakeServer> {
  const s = await startFakeServer({ ...FAST, ...opts });
  servers.push(s);
  return s;
}
afterAll(async () => { await Promise.all(servers.map((s) => s.close())); });

const polls = (s: FakeServer) => s.requests.filter((r) => r.path.endsWith("/oauth/device/token"));
const pendingFile = (dir: string) => join(dir, "login-pending.yml");
const noWait = (s: FakeServer, dir: string, extra: string[] = []) =>
  run(["auth", "login", "--host", s.url, "--insecure", "--no-wait", ...extra], { env: baseEnv(dir) });
const resume = (dir: string, extra: string[] = ["--json"]) => run(["auth", "login", "--resume", ...extra], { env: baseEnv(dir) });
const markerOf = (stderr: string, name: string) => stderr.split("\n").filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1));
/** The code as the human block on a terminal shows it (`! ABCD-1234` on a line of its own). */
const humanCode = (out: string) => out.replace(/\r/g, "").match(/^! ([A-Z0-9]{4}-[A-Z0-9]{4})$/m)?.[1];

describe("two-step login: --no-wait then --resume", () => {
  test("pending → still pending (exit 8) → approved (exit 0); the device code never leaves the file", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const a = await noWait(s, dir, ["--json"]);
    expect(a.code).toBe(0);
    const st = JSON.parse(a.stdout);
    const { userCode, deviceCode } = s.pending()[0];
    expect(st).toEqual({
      status: "pending", host: new URL(s.url).host, verification_uri: `${s.url}/device`,
      verification_uri_complete: `${s.url}/device?user_code=${userCode}`, user_code: userCode,
      expires_in: expect.any(Number), expires_at: expect.any(String), interval: 0.1, next: "difyctl auth login --resume",
    });
    expect(st.expires_in).toBeGreaterThan(890);
    // Relay markers on stderr, exact format.
    expect(markerOf(a.stderr, "open")).toEqual([`${s.url}/device?user_code=${userCode}`]);
    expect(markerOf(a.stderr, "code")).toEqual([userCode]);
    expect(polls(s)).toHaveLength(0);
    // The state: 0600, holds the device code (and only the file does).
    expect(statSync(pendingFile(dir)).mode & 0o777).toBe(0o600);
    const file = readFileSync(pendingFile(dir), "utf8");
    expect(file).toContain(`device_code: ${deviceCode}`);
    expect(file).toContain("storage: file");
    expect(file).toContain("insecure: true");

    const b = await resume(dir);
    expect(b.code).toBe(8);
    expect(JSON.parse(b.stdout)).toMatchObject({ status: "pending", user_code: userCode, interval: 0.1 });
    expect(polls(s)).toHaveLength(1);
    expect(existsSync(join(dir, "hosts.yml"))).toBe(false);

    s.approve(userCode);
    const c = await resume(dir);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ status: "logged_in", account: { email: "gareth@dify.ai" }, storage: "file" });
    expect(existsSync(pendingFile(dir))).toBe(false);
    const status = await run(["auth", "status", "--json"], { env: baseEnv(dir) });
    expect(JSON.parse(status.stdout)).toMatchObject({ logged_in: true, host: new URL(s.url).host });

    // A repeated resume is harmless: it reports the session.
    const d = await resume(dir, []);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain("Already logged in");

    for (const r of [a, b, c, d]) {
      expect(r.stdout + r.stderr).not.toContain(deviceCode);
      expect(r.stdout + r.stderr).not.toMatch(/dc_[A-Za-z0-9_-]{8}/);
    }
  });

  test("human form: markers and the resume hint; --resume reprints the markers while pending", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const a = await noWait(s, dir);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe("Sign-in pending. After approving, run: difyctl auth login --resume\n");
    const { userCode } = s.pending()[0];
    expect(markerOf(a.stderr, "code")).toEqual([userCode]);
    const b = await resume(dir, []);
    expect(b.code).toBe(8);
    expect(markerOf(b.stderr, "code")).toEqual([userCode]);
    expect(b.stderr).toContain(`Still waiting for approval of code ${userCode}`);
  });

  test("a resume called too early waits for the next allowed poll instead of provoking slow_down", async () => {
    const s = await server({ interval: 0.6, slowDownWindowMs: 600 });
    const dir = join(tempDir(), "cfg");
    expect((await noWait(s, dir)).code).toBe(0);
    const codeAt = s.requests.find((r) => r.path.endsWith("/oauth/device/code"))!.time;
    const r1 = await resume(dir);
    const r2 = await resume(dir);
    expect([r1.code, r2.code]).toEqual([8, 8]);
    const p = polls(s);
    expect(p).toHaveLength(2);
    expect(p[0].time - codeAt).toBeGreaterThanOrEqual(600);
    expect(p[1].time - p[0].time).toBeGreaterThanOrEqual(600);
    // slow_down would have grown the interval to ≥ 5.6 s.
    expect(JSON.parse(r2.stdout).interval).toBe(0.6);
  });

  test("slow_down on a resume grows the saved interval and stays pending", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    await noWait(s, dir);
    s.faults.add({ match: { path: "/oauth/device/token" }, respond: { status: 400, body: { error: "slow_down" } } });
    const r = await resume(dir);
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout).interval).toBeGreaterThanOrEqual(5.1);
    expect(readFileSync(pendingFile(dir), "utf8")).toMatch(/interval: 5\.1/);
  });

  test("denied → exit 4 access_denied and the pending state is gone", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    await noWait(s, dir);
    s.deny(s.pending()[0].userCode);
    const r = await resume(dir);
    expect(r.code).toBe(4);
    expect(envelope(r.stderr).code).toBe("access_denied");
    expect(existsSync(pendingFile(dir))).toBe(false);
  });

  test("expired at the server → exit 4 expired_token and the pending state is gone", async () => {
    const s = await server({ expiresIn: 60 });
    const dir = join(tempDir(), "cfg");
    await noWait(s, dir);
    s.clock.advance(61_000);
    const r = await resume(dir);
    expect(r.code).toBe(4);
    expect(envelope(r.stderr).code).toBe("expired_token");
    expect(polls(s)).toHaveLength(1);
    expect(existsSync(pendingFile(dir))).toBe(false);
  });

  test("past the local deadline → expired without a request", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    await noWait(s, dir);
    const past = new Date(Date.now() - 1000).toISOString();
    writeFileSync(pendingFile(dir), readFileSync(pendingFile(dir), "utf8").replace(/expires_at: .*/, `expires_at: ${past}`), { mode: 0o600 });
    const r = await resume(dir);
    expect(r.code).toBe(4);
    expect(envelope(r.stderr).code).toBe("expired_token");
    expect(polls(s)).toHaveLength(0);
    expect(existsSync(pendingFile(dir))).toBe(false);
  });

  test("a server failure on resume keeps the pending state (exit 1), a later resume finishes", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    await noWait(s, dir);
    s.faults.add({ match: { path: "/oauth/device/token" }, respond: { status: 503, body: { code: "unavailable", message: "x", status: 503 } } });
    const r = await resume(dir);
    expect(r.code).toBe(1);
    expect(existsSync(pendingFile(dir))).toBe(true);
    s.approve(s.pending()[0].userCode);
    expect((await resume(dir)).code).toBe(0);
  });

  test("nothing pending and not logged in → not_logged_in (exit 4); --no-wait with --resume → exit 2", async () => {
    const dir = join(tempDir(), "cfg");
    const r = await resume(dir);
    expect(r.code).toBe(4);
    expect(envelope(r.stderr)).toMatchObject({ code: "not_logged_in", hint: expect.stringContaining("--no-wait") });
    const u = await run(["auth", "login", "--no-wait", "--resume", "--json"], { env: baseEnv(dir) });
    expect(u.code).toBe(2);
  });

  test("a blocking login clears a stale pending file; logout removes one", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    await noWait(s, dir);
    expect(existsSync(pendingFile(dir))).toBe(true);
    s.setOption({ autoApprove: { afterPolls: 1 } });
    expect((await login(s.url, dir)).code).toBe(0);
    expect(existsSync(pendingFile(dir))).toBe(false);

    await noWait(s, dir);
    expect(existsSync(pendingFile(dir))).toBe(true);
    const out = await run(["auth", "logout"], { env: baseEnv(dir) });
    expect(out.code).toBe(0);
    expect(existsSync(pendingFile(dir))).toBe(false);

    // Pending but never logged in: logout cancels it and succeeds.
    await noWait(s, dir);
    const out2 = await run(["auth", "logout", "--json"], { env: baseEnv(dir) });
    expect(out2.code).toBe(0);
    expect(JSON.parse(out2.stdout)).toEqual({ logged_out: false, pending_login_cancelled: true });
    expect(existsSync(pendingFile(dir))).toBe(false);
  });
});

describe("blocking login: markers and the --json event stream", () => {
  test("markers on stderr, exact lines; no escape sequences or QR off a terminal", async () => {
    const s = await server({ autoApprove: { afterPolls: 1 } });
    const r = await login(s.url, join(tempDir(), "cfg"), [], { TERM: "xterm-256color" });
    expect(r.code).toBe(0);
    const url = markerOf(r.stderr, "open");
    const code = markerOf(r.stderr, "code");
    expect(url).toHaveLength(1);
    expect(code).toHaveLength(1);
    expect(code[0]).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    expect(url[0]).toBe(`${s.url}/device?user_code=${code[0]}`);
    expect(r.stderr + r.stdout).not.toContain("\x1b");
    expect(r.stderr).not.toMatch(/[█▀▄]/);
    expect(r.stderr).not.toContain("Press c");
  });

  test("one slow_down: code, waiting, slow_down(≥ 5.1), approved, stored, then the result", async () => {
    const s = await server({ autoApprove: { afterPolls: 1 } });
    s.faults.add({ match: { path: "/oauth/device/token" }, respond: { status: 400, body: { error: "slow_down" } } });
    const r = await login(s.url, join(tempDir(), "cfg"), ["--json"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event ?? `status:${l.status}`)).toEqual(["code", "waiting", "slow_down", "approved", "stored", "status:logged_in"]);
    const [code, waiting, slow, approved, stored] = lines;
    const userCode: string = code.user_code;
    expect(userCode).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
    expect(code).toMatchObject({ verification_uri: `${s.url}/device`, expires_in: 900, interval: 0.1 });
    expect(code.verification_uri_complete).toBe(`${s.url}/device?user_code=${userCode}`);
    expect(waiting).toMatchObject({ interval: 0.1 });
    expect(slow.interval).toBeGreaterThanOrEqual(5.1);
    expect(approved).toMatchObject({ subject_type: "account", account: { email: "gareth@dify.ai" } });
    expect(stored).toMatchObject({ backend: "file" });
    expect(r.stdout).not.toMatch(/dc_|dfoa_|dfoe_/);
  }, 20_000);

  test("an error is an event on stdout and the envelope on stderr, same code and exit", async () => {
    const s = await server({ autoDeny: { afterPolls: 1 } });
    const r = await login(s.url, join(tempDir(), "cfg"), ["--json"]);
    expect(r.code).toBe(4);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).toEqual(["code", "waiting", "error"]);
    expect(lines[2]).toMatchObject({ code: "access_denied", message: "authorization denied", exit_code: 4 });
    expect(envelope(r.stderr).code).toBe("access_denied");
  });
});


describe.skipIf(!haveScript)("on a terminal: QR, OSC 8 hyperlink, OSC 52 copy", () => {
  test("QR under the code decodes to the URL with the code; the URL is an OSC 8 link; c copies via OSC 52", async () => {
    const s = await server({ autoApprove: { afterPolls: 6 } });
    const env = baseEnv(join(tempDir(), "cfg"), { TERM: "xterm-256color" });
    const r = await runPty(["auth", "login", "--host", s.url, "--insecure", "--no-browser"], env, [{ afterMs: 250, text: "c" }]);
    expect(r.code).toBe(0);
    const code = humanCode(r.out)!;
    // On a terminal the human block says it once; the agent markers stay off the screen.
    expect(markerOf(r.out.replace(/\r/g, ""), "code")).toEqual([]);
    expect(markerOf(r.out.replace(/\r/g, ""), "open")).toEqual([]);
    const full = `${s.url}/device?user_code=${code}`;
    const lines = r.out.replace(/\r/g, "").split("\n");
    const qr = lines.filter((l) => /^(\x1b\[[0-9;]*m)?[█▀▄ ]+(\x1b\[0m)?$/.test(l) && /[█▀▄]/.test(l));
    expect(qr.length).toBeGreaterThan(10);
    // Under the code: the QR block starts after the line with the code.
    expect(lines.indexOf(qr[0])).toBeGreaterThan(lines.indexOf(`! ${code}`));
    for (const l of qr) expect([...l.replace(/\x1b\[[0-9;]*m/g, "")].length).toBeLessThanOrEqual(80);
    expect(decodeHalfBlocks(qr)).toBe(full);
    expect(r.out).toContain(`\x1b]8;;${full}\x1b\\${s.url}/device\x1b]8;;\x1b\\`);
    expect(r.out).toContain(`\x1b]52;c;${Buffer.from(code).toString("base64")}\x07`);
  });

  test("inside tmux the OSC 52 sequence is wrapped in DCS passthrough", async () => {
    const s = await server({ autoApprove: { afterPolls: 6 } });
    const env = baseEnv(join(tempDir(), "cfg"), { TERM: "tmux-256color", TMUX: "/tmp/tmux-0/default,1,0" });
    const r = await runPty(["auth", "login", "--host", s.url, "--insecure", "--no-browser"], env, [{ afterMs: 250, text: "c" }]);
    expect(r.code).toBe(0);
    const code = humanCode(r.out)!;
    expect(r.out).toContain(`\x1bPtmux;\x1b\x1b]52;c;${Buffer.from(code).toString("base64")}\x07\x1b\\`);
  });

  test("--no-qr hides the QR; TERM=dumb gets neither QR nor OSC 8", async () => {
    const s = await server({ autoApprove: { afterPolls: 1 } });
    const a = await runPty(["auth", "login", "--host", s.url, "--insecure", "--no-browser", "--no-qr"], baseEnv(join(tempDir(), "cfg"), { TERM: "xterm-256color" }));
    expect(a.code).toBe(0);
    expect(a.out).not.toMatch(/[█▀▄]{5}/);
    expect(a.out).toContain("\x1b]8;;");
    const b = await runPty(["auth", "login", "--host", s.url, "--insecure", "--no-browser"], baseEnv(join(tempDir(), "cfg"), { TERM: "dumb" }));
    expect(b.code).toBe(0);
    expect(b.out).not.toMatch(/[█▀▄]{5}/);
    expect(b.out).not.toContain("\x1b]8;;");
  });

  test("Ctrl-C typed in raw mode still cancels: exit 130, nothing written", async () => {
    const s = await server();
    const dir = join(tempDir(), "cfg");
    const r = await runPty(["auth", "login", "--host", s.url, "--insecure", "--no-browser"], baseEnv(dir, { TERM: "xterm-256color" }), [{ afterMs: 400, text: "\x03" }]);
    expect(r.code).toBe(130);
    expect(existsSync(join(dir, "hosts.yml"))).toBe(false);
  });
});

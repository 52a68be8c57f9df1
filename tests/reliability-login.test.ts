// Sign-in under attack and under races, through the compiled binary against the fake server:
// two `auth login` at once on one config dir (the fake rotates like Dify: the same device label's
// second approval revokes the first token), a claim left by a killed login, a device page on
// another host, and a SIGABRT with core dumps enabled while a device code is held.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FakeServer } from "./fake/server.ts";
import { baseEnv, BIN, capture, envelope, login, run, serverPool, tempDir } from "./helpers.ts";

const pool = serverPool();
afterAll(() => pool.closeAll());

const sha256 = (s: string) => new Bun.CryptoHasher("sha256").update(s).digest("hex");
const storedBearer = (dir: string) => readFileSync(join(dir, "tokens.yml"), "utf8").match(/dfoa_[A-Za-z0-9_-]{43}/)?.[0] ?? null;
/** The server's view of a token: live, revoked, or unknown. */
function serverState(s: FakeServer, bearer: string | null): "live" | "revoked" | "unknown" {
  if (!bearer) return "unknown";
  const h = sha256(bearer);
  const row = s.tokenRows().find((r) => r.tokenHash === h);
  return !row ? "unknown" : row.revokedAt === null ? "live" : "revoked";
}

/** Starts a blocking login and resolves once it waits for approval (its stderr says so). */
async function startWaiting(s: FakeServer, dir: string, extra: string[] = [], env: Record<string, string> = baseEnv(dir), cwd?: string) {
  const args = ["auth", "login", "--host", s.url, "--insecure", "--no-browser", ...extra];
  const proc = Bun.spawn([BIN, ...args], { env, cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const reader = proc.stderr.getReader();
  let stderr = "";
  const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  while (!stderr.includes("Waiting for authorization")) {
    const { value, done } = await reader.read();
    if (done) break;
    stderr += new TextDecoder().decode(value);
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      stderr += new TextDecoder().decode(value);
    }
  })();
  const finished = (async () => {
    const stdout = await new Response(proc.stdout).text();
    const code = await proc.exited;
    await rest;
    clearTimeout(timer);
    const r = { code, stdout, stderr };
    capture(args, r);
    return r;
  })();
  return { proc, finished };
}

describe("two sign-ins on one config dir", () => {
  test("the fake rotates like Dify: a second approval for the same device label revokes the first token", async () => {
    const s = await pool.start();
    const a = join(tempDir(), "cfg");
    const b = join(tempDir(), "cfg");
    expect((await login(s.url, a)).code).toBe(0);
    expect(serverState(s, storedBearer(a))).toBe("live");
    expect((await login(s.url, b)).code).toBe(0);
    // Same machine, same label: the first directory's token is dead at the server.
    expect(serverState(s, storedBearer(a))).toBe("revoked");
    expect(serverState(s, storedBearer(b))).toBe("live");
    expect((await run(["auth", "status", "--verify", "--json"], { env: baseEnv(a) })).code).toBe(4);
  });

  test("a second login while one waits is refused, naming the first (pid, start time); no code is requested", async () => {
    const s = await pool.start({ autoApprove: null });
    const dir = join(tempDir(), "cfg");
    const first = await startWaiting(s, dir);
    const codesBefore = s.requests.filter((r) => r.path.endsWith("/oauth/device/code")).length;
    const second = await login(s.url, dir, ["--json"]);
    expect(second.code).toBe(1);
    const e = envelope(second.stderr);
    expect(e.code).toBe("login_in_progress");
    expect(e.message).toMatch(new RegExp(`another sign-in is running for this config directory \\(pid ${first.proc.pid}, started at \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ, host 127\\.0\\.0\\.1:\\d+\\)`));
    expect(e.hint).toContain(`kill ${first.proc.pid}`);
    // --no-wait and --resume are refused the same way.
    const nw = await run(["auth", "login", "--host", s.url, "--insecure", "--no-wait", "--json"], { env: baseEnv(dir) });
    expect(envelope(nw.stderr).code).toBe("login_in_progress");
    expect(s.requests.filter((r) => r.path.endsWith("/oauth/device/code")).length).toBe(codesBefore);

    s.approve(s.pending()[0].userCode);
    const r = await first.finished;
    expect(r.code).toBe(0);
    expect(serverState(s, storedBearer(dir))).toBe("live");
    expect(existsSync(join(dir, "login.lock"))).toBe(false);
    // The claim went with it: the next sign-in starts.
    const next = await run(["auth", "login", "--host", s.url, "--insecure", "--no-wait", "--json"], { env: baseEnv(dir) });
    expect(next.code).toBe(0);
  }, 30_000);

  test("the losing order, forced: the code approved first is stored last — unless the second login never ran", async () => {
    // Without one sign-in per directory: A and B both wait, A is approved (token TA), then B
    // (TB, which revokes TA at the server); A's next poll is held back, so B stores TB and A then
    // overwrites it with the dead TA. With the claim, B is refused before it asks for a code.
    const s = await pool.start({ autoApprove: null });
    const dir = join(tempDir(), "cfg");
    const a = await startWaiting(s, dir);
    const bProc = Bun.spawn([BIN, "auth", "login", "--host", s.url, "--insecure", "--no-browser"], { env: baseEnv(dir), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const bDone = (async () => ({ code: await bProc.exited, stderr: await new Response(bProc.stderr).text() }))();
    // B either ends (refused) or is waiting with a code of its own.
    for (let i = 0; i < 200 && s.pending().length < 2; i++) {
      if (await Promise.race([bDone.then(() => true), Bun.sleep(25).then(() => false)])) break;
    }
    const [codeA, codeB] = s.pending();
    s.faults.add({ match: { path: "/oauth/device/token", bodyIncludes: codeA.deviceCode }, respond: { delayMs: 1500 } });
    s.approve(codeA.userCode);
    if (codeB) s.approve(codeB.userCode);
    const [ra, rb] = await Promise.all([a.finished, bDone]);
    expect(ra.code).toBe(0);
    expect(rb.code === 0 || rb.stderr.includes("another sign-in is running")).toBe(true);
    expect(serverState(s, storedBearer(dir))).toBe("live");
    expect((await run(["auth", "status", "--verify"], { env: baseEnv(dir) })).code).toBe(0);
  }, 30_000);

  test("the review's race, repeated: two logins started together never leave a revoked token stored", async () => {
    const s = await pool.start();
    for (let trial = 0; trial < 6; trial++) {
      const dir = join(tempDir(), "cfg");
      const [a, b] = await Promise.all([login(s.url, dir), login(s.url, dir)]);
      const codes = [a.code, b.code].sort();
      // Either both ran one after the other, or one was refused while the other ran.
      expect([[0, 0], [0, 1]]).toContainEqual(codes);
      for (const r of [a, b]) if (r.code === 1) expect(r.stderr).toContain("error: another sign-in is running for this config directory");
      expect(serverState(s, storedBearer(dir))).toBe("live");
      expect((await run(["auth", "status", "--verify"], { env: baseEnv(dir) })).code).toBe(0);
    }
  }, 60_000);

  test("a login killed with SIGKILL leaves its claim; the next login takes it over", async () => {
    const s = await pool.start({ autoApprove: null });
    const dir = join(tempDir(), "cfg");
    const first = await startWaiting(s, dir);
    first.proc.kill("SIGKILL");
    await first.finished;
    expect(JSON.parse(readFileSync(join(dir, "login.lock"), "utf8")).pid).toBe(first.proc.pid);
    s.setOption({ autoApprove: { afterPolls: 1 } });
    const r = await login(s.url, dir);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, "login.lock"))).toBe(false);
  }, 30_000);
});

describe("a device page on another host", () => {
  test("a note names both hosts; the page is still shown and relayed", async () => {
    const s = await pool.start();
    const port = new URL(s.url).port;
    s.setOption({ verificationBase: `http://localhost:${port}` });
    const r = await login(s.url, join(tempDir(), "cfg"));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`note: the sign-in page is on localhost:${port}, not on 127.0.0.1:${port} (the host you are signing in to); approve only if you expect that\n`);
    expect(r.stderr).toMatch(new RegExp(`^open http://localhost:${port}/device\\?user_code=[A-Z0-9-]+$`, "m"));
    const plain = await pool.start();
    const same = await login(plain.url, join(tempDir(), "cfg"));
    expect(same.stderr).not.toContain("sign-in page is on");
  });
});

// Core dumps: only where this machine writes them into the working directory (core_pattern
// "core…") and the soft limit can be raised; a control process proves it before the real check.
const corePattern = (() => { try { return readFileSync("/proc/sys/kernel/core_pattern", "utf8").trim(); } catch { return ""; } })();
const coresHere = process.platform === "linux" && /^core/.test(corePattern);

async function abortWithCores(cmd: string, cwd: string, env: Record<string, string>, waitFor: string | null) {
  const proc = Bun.spawn(["sh", "-c", `ulimit -c unlimited && exec ${cmd}`], { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  if (waitFor) {
    const reader = proc.stderr.getReader();
    let seen = "";
    while (!seen.includes(waitFor)) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    reader.releaseLock();
  } else {
    await Bun.sleep(200);
  }
  proc.kill("SIGABRT");
  const code = await proc.exited;
  return { code, cores: readdirSync(cwd).filter((n) => n.startsWith("core")) };
}

describe.skipIf(!coresHere)("core dumps while a credential is held", () => {
  test("SIGABRT during a login with `ulimit -c unlimited` writes no core file (a control process does)", async () => {
    const control = tempDir("difyctl-core-");
    const c = await abortWithCores("sleep 5", control, { PATH: process.env.PATH ?? "/usr/bin:/bin" }, null);
    rmSync(control, { recursive: true, force: true });
    if (c.cores.length === 0) {
      console.warn(`core dumps are not written here (pattern ${corePattern}); skipping`);
      return;
    }
    const s = await pool.start({ autoApprove: null });
    const cwd = tempDir("difyctl-core-");
    const dir = join(tempDir(), "cfg");
    const r = await abortWithCores(`'${BIN}' auth login --host ${s.url} --insecure --no-browser`, cwd, baseEnv(dir), "Waiting for authorization");
    rmSync(cwd, { recursive: true, force: true });
    expect(r.code).not.toBe(0);
    expect(r.cores).toEqual([]);
  }, 30_000);
});

// A stale claim file naming a pid that can never be running (beyond pid_max) is not a holder.
test("a claim naming a process that does not exist does not block a login", async () => {
  const s = await pool.start();
  const dir = join(tempDir(), "cfg");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, "login.lock"), JSON.stringify({ pid: 4_194_305, started_at: new Date().toISOString(), host: "x", nonce: "n" }), { mode: 0o600 });
  expect((await login(s.url, dir)).code).toBe(0);
  expect(existsSync(join(dir, "login.lock"))).toBe(false);
});

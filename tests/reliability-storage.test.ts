// The config directory under hostile local conditions, through the compiled binary: a lock path
// that is not a lock file (dangling symlink, directory, FIFO) or that cannot be read, a full disk
// (a 64 KiB tmpfs), a directory other users can write, loose credential files, and config files
// truncated in place while readers run. Nothing may spin, hang, die by a signal, leave temp files
// behind or lose a session silently.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { EMAILS, type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { baseEnv, BIN, capture, tempDir } from "./helpers.ts";
import { banner, MintLog, outputProblems, readDir, report, scale, sessionOf, sleep, spawnCli, type SpawnResult } from "./stress/lib.ts";

const IS_ROOT = process.getuid?.() === 0;
const NOBODY = { uid: 65534, gid: 65534 };
const LOCK = ".difyctl.lock";
/** The lock wait of the binary (LOCK_WAIT_MS). */
const LOCK_WAIT_MS = 10_000;

let fake: FakeServer;
let host: string;
const mints = new MintLog();
const figures = { lock_cases: 0, disk_full_cases: 0, permission_cases: 0, truncation_reads: 0, signal_deaths: 0, failures: 0 };
const failures: string[] = [];

beforeAll(async () => {
  fake = await startFakeServer({ interval: 0.05, slowDownWindowMs: 10, autoApprove: { afterPolls: 1 }, codeRateLimitPerHour: 0, rateLimitPerToken: 0, accountRateLimitPerMinute: 0 });
  mints.watch(fake);
  host = new URL(fake.url).host;
});
afterAll(async () => {
  await fake?.close();
  report("storage", { ...figures, failures: figures.failures });
});

/** A config dir reachable by nobody too (the base is 0755), not created yet. */
function freshDir(prefix: string): string {
  const base = tempDir(prefix);
  chmodSync(base, 0o755);
  return join(base, "cfg");
}

const loginArgs = () => ["auth", "login", "--host", fake.url, "--insecure", "--no-browser"];
const useArgs = () => ["auth", "use", IDS.workspaces.side];

async function signIn(dir: string, asUser?: { uid: number; gid: number }): Promise<Record<string, string>> {
  const env = baseEnv(dir, { DIFY_TOKEN_STORAGE: "file" });
  if (asUser) { mkdirSync(dir, { recursive: true, mode: 0o700 }); chownSync(dir, asUser.uid, asUser.gid); }
  const r = await spawnCli(loginArgs(), { env, timeoutMs: 20_000, asUser });
  if (r.code !== 0) throw new Error(`sign-in for the fixture failed (${r.code}): ${r.stderr}`);
  return env;
}

interface Timed extends SpawnResult { cpuMs: number }

/**
 * Runs the binary and reports its CPU time as well: a wait that sleeps uses almost none, a spin
 * uses all of the wall time. `during` may signal the process while it runs.
 */
async function runTimed(args: string[], o: { env: Record<string, string>; asUser?: { uid: number; gid: number }; timeoutMs: number; during?: (pid: number) => Promise<void> }): Promise<Timed> {
  let argv = [BIN, ...args];
  if (o.asUser) argv = ["setpriv", `--reuid=${o.asUser.uid}`, `--regid=${o.asUser.gid}`, "--clear-groups", "--", ...argv];
  const t0 = performance.now();
  const proc = Bun.spawn(argv, { env: o.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; proc.kill("SIGKILL"); }, o.timeoutMs);
  const out = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (o.during) await o.during(proc.pid);
  const [stdout, stderr] = await out;
  const code = await proc.exited;
  clearTimeout(timer);
  const usage = proc.resourceUsage();
  const cpuMs = usage ? Number(usage.cpuTime.total) / 1000 : 0;
  const r: Timed = { code, stdout, stderr, elapsedMs: performance.now() - t0, timedOut, killed: false, signal: proc.signalCode ? String(proc.signalCode) : null, cpuMs };
  capture(args, r);
  return r;
}

function check(name: string, ok: boolean, detail: string): void {
  if (!ok) { failures.push(`${name}: ${detail}`); figures.failures++; }
}

function flush(what: string): void {
  const f = failures.splice(0);
  if (f.length) console.log(`[storage:${what}]\n${f.slice(0, 30).join("\n")}`);
  expect(f).toEqual([]);
}

const tmpFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.includes(".tmp-")) : []);
const deviceCodeRequests = () => fake.requests.filter((q) => q.method === "POST" && q.path.endsWith("/oauth/device/code")).length;
const tokenPolls = () => fake.requests.filter((q) => q.method === "POST" && q.path.endsWith("/oauth/device/token")).length;

/** Resolves once the server has answered a token poll after `since` polls, plus a moment for the commit to start waiting. */
async function afterApproval(since: number, settleMs = 600): Promise<void> {
  for (let i = 0; i < 400 && tokenPolls() <= since; i++) await sleep(25);
  await sleep(settleMs);
}

// ──────────────────────────────────────────────────────────────────────────── the lock

interface Shape {
  name: string;
  /** Makes the lock path; returns the dir's env. */
  make: (lock: string) => void;
  /** Waiting cannot help: refused at once, exit 6, before a sign-in asks for a code. */
  refused: boolean;
  /** Only readable as root: the binary runs as nobody. */
  asNobody?: boolean;
  message: RegExp;
}

const holders: { kill(): void }[] = [];
afterAll(() => { for (const h of holders) h.kill(); });

function shapes(): Shape[] {
  const live = Bun.spawn(["sleep", "120"]);
  holders.push(live);
  return [
    { name: "a dangling symlink", make: (l) => symlinkSync(l + "-nowhere", l), refused: true, message: /the lock .*\.difyctl\.lock is a symbolic link, not a lock file difyctl made/ },
    { name: "a directory", make: (l) => mkdirSync(l), refused: true, message: /the lock .*\.difyctl\.lock is a directory, not a lock file difyctl made/ },
    { name: "a FIFO", make: (l) => execFileSync("mkfifo", [l]), refused: true, message: /the lock .*\.difyctl\.lock is a special file/ },
    {
      name: "a file this user cannot read", asNobody: IS_ROOT, refused: false,
      make: (l) => { writeFileSync(l, `${live.pid} ${Date.now()}\n`, { mode: 0o600 }); if (!IS_ROOT) chmodSync(l, 0o000); },
      message: /the config directory is locked: .*\.difyctl\.lock cannot be read \(permission denied; owner uid \d+\); waited 10 s/,
    },
    { name: "a lock held by a live process", make: (l) => writeFileSync(l, `${live.pid} ${Date.now()}\n`), refused: false, message: /locked by process \d+ \(waited 10 s for .*\.difyctl\.lock\)/ },
  ];
}

describe("a lock path that is not a usable lock", () => {
  test("every shape: bounded time, little CPU, a clear error naming the lock and how to remove it; nothing written", async () => {
    banner("reliability-storage-lock");
    await Promise.all(shapes().map(async (sh) => {
      const dir = freshDir("difyctl-badlock-");
      const asUser = sh.asNobody ? NOBODY : undefined;
      const env = await signIn(dir, asUser);
      const hostsBefore = readFileSync(join(dir, "hosts.yml"), "utf8");
      sh.make(join(dir, LOCK));
      for (const json of [false, true]) {
        const r = await runTimed([...useArgs(), ...(json ? ["--json"] : [])], { env, asUser, timeoutMs: 30_000 });
        figures.lock_cases++;
        const name = `${sh.name}${json ? " --json" : ""}`;
        for (const p of outputProblems(r, { json })) check(name, false, p);
        check(name, r.code === (sh.refused ? 6 : 1), `exit ${r.code}: ${r.stderr}`);
        check(name, sh.message.test(r.stderr), `message: ${r.stderr}`);
        check(name, /remove (it|the lock): rm (-f |-r )?'.*\.difyctl\.lock'/.test(r.stderr), `no removal hint: ${r.stderr}`);
        const bound = sh.refused ? 3000 : LOCK_WAIT_MS + 4000;
        check(name, r.elapsedMs < bound, `took ${Math.round(r.elapsedMs)} ms (bound ${bound})`);
        // A sleeping wait: the old loop used a whole core for the whole wait.
        check(name, r.cpuMs < Math.max(1500, r.elapsedMs * 0.25), `used ${Math.round(r.cpuMs)} ms of CPU in ${Math.round(r.elapsedMs)} ms`);
        check(name, readFileSync(join(dir, "hosts.yml"), "utf8") === hostsBefore, "hosts.yml changed");
        check(name, tmpFiles(dir).length === 0, `temp files left: ${tmpFiles(dir).join(", ")}`);
        if (!sh.refused) break; // one 10 s wait per waiting shape is enough
      }
    }));
    flush("lock shapes");
  }, 120_000);

  test("auth login: a lock path that cannot work stops it before a code is asked for; a wait after approval ends at once on SIGTERM", async () => {
    const all = shapes();
    // One by one: the server's count of device codes, and its one pending code, must be this run's alone.
    for (const sh of all) {
      const dir = freshDir("difyctl-badlock-login-");
      const asUser = sh.asNobody ? NOBODY : undefined;
      const env = await signIn(dir, asUser);
      if (sh.refused) {
        sh.make(join(dir, LOCK));
        const codes = deviceCodeRequests();
        const r = await runTimed(loginArgs(), { env, asUser, timeoutMs: 20_000 });
        figures.lock_cases++;
        for (const p of outputProblems(r, { json: false })) check(`login, ${sh.name}`, false, p);
        check(`login, ${sh.name}`, r.code === 6 && sh.message.test(r.stderr), `exit ${r.code}: ${r.stderr}`);
        check(`login, ${sh.name}`, deviceCodeRequests() === codes, "a device code was requested although nothing could be stored");
        continue;
      }
      // The lock turns bad while the user approves; the approved sign-in then waits for it to
      // store the session, and SIGTERM must end that wait now (the old loop never yielded).
      fake.setOption({ autoApprove: null });
      let termAt = 0;
      try {
        const polls = tokenPolls();
        const r = await runTimed(loginArgs(), {
          env, asUser, timeoutMs: 30_000,
          during: async (pid) => {
            let code: string | undefined;
            for (let i = 0; i < 400 && !code; i++) { code = fake.pending().find((p) => p.status === "pending")?.userCode; if (!code) await sleep(25); }
            sh.make(join(dir, LOCK));
            fake.approve(code!);
            await afterApproval(polls);
            termAt = performance.now();
            try { process.kill(pid, "SIGTERM"); } catch { /* already ended: reported below */ }
          },
        });
        figures.lock_cases++;
        const after = performance.now() - termAt;
        const name = `login, ${sh.name}, SIGTERM after approval`;
        check(name, !r.timedOut && after < 1500, `ended ${Math.round(after)} ms after SIGTERM (timed out: ${r.timedOut})`);
        check(name, r.code === 130 || r.signal === "SIGTERM", `exit ${r.code} signal ${r.signal}: ${r.stderr}`);
        check(name, r.code !== 130 || /cancelled while waiting for the lock .*\.difyctl\.lock/.test(r.stderr), `stderr: ${r.stderr}`);
        check(name, r.cpuMs < 2000, `used ${Math.round(r.cpuMs)} ms of CPU`);
      } finally {
        fake.setOption({ autoApprove: { afterPolls: 1 } });
      }
    }
    // And a command that never installed a handler: the default SIGTERM ends a sleeping wait.
    const dir = freshDir("difyctl-badlock-term-");
    const env = await signIn(dir);
    const live = Bun.spawn(["sleep", "60"]);
    try {
      writeFileSync(join(dir, LOCK), `${live.pid} ${Date.now()}\n`);
      let termAt = 0;
      const r = await runTimed(useArgs(), { env, timeoutMs: 30_000, during: async (pid) => { await sleep(700); termAt = performance.now(); process.kill(pid, "SIGTERM"); } });
      figures.lock_cases++;
      check("auth use waiting, SIGTERM", !r.timedOut && performance.now() - termAt < 1500 && (r.signal === "SIGTERM" || r.code === 130), `exit ${r.code} signal ${r.signal} after ${Math.round(performance.now() - termAt)} ms`);
    } finally { live.kill(); }
    flush("lock login");
  }, 120_000);
});

// ──────────────────────────────────────────────────────────────────────────── a full disk

/** Mounts a 64 KiB tmpfs; null (with the reason printed) where that is impossible. */
function mountTmpfs(): string | null {
  if (process.platform !== "linux") { console.log("[storage] disk full: not Linux; skipped"); return null; }
  if (!IS_ROOT) { console.log("[storage] disk full: mounting a tmpfs needs root; skipped"); return null; }
  const mnt = tempDir("difyctl-full-");
  chmodSync(mnt, 0o755);
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", mnt], { encoding: "utf8" });
  if (r.status !== 0) { console.log(`[storage] disk full: cannot mount a tmpfs (${(r.stderr || r.error?.message || "").trim()}); skipped`); return null; }
  return mnt;
}

function unmount(mnt: string): void {
  const r = spawnSync("umount", [mnt], { encoding: "utf8" });
  if (r.status !== 0) spawnSync("umount", ["-l", mnt]);
  rmSync(mnt, { recursive: true, force: true });
}

/** Fills the file system holding `dir` to the last byte. */
function fill(dir: string): string {
  const p = join(dir, `filler-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(p, "w");
  const chunk = new Uint8Array(1024);
  try { for (;;) writeSync(fd, chunk); } catch { /* ENOSPC */ } finally { closeSync(fd); }
  // The last partial block too.
  try { writeFileSync(join(dir, "filler-tail"), "x".repeat(512)); } catch { /* full */ }
  return p;
}

function snapshot(dir: string): string {
  return ["hosts.yml", "tokens.yml"].map((n) => (existsSync(join(dir, n)) ? readFileSync(join(dir, n), "base64") : "-")).join("|");
}

const spaceHint = (stderr: string) => /no space left on device/.test(stderr) && /free some disk space/.test(stderr) && !/permission/i.test(stderr);

describe("a full disk", () => {
  test("re-login is refused before the device flow; failed writes leave no temp files and name disk space; logout says the server side is revoked", async () => {
    const mnt = mountTmpfs();
    if (!mnt) return;
    try {
      const dir = join(mnt, "cfg");
      const env = await signIn(dir);
      const before = snapshot(dir);
      const tokenId = readDir(dir).hosts.token_id!;
      const filler = fill(mnt);

      // 1. Re-login: nothing can be stored, so no code is asked for (approving it would rotate the old token away).
      const codes = deviceCodeRequests();
      for (const json of [false, true]) {
        const r = await spawnCli([...loginArgs(), ...(json ? ["--json"] : [])], { env, timeoutMs: 20_000 });
        figures.disk_full_cases++;
        const name = `full disk, re-login${json ? " --json" : ""}`;
        for (const p of outputProblems(r, { json })) check(name, false, p);
        check(name, r.code === 1, `exit ${r.code}: ${r.stderr}`);
        check(name, spaceHint(r.stderr), `no disk-space message/hint: ${r.stderr}`);
        check(name, !/Waiting for authorization/.test(r.stderr) && deviceCodeRequests() === codes, "the device flow started");
      }
      check("full disk, re-login", snapshot(dir) === before, "hosts.yml or tokens.yml changed");

      // 2. Writers that fail on the lock: no `.difyctl.lock.tmp-*` left, the hint is about space.
      for (let i = 0; i < 5; i++) {
        const r = await spawnCli([...useArgs(), "--json"], { env, timeoutMs: 20_000 });
        figures.disk_full_cases++;
        for (const p of outputProblems(r, { json: true })) check("full disk, auth use", false, p);
        check("full disk, auth use", r.code === 1 && spaceHint(r.stderr), `exit ${r.code}: ${r.stderr}`);
      }
      check("full disk, failed lock attempts", tmpFiles(dir).length === 0, `left: ${tmpFiles(dir).join(", ")}`);
      check("full disk, auth use", snapshot(dir) === before, "files changed");

      // 3. Logout: the server revokes, the local clear cannot happen. Say so, in that order of truth.
      const r = await spawnCli(["auth", "logout"], { env, timeoutMs: 20_000 });
      figures.disk_full_cases++;
      for (const p of outputProblems(r, { json: false })) check("full disk, logout", false, p);
      check("full disk, logout", r.code === 1, `exit ${r.code}: ${r.stderr}`);
      check("full disk, logout", /already revoked on the server/.test(r.stderr), `does not say the server side is revoked: ${r.stderr}`);
      check("full disk, logout", !/cleared anyway/.test(r.stderr), `claims a clear that failed: ${r.stderr}`);
      check("full disk, logout", fake.tokenRows().find((t) => t.id === tokenId)?.revokedAt != null, "the server did not revoke the token");
      check("full disk, logout", tmpFiles(dir).length === 0, `left: ${tmpFiles(dir).join(", ")}`);

      // 4. Space again: the next logout clears (the server already revoked: a warning, after the clear).
      unlinkSync(filler);
      const again = await spawnCli(["auth", "logout"], { env, timeoutMs: 20_000 });
      figures.disk_full_cases++;
      check("logout after space is back", again.code === 0 && !readDir(dir).hosts.token_id, `exit ${again.code}: ${again.stderr}`);
    } finally {
      unmount(mnt);
    }
    flush("disk full");
  }, 120_000);

  test("storing fails after approval: the error says the previous session is gone too", async () => {
    const mnt = mountTmpfs();
    if (!mnt) return;
    try {
      const dir = join(mnt, "cfg");
      const env = await signIn(dir);
      const before = snapshot(dir);
      const oldId = readDir(dir).hosts.token_id!;
      fake.setOption({ autoApprove: null });
      let filler = "";
      const r = await runTimed(loginArgs(), {
        env, timeoutMs: 30_000,
        during: async () => {
          // The pre-check passed and a code is out: now the disk fills, then the user approves.
          let code: string | undefined;
          for (let i = 0; i < 400 && !code; i++) { code = fake.pending().find((p) => p.status === "pending")?.userCode; if (!code) await sleep(25); }
          filler = fill(mnt);
          fake.approve(code!);
        },
      });
      fake.setOption({ autoApprove: { afterPolls: 1 } });
      figures.disk_full_cases++;
      for (const p of outputProblems(r, { json: false })) check("full after approval", false, p);
      check("full after approval", r.code === 1 && /no space left on device/.test(r.stderr), `exit ${r.code}: ${r.stderr}`);
      check("full after approval", /previous session .* (is gone|no longer works)/.test(r.stderr), `does not say the old session is gone: ${r.stderr}`);
      check("full after approval", fake.tokenRows().find((t) => t.id === oldId)?.revokedAt != null, "the server did not rotate the old token (the message would be wrong)");
      check("full after approval", snapshot(dir) === before, "files changed");
      check("full after approval", tmpFiles(dir).length === 0, `left: ${tmpFiles(dir).join(", ")}`);
      if (filler) unlinkSync(filler);
    } finally {
      fake.setOption({ autoApprove: { afterPolls: 1 } });
      unmount(mnt);
    }
    flush("disk full after approval");
  }, 60_000);
});

// ──────────────────────────────────────────────────────────────────────────── permissions

describe("credentials only in a private directory, every credential file 0600", () => {
  test("a config dir others can write (0770, 0777, 1777, DIFY_CONFIG_DIR=/tmp) is refused before the device flow, with the fix", async () => {
    const dirs: [string, string][] = [];
    for (const mode of [0o770, 0o777, 0o1777]) {
      const d = freshDir("difyctl-open-");
      mkdirSync(d);
      chmodSync(d, mode);
      dirs.push([`mode ${mode.toString(8)}`, d]);
    }
    dirs.push(["/tmp", "/tmp"]);
    const tmpBefore = new Set(readdirSync("/tmp").filter((n) => /^(hosts|tokens|login-pending)\.yml$|^\.difyctl/.test(n)));
    for (const [name, d] of dirs) {
      const codes = deviceCodeRequests();
      // Not through baseEnv for /tmp: that would list all of /tmp for the secrets scan.
      const env = d === "/tmp"
        ? { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir(), DIFY_CONFIG_DIR: "/tmp", DIFY_TOKEN_STORAGE: "file", LANG: "C.UTF-8" }
        : baseEnv(d, { DIFY_TOKEN_STORAGE: "file" });
      const r = await spawnCli([...loginArgs(), "--json"], { env, timeoutMs: 20_000 });
      figures.permission_cases++;
      for (const p of outputProblems(r, { json: true })) check(name, false, p);
      check(name, r.code === 2, `exit ${r.code}: ${r.stderr}`);
      check(name, /can be written by other users; difyctl does not store credentials there/.test(r.stderr) && /chmod 700/.test(r.stderr), `stderr: ${r.stderr}`);
      check(name, deviceCodeRequests() === codes, "the device flow started");
      if (d !== "/tmp") check(name, readdirSync(d).length === 0, `wrote ${readdirSync(d).join(", ")}`);
    }
    const tmpAfter = readdirSync("/tmp").filter((n) => /^(hosts|tokens|login-pending)\.yml$|^\.difyctl/.test(n) && !tmpBefore.has(n));
    check("/tmp", tmpAfter.length === 0, `wrote ${tmpAfter.join(", ")} into /tmp`);
    // A regression must not leave a session in the shared /tmp.
    for (const n of tmpAfter) rmSync(join("/tmp", n), { recursive: true, force: true });
    flush("open dirs");
  }, 60_000);

  test("a tokens.yml or hosts.yml found 0644 is 0600 after any write (auth use, re-login)", async () => {
    for (const cmd of [useArgs(), loginArgs()]) {
      const dir = freshDir("difyctl-loose-");
      const env = await signIn(dir);
      chmodSync(join(dir, "tokens.yml"), 0o644);
      chmodSync(join(dir, "hosts.yml"), 0o644);
      const r = await spawnCli(cmd, { env, timeoutMs: 20_000 });
      figures.permission_cases++;
      const name = cmd.slice(0, 2).join(" ");
      check(name, r.code === 0, `exit ${r.code}: ${r.stderr}`);
      for (const f of ["tokens.yml", "hosts.yml"]) {
        const mode = statSync(join(dir, f)).mode & 0o777;
        check(name, mode === 0o600, `${f} is ${mode.toString(8)} after the write`);
      }
      const st = readDir(dir);
      sessionOf(st, mints, new Map([[host, fake]]));
      check(name, st.problems.length === 0, st.problems.join("; "));
    }
    flush("loose files");
  }, 60_000);
});

// ──────────────────────────────────────────────────────────────────────────── truncation in place

describe("config files truncated in place while readers run", () => {
  test("no reader dies by a signal (a mapped file would raise SIGBUS)", async () => {
    banner("reliability-storage-truncate");
    const dir = freshDir("difyctl-trunc-");
    mkdirSync(dir, { mode: 0o700 });
    const { token, tokenId } = fake.mintToken(EMAILS.gareth);
    // Large files (under the 1 MiB cap) so that a read overlaps a truncation often.
    const pad = (c: string) => ("# " + c.repeat(98) + "\n").repeat(9000);
    const hosts = `current_host: ${host}\nscheme: http\nsubject_type: account\naccount: {id: ${IDS.accounts.gareth}, email: ${EMAILS.gareth}, name: Gareth}\ntoken_storage: file\ntoken_id: ${tokenId}\n` + pad("y");
    const tokens = `version: 1\ntokens:\n  ${tokenId}: {host: "${host}", bearer: ${token}, expires_at: null}\n` + pad("z");
    writeFileSync(join(dir, "hosts.yml"), hosts, { mode: 0o600 });
    writeFileSync(join(dir, "tokens.yml"), tokens, { mode: 0o600 });
    let stop = false;
    // Truncate to zero and write back in place (same inode), as an editor or a sync tool may.
    const truncator = (async () => {
      const files = [[openSync(join(dir, "hosts.yml"), "r+"), hosts], [openSync(join(dir, "tokens.yml"), "r+"), tokens]] as const;
      for (let i = 0; !stop; i++) {
        const [fd, text] = files[i % 2]!;
        ftruncateSync(fd, 0);
        await sleep(0);
        writeSync(fd, text, 0);
        await sleep(0);
      }
      for (const [fd] of files) closeSync(fd);
    })();
    const runs = scale(160, 1600);
    const env = baseEnv(dir, { DIFY_TOKEN_STORAGE: "file" });
    const exits: Record<string, number> = {};
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < runs) {
        const json = next++ % 2 === 0;
        const r = await spawnCli(["auth", "status", ...(json ? ["--json"] : [])], { env, timeoutMs: 20_000 });
        figures.truncation_reads++;
        const k = r.signal ?? `exit ${r.code}`;
        exits[k] = (exits[k] ?? 0) + 1;
        if (r.signal) figures.signal_deaths++;
        // 0: read whole; 4: read while empty (logged out); 6: read half-written (invalid file).
        for (const p of outputProblems(r, { json, allowExits: [0, 4, 6] })) check(`truncation, auth status${json ? " --json" : ""}`, false, p);
      }
    }));
    stop = true;
    await truncator;
    console.log(`[storage] truncation in place: ${runs} reads, ${JSON.stringify(exits)}`);
    check("truncation", figures.signal_deaths === 0, `${figures.signal_deaths} readers died by a signal`);
    flush("truncation");
  }, scale(120_000, 900_000));
});

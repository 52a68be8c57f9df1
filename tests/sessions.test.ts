// auth use, the session's 401/5xx handling: command logic runs in-process (runInProcess, the
// binary's router, retry waits recorded rather than slept); sign-in and the read-only config dir
// (a mount namespace around the process) use the compiled binary.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkSurface, resolveWorkspace } from "../src/auth/api-session.ts";
import { CliError } from "../src/cli/errors.ts";
import type { Session } from "../src/auth/session.ts";
import { type FakeServer, IDS, startFakeServer } from "./fake/server.ts";
import { BIN, baseEnv, envelope, FAST, login, run, runInProcess, tempDir } from "./helpers.ts";

const servers: FakeServer[] = [];
async function server(opts: Parameters<typeof startFakeServer>[0] = {}): Promise<FakeServer> {
  const s = await startFakeServer({ ...FAST, autoApprove: { afterPolls: 1 }, ...opts });
  servers.push(s);
  return s;
}
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
  await Promise.all(servers.map((s) => s.close()));
});

async function signedIn(opts: Parameters<typeof startFakeServer>[0] = {}) {
  const s = await server(opts);
  const dir = join(tempDir(), "cfg");
  expect((await login(s.url, dir)).code).toBe(0);
  const hosts = () => readFileSync(join(dir, "hosts.yml"), "utf8");
  const tokenId = /token_id: (\S+)/.exec(hosts())![1];
  return { s, dir, env: baseEnv(dir), tokenId, hosts };
}

const sessionGets = (s: FakeServer) => s.requests.filter((r) => r.method === "GET" && r.path.endsWith("/account/sessions"));

function fakeSession(over: Partial<Session>): Session {
  return {
    source: "file", hostRef: { host: "h", baseUrl: "https://h", scheme: "https" } as Session["hostRef"], bearer: "dfoa_x", tokenId: "t",
    subjectType: "account", meta: {}, workspaceId: "ws-stored", ...over,
  };
}

describe("subject dispatch and workspace resolution (unit)", () => {
  test("account-only refuses SSO and SSO-only refuses account: wrong_surface, exit 2, hint names the right command", () => {
    const refuse = (s: Session, surface: "account" | "external_sso") => {
      try { checkSurface(s, surface, "cmd"); return null; } catch (e) { return e as CliError; }
    };
    const a = refuse(fakeSession({ subjectType: "external_sso" }), "account")!;
    expect([a.code, a.exitCode]).toEqual(["wrong_surface", 2]);
    expect(a.hint).toContain("permitted-external");
    const b = refuse(fakeSession({ subjectType: "account" }), "external_sso")!;
    expect(b.code).toBe("wrong_surface");
    expect(b.hint).toContain("get apps");
    expect(refuse(fakeSession({}), "account")).toBeNull();
  });
  test("--workspace overrides the active workspace; none at all is a usage error", () => {
    expect(resolveWorkspace(fakeSession({}), "ws-flag")).toBe("ws-flag");
    expect(resolveWorkspace(fakeSession({}), undefined)).toBe("ws-stored");
    expect(() => resolveWorkspace(fakeSession({ workspaceId: null }), undefined)).toThrow(/no workspace selected/);
    expect(() => resolveWorkspace(fakeSession({}), "../x")).toThrow(CliError);
  });
});

describe("auth use", () => {
  test("switches to another available workspace: hosts.yml keeps its shape and mode; status follows", async () => {
    const c = await signedIn();
    const before = c.s.requests.length;
    const r = await runInProcess(["auth", "use", IDS.workspaces.side.toUpperCase()], { env: c.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Switched to workspace Side Project (${IDS.workspaces.side})\n`);
    expect(c.s.requests.length).toBe(before); // offline
    const h = c.hosts();
    expect(h).toContain(`current_workspace_id: ${IDS.workspaces.side}`);
    expect(h).toMatch(/workspace:\n\s+id: b0000000-0000-4000-8000-000000000002\n\s+name: Side Project\n\s+role: normal/);
    expect(h).toContain(`token_id: ${c.tokenId}`);
    expect(statSync(join(c.dir, "hosts.yml")).mode & 0o777).toBe(0o600);
    expect(readdirSync(c.dir).sort()).toEqual(["hosts.yml", "tokens.yml"]);
    const st = await runInProcess(["auth", "status", "--json"], { env: c.env });
    expect(JSON.parse(st.stdout).workspace).toEqual({ id: IDS.workspaces.side, name: "Side Project", role: "normal" });
    const j = await runInProcess(["auth", "use", IDS.workspaces.acme, "--json"], { env: c.env });
    expect(JSON.parse(j.stdout)).toEqual({ workspace: { id: IDS.workspaces.acme, name: "Acme Corp", role: "owner" } });
  });

  test("a workspace that is not available → exit 2 listing the available ones; file untouched", async () => {
    const c = await signedIn();
    const h0 = c.hosts();
    const r = await runInProcess(["auth", "use", IDS.workspaces.alice, "--json"], { env: c.env });
    expect(r.code).toBe(2);
    const e = envelope(r.stderr);
    expect(e.message).toContain("is not one of your workspaces");
    expect(e.message).toContain(`${IDS.workspaces.acme} (Acme Corp)`);
    expect(e.message).toContain(`${IDS.workspaces.side} (Side Project)`);
    expect(c.hosts()).toBe(h0);
  });

  test("an external SSO session → wrong_surface before anything is read from the network or written", async () => {
    const c = await signedIn({ autoApprove: { afterPolls: 1, as: "sso" } });
    const h0 = c.hosts();
    const before = c.s.requests.length;
    const r = await runInProcess(["auth", "use", IDS.workspaces.acme, "--json"], { env: c.env });
    expect(r.code).toBe(2);
    expect(envelope(r.stderr).code).toBe("wrong_surface");
    expect(c.hosts()).toBe(h0);
    expect(c.s.requests.length).toBe(before);
  });

  test("not logged in → exit 4; no argument → usage_missing_arg", async () => {
    const env = baseEnv(join(tempDir(), "none"));
    expect((await runInProcess(["auth", "use", "x"], { env })).code).toBe(4);
    const r = await runInProcess(["auth", "use", "--json"], { env });
    expect(r.code).toBe(2);
    expect(envelope(r.stderr).code).toBe("usage_missing_arg");
  });
});

describe("401 and 5xx against the stored session (file mode)", () => {
  test("401: local session cleared, auth_expired exit 4, not retried", async () => {
    const c = await signedIn();
    c.s.revoke(c.tokenId);
    const before = sessionGets(c.s).length;
    const r = await runInProcess(["auth", "devices", "list", "--json"], { env: c.env });
    expect(r.code).toBe(4);
    const e = envelope(r.stderr);
    expect(e).toMatchObject({ code: "auth_expired", http_status: 401 });
    expect(e.message).toContain("session expired or revoked");
    expect(sessionGets(c.s).length - before).toBe(1);
    expect(existsSync(join(c.dir, "tokens.yml"))).toBe(false);
    expect(c.hosts()).not.toContain("token_id");
    expect((await runInProcess(["auth", "status"], { env: c.env })).code).toBe(4);
  });

  test("500 (even the June 'invalid bearer → 500' bug) never clears anything; GETs are retried", async () => {
    const c = await signedIn();
    const h0 = c.hosts();
    const t0 = readFileSync(join(c.dir, "tokens.yml"), "utf8");
    c.s.faults.add({ match: { method: "GET", path: "/account/sessions" }, times: 4, respond: { status: 500, body: { code: "internal_server_error", message: "Internal Server Error", status: 500 } } });
    const before = sessionGets(c.s).length;
    const r = await runInProcess(["auth", "devices", "list", "--json"], { env: c.env });
    expect(r.code).toBe(1);
    expect(envelope(r.stderr)).toMatchObject({ code: "server_5xx", http_status: 500 });
    expect(sessionGets(c.s).length - before).toBe(4); // first try + 3 retries
    expect(r.sleeps).toEqual([500, 1000, 2000]); // the backoff between them
    c.s.revoke(c.tokenId);
    c.s.faults.invalidBearer500 = true;
    const r2 = await runInProcess(["auth", "devices", "list", "--json"], { env: c.env });
    expect(r2.code).toBe(1);
    expect(c.hosts()).toBe(h0);
    expect(readFileSync(join(c.dir, "tokens.yml"), "utf8")).toBe(t0);
  }, 30_000);

  test("a 5xx that recovers within the retries succeeds", async () => {
    const c = await signedIn();
    c.s.faults.add({ match: { method: "GET", path: "/account/sessions" }, times: 2, respond: { status: 502, body: { code: "bad_gateway", message: "Internal Server Error", status: 502 } } });
    c.s.faults.add({ match: { method: "GET", path: "/account/sessions" }, respond: "drop" });
    const r = await runInProcess(["auth", "devices", "list", "--json"], { env: c.env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(1);
  }, 20_000);
});

// ── A config dir copied from another machine and mounted read-only ─────────────────
//
// As root, chmod does not stop writes (CAP_DAC_OVERRIDE), so the test uses what a container
// really gets from `docker run -v dir:/config:ro`: a read-only mount (EROFS), made with a private
// mount namespace so nothing leaks to the host. Fallbacks: `chattr +i` (EPERM) as root without
// mount rights, chmod a-w (EACCES) for a normal user. A probe proves the writes really fail.

async function readOnlyRunner(dirs: string[]): Promise<{ how: string; bin: string }> {
  const wrapper = join(tempDir(), "ro-run.sh");
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) {
    for (const d of dirs) chmodTree(d, false);
    cleanups.push(() => { for (const d of dirs) chmodTree(d, true); });
    writeFileSync(wrapper, `#!/bin/sh\nexec "$@"\n`, { mode: 0o755 });
    return { how: "chmod a-w", bin: wrapper };
  }
  const mounts = dirs.map((d) => `mount --bind ${q(d)} ${q(d)} && mount -o remount,bind,ro ${q(d)} ${q(d)}`).join(" && ");
  writeFileSync(wrapper, `#!/bin/sh\nexec unshare --mount --propagation private sh -c ${q(`${mounts} && exec "$@"`)} sh "$@"\n`, { mode: 0o755 });
  const probe = await run(["/bin/sh", "-c", `touch ${q(join(dirs[0], ".probe"))}`], { bin: wrapper });
  if (probe.code !== 0 && probe.stderr.includes("Read-only file system")) return { how: "read-only bind mount", bin: wrapper };
  const attr = Bun.spawn(["chattr", "-R", "+i", ...dirs], { stderr: "pipe" });
  if ((await attr.exited) === 0) {
    cleanups.push(async () => { await Bun.spawn(["chattr", "-R", "-i", ...dirs]).exited; });
    writeFileSync(wrapper, `#!/bin/sh\nexec "$@"\n`, { mode: 0o755 });
    return { how: "chattr +i", bin: wrapper };
  }
  throw new Error(`cannot make a directory read-only here (unshare: ${probe.stderr.trim()})`);
}

function chmodTree(d: string, writable: boolean): void {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) chmodTree(p, writable);
    else chmodSync(p, writable ? 0o600 : 0o400);
  }
  chmodSync(d, writable ? 0o700 : 0o500);
}

function snapshot(d: string): Record<string, string> {
  return Object.fromEntries(readdirSync(d).map((n) => [n, readFileSync(join(d, n), "utf8")]));
}

describe("read-only config dir copied from another machine", () => {
  test("read commands work, a failed cache write is ignored, and 401 is auth_expired without a crash", async () => {
    const c = await signedIn();
    const copy = join(tempDir(), "mounted");
    cpSync(c.dir, copy, { recursive: true, preserveTimestamps: true });
    mkdirSync(copy + "-cache", { recursive: true });
    const ro = await readOnlyRunner([copy, copy + "-cache"]);
    const env = baseEnv(copy);
    const before = snapshot(copy);
    const probe = await run(["/bin/sh", "-c", `touch '${copy}/x' 2>&1 || echo write-failed`], { bin: ro.bin, env });
    expect(probe.stdout).toContain("write-failed");

    const roRun = (args: string[]) => run([BIN, ...args], { bin: ro.bin, env });
    const st = await roRun(["auth", "status"]);
    expect(st.code).toBe(0);
    expect(st.stdout).toContain("gareth@dify.ai");
    expect((await roRun(["auth", "whoami", "--json"])).code).toBe(0);
    const list = await roRun(["auth", "devices", "list", "--json"]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).filter((x: { current: boolean }) => x.current)).toHaveLength(1);
    // The version probe could not be cached: the next command probes again and still works.
    const probes = () => c.s.requests.filter((r) => r.path.endsWith("/_version")).length;
    const p0 = probes();
    expect((await roRun(["auth", "devices", "list"])).code).toBe(0);
    expect(probes()).toBe(p0 + 1);

    c.s.revoke(c.tokenId);
    const expired = await roRun(["auth", "devices", "list", "--json"]);
    expect(expired.code).toBe(4);
    expect(envelope(expired.stderr).code).toBe("auth_expired");
    const human = await roRun(["auth", "devices", "list"]);
    expect(human.code).toBe(4);
    expect(human.stderr).toContain("error: session expired or revoked");
    expect(human.stderr).toContain("note: the local session could not be removed");
    expect(human.stderr).not.toContain("unexpected error");
    expect(snapshot(copy)).toEqual(before);
    console.log(`read-only mechanism: ${ro.how}`);
  }, 30_000);
});

// The sign-in logic in-process: a Ctx with a fake fetch, captured stdout/stderr, a chosen answer
// to "is this a terminal", and a virtual clock. Nothing here sleeps or opens a socket, so a
// 5-second poll interval and a 15-minute code cost nothing, and every time is exact.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ctx, type Env } from "../src/cli/context.ts";
import { CliError } from "../src/cli/errors.ts";
import { completeUrl } from "../src/auth/device-api.ts";
import { type Clock, DEVICE_FLOW_DEFAULTS, deviceStep, nextInterval, pollMarginMs, type PollOutcome } from "../src/auth/device-poller.ts";
import { login } from "../src/auth/login-flow.ts";
import { EXIT_PENDING, readPending, resumeLogin } from "../src/auth/login-pending.ts";
import { claimSignIn, LOGIN_LOCK_FILE } from "../src/auth/login-lock.ts";
import { loggedInResult, storageNotice } from "../src/auth/sign-in.ts";
import { refuseWhileEnvSession } from "../src/auth/session.ts";
import { checkSurface } from "../src/auth/api-session.ts";
import { errorForStatus } from "../src/http/http-client.ts";
import { SUBJECTS } from "../src/auth/identity.ts";
import { tempDir } from "./helpers.ts";

const HOST = "dify.test";
const BASE = `https://${HOST}`;
const TOKEN = "dfoa_" + "A".repeat(43);
const APPROVED = {
  token: TOKEN, token_id: "tok-1", expires_at: "2030-01-01T00:00:00Z", subject_type: "account",
  account: { id: "acc-1", email: "gareth@dify.ai", name: "Gareth Chen" },
  workspaces: [{ id: "ws-1", name: "Acme Corp", role: "owner" }], default_workspace_id: "ws-1",
};

/** Virtual time: sleep() moves the clock and returns at once; every sleep is recorded. */
class FakeClock implements Clock {
  sleeps: number[] = [];
  constructor(public t = Date.parse("2026-06-01T12:00:00Z")) {}
  now(): number { return this.t; }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new CliError("cancelled", "cancelled"));
    this.sleeps.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
}

type Answer = { status: number; body: unknown };
/** A device-flow server in a function: the code response, then one scripted answer per poll. */
function fakeDify(clock: FakeClock, polls: Answer[], code: Record<string, unknown> = {}) {
  const calls: { path: string; at: number; body: string }[] = [];
  const fetch: typeof globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const path = url.pathname.replace(/^\/openapi\/v1/, "");
    calls.push({ path, at: clock.now(), body: String(init?.body ?? "") });
    const json = (a: Answer) => new Response(JSON.stringify(a.body), { status: a.status, headers: { "Content-Type": "application/json" } });
    if (path === "/oauth/device/code") {
      return json({ status: 200, body: { device_code: "dc_secret", user_code: "ABCD-1234", verification_uri: `${BASE}/device`, expires_in: 900, interval: 5, ...code } });
    }
    if (path === "/oauth/device/token") {
      const next = polls.shift();
      if (!next) throw new Error("unexpected poll");
      return json(next);
    }
    return json({ status: 404, body: { code: "not_found", message: "Not Found", status: 404 } });
  }) as typeof globalThis.fetch;
  return { fetch, calls, polls: () => calls.filter((c) => c.path === "/oauth/device/token") };
}

const pending = (): Answer => ({ status: 400, body: { error: "authorization_pending" } });
const slowDown = (): Answer => ({ status: 400, body: { error: "slow_down" } });
const approved = (): Answer => ({ status: 200, body: APPROVED });

function harness(opts: { json?: boolean; tty?: boolean; env?: Env; signal?: AbortSignal } = {}) {
  const dir = join(tempDir("difyctl-signin-"), "cfg");
  const out: string[] = [];
  const err: string[] = [];
  const env: Env = { DIFY_CONFIG_DIR: dir, DIFY_TOKEN_STORAGE: "file", HOME: dir + "-home", ...opts.env };
  const make = (fetch: typeof globalThis.fetch) => new Ctx(env, { json: opts.json }, {
    fetch, stdout: async (t) => { out.push(t); }, stderr: async (t) => { err.push(t); },
    isTTY: () => opts.tty ?? false, signal: opts.signal ?? new AbortController().signal,
  });
  return { dir, out: () => out.join(""), err: () => err.join(""), make, reset: () => { out.length = 0; err.length = 0; } };
}

const loginOpts = { host: BASE, noBrowser: true, insecure: false, noKeyring: true, noQr: true };

describe("the shared device-flow step", () => {
  const step = (o: PollOutcome, interval = 5) => deviceStep(async () => o, interval);
  test("pending keeps the interval, slow_down grows it by the one rule, a token is the payload", async () => {
    expect(await step({ kind: "pending" })).toEqual({ kind: "waiting", interval: 5, slowDown: false });
    expect(await step({ kind: "slow_down" })).toEqual({ kind: "waiting", interval: nextInterval(5), slowDown: true });
    expect(await step({ kind: "slow_down", interval: 42 })).toEqual({ kind: "waiting", interval: 42, slowDown: true });
    expect(await step({ kind: "token", payload: { token: "x" } })).toEqual({ kind: "approved", payload: { token: "x" } });
  });
  test("expired, denied and unknown answers end the sign-in with their code; a failed poll propagates unchanged", async () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => null, (e: CliError) => [e.code, e.exitCode, e.message]);
    expect(await codeOf(step({ kind: "expired" }))).toEqual(["expired_token", 4, "code expired before authorization; run 'difyctl auth login' to try again"]);
    expect(await codeOf(step({ kind: "denied" }))).toEqual(["access_denied", 4, "authorization denied"]);
    expect(await codeOf(step({ kind: "unknown_error", error: "foo\x1b[31m" }))).toEqual(["unknown", 1, "unexpected device-flow error: foo?[31m"]);
    const net = new CliError("network_connection", "down");
    expect(await deviceStep(() => Promise.reject(net), 5).catch((e) => e)).toBe(net);
  });
  test("one set of defaults: 5 s and 900 s", () => {
    expect(DEVICE_FLOW_DEFAULTS).toEqual({ intervalSec: 5, expiresInSec: 900 });
  });
  test("the pre-filled URL is the verification URI with ?user_code=", () => {
    expect(completeUrl("https://h/device", "ABCD-1234")).toBe("https://h/device?user_code=ABCD-1234");
    expect(completeUrl(new URL("https://h/device?x=1"), "A-B")).toBe("https://h/device?x=1&user_code=A-B");
  });
});

describe("--no-wait and --resume with an injected clock", () => {
  test("pending → slow_down → approved: every wait and every saved time comes from the clock", async () => {
    const clock = new FakeClock();
    const t0 = clock.t;
    const h = harness({ json: true });
    const dify = fakeDify(clock, [pending(), slowDown(), approved()]);
    const ctx = () => h.make(dify.fetch);

    expect(await login(ctx(), { ...loginOpts, noWait: true }, clock)).toBe(0);
    expect(JSON.parse(h.out())).toMatchObject({ status: "pending", user_code: "ABCD-1234", expires_in: 900, interval: 5 });
    const p0 = readPending(ctx().config)!;
    expect(p0.created_at).toBe(new Date(t0).toISOString());
    expect(p0.expires_at).toBe(new Date(t0 + 900_000).toISOString());
    expect(p0.next_poll_at).toBe(new Date(t0 + 5000 + pollMarginMs(5)).toISOString());
    // The claim on the config dir is gone once --no-wait returns.
    expect(existsSync(join(h.dir, LOGIN_LOCK_FILE))).toBe(false);

    // Resumed at once: waits (virtually) for the next allowed poll, never polls early.
    h.reset();
    expect(await resumeLogin(ctx(), loginOpts, clock)).toBe(EXIT_PENDING);
    expect(clock.sleeps).toEqual([5000 + pollMarginMs(5)]);
    expect(dify.polls().map((c) => c.at)).toEqual([t0 + 5000 + pollMarginMs(5)]);
    expect(JSON.parse(dify.polls()[0].body)).toEqual({ device_code: "dc_secret", client_id: "difyctl" });

    h.reset();
    expect(await resumeLogin(ctx(), loginOpts, clock)).toBe(EXIT_PENDING);
    const grown = nextInterval(5);
    expect(JSON.parse(h.out())).toMatchObject({ status: "pending", interval: grown });
    const p2 = readPending(ctx().config)!;
    expect(p2.interval).toBe(grown);
    expect(p2.next_poll_at).toBe(new Date(dify.polls()[1].at + grown * 1000 + pollMarginMs(grown)).toISOString());

    h.reset();
    expect(await resumeLogin(ctx(), loginOpts, clock)).toBe(0);
    expect(dify.polls()[2].at - dify.polls()[1].at).toBe(grown * 1000 + pollMarginMs(grown));
    expect(JSON.parse(h.out())).toEqual({
      status: "logged_in", host: HOST, subject_type: "account", account: APPROVED.account,
      workspace: APPROVED.workspaces[0], external_sso: null, storage: "file",
    });
    expect(readPending(ctx().config)).toBeNull();
    expect(readFileSync(join(h.dir, "tokens.yml"), "utf8")).toContain(TOKEN);

    // Nothing pending any more: the same logged_in shape, from the stored session.
    h.reset();
    expect(await resumeLogin(ctx(), loginOpts, clock)).toBe(0);
    expect(JSON.parse(h.out())).toEqual(JSON.parse(JSON.stringify(loggedInResult(HOST, { subject_type: "account", account: APPROVED.account, workspace: APPROVED.workspaces[0] }, "file"))));
  });

  test("past the deadline by the clock: expired without a request, the pending state removed", async () => {
    const clock = new FakeClock();
    const h = harness({ json: true });
    const dify = fakeDify(clock, []);
    expect(await login(h.make(dify.fetch), { ...loginOpts, noWait: true }, clock)).toBe(0);
    clock.t += 900_000;
    const e = await resumeLogin(h.make(dify.fetch), loginOpts, clock).catch((x) => x);
    expect(e.code).toBe("expired_token");
    expect(dify.polls()).toHaveLength(0);
    expect(existsSync(join(h.dir, "login-pending.yml"))).toBe(false);
  });

  test("denied on resume: access_denied and the pending state removed; a server failure keeps it", async () => {
    const clock = new FakeClock();
    const h = harness({ json: true });
    const dify = fakeDify(clock, [{ status: 503, body: { code: "unavailable", message: "x", status: 503 } }, { status: 400, body: { error: "access_denied" } }]);
    await login(h.make(dify.fetch), { ...loginOpts, noWait: true }, clock);
    expect((await resumeLogin(h.make(dify.fetch), loginOpts, clock).catch((x) => x)).code).toBe("server_5xx");
    expect(existsSync(join(h.dir, "login-pending.yml"))).toBe(true);
    expect((await resumeLogin(h.make(dify.fetch), loginOpts, clock).catch((x) => x)).code).toBe("access_denied");
    expect(existsSync(join(h.dir, "login-pending.yml"))).toBe(false);
  });
});

describe("the blocking login with an injected clock", () => {
  test("polls at interval + margin on the clock, slow_down grows the gap, then stores and reports", async () => {
    const clock = new FakeClock();
    const t0 = clock.t;
    const h = harness();
    const dify = fakeDify(clock, [pending(), slowDown(), approved()]);
    expect(await login(h.make(dify.fetch), loginOpts, clock)).toBe(0);
    const at = dify.polls().map((c) => c.at - t0);
    const gap = 5000 + pollMarginMs(5);
    const grown = nextInterval(5);
    expect(at).toEqual([gap, 2 * gap, 2 * gap + grown * 1000 + pollMarginMs(grown)]);
    expect(h.out()).toBe("Logged in as gareth@dify.ai (Gareth Chen)\nWorkspace: Acme Corp\n");
    // Off a terminal: the markers for an agent.
    expect(h.err()).toContain("\nopen https://dify.test/device?user_code=ABCD-1234\ncode ABCD-1234\n");
    expect(existsSync(join(h.dir, LOGIN_LOCK_FILE))).toBe(false);
  });

  test("on a terminal: the human block once, no markers; with --json on a terminal the markers come back", async () => {
    for (const json of [false, true]) {
      const clock = new FakeClock();
      const h = harness({ tty: true, json });
      const dify = fakeDify(clock, [approved()]);
      expect(await login(h.make(dify.fetch), loginOpts, clock)).toBe(0);
      const lines = h.err().split("\n");
      expect(lines.filter((l) => l === "! ABCD-1234")).toHaveLength(1);
      expect(lines.filter((l) => l.startsWith("code ") || l.startsWith("open "))).toHaveLength(json ? 2 : 0);
    }
  });

  test("Ctrl-C on a terminal: the spinner ends 'cancelled', login returns 130 and nothing is thrown or written", async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    const h = harness({ tty: true, signal: ac.signal });
    const dify = fakeDify(clock, []);
    // The first wait is the moment to press Ctrl-C.
    const sleep = clock.sleep.bind(clock);
    clock.sleep = (ms, signal) => { ac.abort(); return sleep(ms, signal); };
    expect(await login(h.make(dify.fetch), loginOpts, clock)).toBe(130);
    expect(h.err()).toContain("Waiting for authorization... cancelled\n");
    expect(h.err()).not.toContain("failed");
    expect(existsSync(join(h.dir, "hosts.yml"))).toBe(false);
    expect(existsSync(join(h.dir, LOGIN_LOCK_FILE))).toBe(false);
    // Off a terminal (and for agents) the cancellation stays an error with exit 130.
    const ac2 = new AbortController();
    const h2 = harness({ signal: ac2.signal });
    const clock2 = new FakeClock();
    clock2.sleep = (ms, signal) => { ac2.abort(); return Promise.reject(new CliError("cancelled", "cancelled")); };
    const e = await login(h2.make(fakeDify(clock2, []).fetch), loginOpts, clock2).catch((x) => x);
    expect([e.code, e.exitCode]).toEqual(["cancelled", 130]);
  });

  test("a device page on another host: one note naming both hosts, and the page is still shown", async () => {
    const clock = new FakeClock();
    const h = harness();
    const dify = fakeDify(clock, [approved()], { verification_uri: "https://login.other.test/device" });
    expect(await login(h.make(dify.fetch), loginOpts, clock)).toBe(0);
    const notes = h.err().split("\n").filter((l) => l.startsWith("note: the sign-in page"));
    expect(notes).toEqual([`note: the sign-in page is on login.other.test, not on ${HOST} (the host you are signing in to); approve only if you expect that`]);
    expect(h.err()).toContain("open https://login.other.test/device?user_code=ABCD-1234\n");
    // Same host: no note.
    const h2 = harness();
    expect(await login(h2.make(fakeDify(new FakeClock(), [approved()]).fetch), loginOpts, new FakeClock())).toBe(0);
    expect(h2.err()).not.toContain("sign-in page is on");
  });

  test("signing in while signed in names who is signed in now and says the new sign-in replaces it", async () => {
    const h = harness();
    expect(await login(h.make(fakeDify(new FakeClock(), [approved()]).fetch), loginOpts, new FakeClock())).toBe(0);
    h.reset();
    expect(await login(h.make(fakeDify(new FakeClock(), [approved()]).fetch), loginOpts, new FakeClock())).toBe(0);
    expect(h.err()).toContain(`note: signed in to ${HOST} as gareth@dify.ai (Gareth Chen); this sign-in replaces that session once approved\n`);
    h.reset();
    expect(await login(h.make(fakeDify(new FakeClock(), [approved()]).fetch), { ...loginOpts, host: "https://other.test" }, new FakeClock())).toBe(0);
    expect(h.err()).toContain(`note: switching from ${HOST} to other.test; previous session will be cleared (signed in there as gareth@dify.ai (Gareth Chen))\n`);
  });
});

describe("one sign-in per config directory", () => {
  const clock = new FakeClock();
  test("a live holder is named (pid, start time) and refused; a dead or ancient one is taken over; release removes only our own claim", async () => {
    const h = harness();
    const ctx = h.make(fakeDify(clock, []).fetch);
    ctx.config.checkWritable();
    const lock = join(h.dir, LOGIN_LOCK_FILE);
    const sleeper = Bun.spawn(["sleep", "30"]);
    try {
      const started = new Date(clock.now() - 60_000).toISOString();
      writeFileSync(lock, JSON.stringify({ pid: sleeper.pid, started_at: started, host: "a.test", nonce: "n1" }), { mode: 0o600 });
      const e = await claimSignIn(ctx, HOST, clock).catch((x) => x);
      expect([e.code, e.exitCode]).toEqual(["login_in_progress", 1]);
      expect(e.message).toContain(`pid ${sleeper.pid}, started at ${started.replace(/\.\d+Z$/, "Z")}, host a.test`);
      expect(e.hint).toContain(`kill ${sleeper.pid}`);
      // A whole sign-in is refused the same way, before any request.
      const dify = fakeDify(clock, []);
      expect((await login(h.make(dify.fetch), loginOpts, clock).catch((x) => x)).code).toBe("login_in_progress");
      expect((await resumeLogin(h.make(dify.fetch), loginOpts, clock).catch((x) => x)).code).not.toBe("login_in_progress"); // nothing pending: no claim needed
      expect(dify.calls).toHaveLength(0);

      // Older than any sign-in can last: stale even though the pid runs.
      writeFileSync(lock, JSON.stringify({ pid: sleeper.pid, started_at: new Date(clock.now() - 2 * 3600_000).toISOString(), host: "a.test", nonce: "n2" }));
      const release = await claimSignIn(ctx, HOST, clock);
      expect(JSON.parse(readFileSync(lock, "utf8"))).toMatchObject({ pid: process.pid, host: HOST });
      release();
      expect(existsSync(lock)).toBe(false);
    } finally {
      sleeper.kill();
      await sleeper.exited;
    }
    // The holder has exited: taken over.
    writeFileSync(lock, JSON.stringify({ pid: sleeper.pid, started_at: new Date(clock.now()).toISOString(), host: "a.test", nonce: "n3" }));
    const release = await claimSignIn(ctx, HOST, clock);
    // Someone else's claim written over ours is not removed by our release.
    writeFileSync(lock, JSON.stringify({ pid: 1, started_at: new Date(clock.now()).toISOString(), host: "b.test", nonce: "other" }));
    release();
    expect(existsSync(lock)).toBe(true);
  });
});

describe("one rule in one place", () => {
  test("the refusal while the environment holds the session names the variables to unset", () => {
    expect(() => refuseWhileEnvSession({}, "log in")).not.toThrow();
    const e = (() => { try { refuseWhileEnvSession({ DIFY_TOKEN: "x", DIFY_HOST: "h" }, "log out"); } catch (x) { return x as CliError; } })()!;
    expect([e.code, e.message, e.hint]).toEqual(["usage_invalid_flag", "cannot log out while the session comes from the environment", "unset DIFY_TOKEN, DIFY_HOST first"]);
    const u = (() => { try { refuseWhileEnvSession({ DIFY_WORKSPACE_ID: "w" }, "switch workspace", "set DIFY_WORKSPACE_ID instead"); } catch (x) { return x as CliError; } })()!;
    expect(u.hint).toBe("set DIFY_WORKSPACE_ID instead (or unset DIFY_WORKSPACE_ID to use the stored session)");
  });

  test("login refuses through it too, before touching the config dir", async () => {
    const h = harness({ env: { DIFY_TOKEN: TOKEN, DIFY_HOST: BASE, DIFY_WORKSPACE_ID: "ws-1" } });
    const e = await login(h.make(fakeDify(new FakeClock(), []).fetch), loginOpts, new FakeClock()).catch((x) => x);
    expect(e.message).toBe("cannot log in while the session comes from the environment");
    expect(existsSync(h.dir)).toBe(false);
  });

  test("the subject rule: the surface check and the server's unsupported_token_type say the same", () => {
    for (const subject of ["account", "external_sso"] as const) {
      const other = subject === "account" ? "external_sso" : "account";
      const session = { source: "file", hostRef: { host: "h", baseUrl: "https://h", scheme: "https" }, bearer: SUBJECTS[subject].prefix + "x", tokenId: "t", subjectType: subject, meta: {}, workspaceId: null } as const;
      const local = (() => { try { checkSurface(session, other, "cmd"); } catch (x) { return x as CliError; } })()!;
      const server = errorForStatus(403, { message: "unsupported_token_type" }, { subjectType: subject });
      expect(local.message).toContain(SUBJECTS[subject].session);
      expect(server.message).toContain(SUBJECTS[subject].session);
      expect(local.hint).toBe(server.hint!);
    }
  });

  test("one storage notice: the probe's line, with the plain-text remark the first time, never a second notice", () => {
    const info = "info: OS keychain unavailable; token will be stored in /c/tokens.yml (0600).";
    const both = storageNotice([info], "/c/tokens.yml");
    expect(both.split("\n")[0]).toBe(info);
    expect(both.split("\n").filter((l) => /^(info|note|warning):/.test(l))).toHaveLength(1);
    expect(both).toContain("plain text in that file");
    expect(storageNotice([info], null)).toBe(info + "\n");
    expect(storageNotice([], "/c/tokens.yml")).toMatch(/^note: the token is stored in plain text in \/c\/tokens\.yml \(mode 0600\): .*\n$/);
    expect(storageNotice([], null)).toBe("");
  });
});

// kill -9 the binary at random points of login, logout, `auth use` and 401 clearing,
// then check the config dir: it parses, holds the old session or the new one and never a mix,
// and whatever debris the kill left (temp files, the lock, an orphan token entry) is gone after
// the next run. Seeded: DIFYCTL_SEED=<n> replays the same operations and kill delays.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { KeychainTokenStore, type KeyringOps } from "../src/storage/keychain-store.ts";
import { EMAILS, type FakeServer, type RecordedRequest, startFakeServer } from "./fake/server.ts";
import { baseEnv, tempDir } from "./helpers.ts";
import {
  banner, debris, hasCommand, keychainAvailable, keychainCleanup, loadKeychain, MintLog, outputProblems, readDir, report, type Rng, scale, sessionOf, type SessionView, spawnCli, type SpawnResult,
} from "./stress/lib.ts";

const LANES = scale(4, 6);
const KILLS = scale(120, 1500);
const MAX_OPS_PER_LANE = Math.ceil((KILLS / LANES) * 3);

type OpKind = "login" | "logout" | "use" | "expire401";
interface Op { kind: OpKind; server?: FakeServer; as?: string; workspace?: string; command?: string[] }

const servers: FakeServer[] = [];
const keychainHosts: string[] = [];
afterAll(async () => {
  // The Secret Service is shared with the keychain suites: leave nothing of ours in it.
  if (keychainHosts.length) keychainCleanup(keychainHosts);
  await Promise.all(servers.map((s) => s.close()));
});

/** The authenticated command whose 401 clears the session, for this kind of session (if any exists yet). */
function command401(subject: string): string[] | null {
  const candidates = subject === "account"
    ? [["get", "apps"], ["auth", "devices", "list"], ["get", "app", "c0000000-0000-4000-8000-000000000001"]]
    : [["get", "permitted-external-apps"]];
  for (const c of candidates) {
    const path = c[0] === "get" && c[1] === "app" ? c.slice(0, 2) : c;
    if (hasCommand(...path)) return c;
  }
  return null;
}

// Calibration: how long each kind of operation runs, and how long from its last request to exit.
const durations = new Map<OpKind, number[]>();
const tails = new Map<OpKind, number[]>();
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] ?? 0;
const calibrated = (k: OpKind) => (durations.get(k)?.length ?? 0) >= 3;

interface Figures { ops: number; killsDelivered: number; killsSurvived: number; completedUnkilled: number; targeted: number; debrisSeen: number; recoveries: number; statusChecks: number }
const fig: Figures = { ops: 0, killsDelivered: 0, killsSurvived: 0, completedUnkilled: 0, targeted: 0, debrisSeen: 0, recoveries: 0, statusChecks: 0 };
const failures: string[] = [];

class Lane {
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly mints = new MintLog();
  readonly hosts = new Map<string, FakeServer>();
  readonly s: FakeServer[] = [];
  private listeners: ((r: RecordedRequest) => void)[] = [];
  model: SessionView | null = null;

  constructor(readonly id: number, readonly rng: Rng, readonly storage: "file" | "keychain" = "file") {
    this.dir = join(tempDir("difyctl-crash-"), "cfg");
    this.env = baseEnv(this.dir, storage === "file"
      ? { DIFY_TOKEN_STORAGE: "file" }
      : { DIFY_TOKEN_STORAGE: "keychain", DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS });
  }

  /** The dir (and, in keychain mode, this lane's keychain entries) as one state, plus the debris. */
  private state(): { st: ReturnType<typeof readDir>; left: string[] } {
    const st = readDir(this.dir);
    const kc = this.storage === "keychain" ? loadKeychain(st, [...this.hosts.keys()]) : [];
    return { st, left: [...debris(st), ...kc] };
  }

  async start(): Promise<void> {
    for (let i = 0; i < 2; i++) {
      const s = await startFakeServer({
        interval: 0.05, slowDownWindowMs: 10, autoApprove: { afterPolls: 1 },
        codeRateLimitPerHour: 0, rateLimitPerToken: 0, accountRateLimitPerMinute: 0,
      });
      servers.push(s);
      this.s.push(s);
      this.mints.watch(s);
      this.hosts.set(new URL(s.url).host, s);
      if (this.storage === "keychain") keychainHosts.push(new URL(s.url).host);
      const push = s.requests.push.bind(s.requests);
      s.requests.push = (...items: RecordedRequest[]) => {
        for (const r of items) for (const l of [...this.listeners]) l(r);
        return push(...items);
      };
    }
  }

  /** Resolves (with 0) when a request matching `pred` arrives at either server. */
  private when(pred: (r: RecordedRequest) => boolean): { promise: Promise<number>; at: () => number | null; cancel: () => void } {
    let at: number | null = null;
    let resolve!: (n: number) => void;
    const promise = new Promise<number>((r) => (resolve = r));
    const l = (r: RecordedRequest) => {
      if (at === null && pred(r)) { at = performance.now(); resolve(0); }
    };
    this.listeners.push(l);
    return { promise, at: () => at, cancel: () => { this.listeners = this.listeners.filter((x) => x !== l); } };
  }

  private fail(msg: string, r?: SpawnResult): void {
    failures.push(`[lane ${this.id}] ${msg}${r ? ` (exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 300))})` : ""}`);
  }

  pickOp(): Op {
    const rng = this.rng;
    const loggedIn = this.model !== null;
    const roll = rng.next();
    if (!loggedIn && roll < 0.75) return this.loginOp();
    if (roll < 0.45) return this.loginOp();
    if (roll < 0.65) return { kind: "logout" };
    if (roll < 0.82 && hasCommand("auth", "use") && this.model?.subject === "account") {
      const acct = this.s[0]!.accounts.find((a) => a.email === this.model!.who)!;
      return { kind: "use", workspace: rng.pick(acct.memberships).workspaceId };
    }
    const cmd = this.model ? command401(this.model.subject) : null;
    if (cmd) return { kind: "expire401", command: cmd };
    return rng.chance(0.5) ? { kind: "logout" } : this.loginOp();
  }

  loginOp(): Op {
    return { kind: "login", server: this.rng.pick(this.s), as: this.rng.pick([EMAILS.gareth, EMAILS.gareth, EMAILS.alice, "sso"]) };
  }

  argsFor(op: Op): string[] {
    switch (op.kind) {
      case "login": return ["auth", "login", "--host", op.server!.url, "--insecure", "--no-browser", "--json"];
      case "logout": return ["auth", "logout", "--json"];
      case "use": return ["auth", "use", op.workspace!, "--json"];
      case "expire401": return [...op.command!, "--json"];
    }
  }

  triggerFor(op: Op): (r: RecordedRequest) => boolean {
    switch (op.kind) {
      case "login": return (r) => r.path.endsWith("/oauth/device/token");
      case "logout": return (r) => r.method === "DELETE" && r.path.endsWith("/account/sessions/self");
      default: return (r) => r.path.startsWith("/openapi/v1/") && !r.path.includes("/oauth/");
    }
  }

  /** Runs one operation, maybe killed; then checks the directory. */
  async step(forceNoKill = false): Promise<void> {
    const op = forceNoKill ? this.loginOp() : this.pickOp();
    fig.ops++;
    const before = this.model;
    const mintsBefore = new Set(this.mints.byId.keys());
    if (op.kind === "login") op.server!.setOption({ autoApprove: { afterPolls: 1, as: op.as } });
    if (op.kind === "expire401" && before) this.mints.byId.get(before.tokenId)?.server.revoke(before.tokenId);

    const kill = !forceNoKill && calibrated(op.kind);
    const targeted = kill && (tails.get(op.kind)?.length ?? 0) >= 3 && this.rng.chance(0.5);
    const trig = this.when(this.triggerFor(op));
    let killAfterMs: number | undefined;
    if (kill) {
      killAfterMs = targeted ? this.rng.range(0, median(tails.get(op.kind)!) * 1.3) : this.rng.range(0, median(durations.get(op.kind)!) * 1.1);
    }
    const r = await spawnCli(this.argsFor(op), {
      env: this.env, timeoutMs: 20_000, killAfterMs, killTrigger: targeted ? trig.promise : undefined,
    });
    const exitAt = performance.now();
    trig.cancel();
    if (targeted) fig.targeted++;
    if (!r.killed) {
      fig.completedUnkilled++;
      if (!kill) {
        durations.set(op.kind, [...(durations.get(op.kind) ?? []), r.elapsedMs]);
        const at = trig.at();
        if (at !== null) tails.set(op.kind, [...(tails.get(op.kind) ?? []), exitAt - at]);
      }
      for (const p of outputProblems(r, { json: true })) this.fail(`${op.kind}: ${p}`, r);
    } else fig.killsDelivered++;

    // ---- the directory after the run
    const { st, left } = this.state();
    const view = sessionOf(st, this.mints, this.hosts);
    let ok = st.problems.length === 0;
    for (const p of st.problems) this.fail(`${op.kind}${r.killed ? " (killed)" : ""}: ${p}`);
    const newMint = view !== null && !mintsBefore.has(view.tokenId);
    const same = (a: SessionView | null, b: SessionView | null) => (a === null ? b === null : b !== null && a.tokenId === b.tokenId);
    let allowed: boolean;
    switch (op.kind) {
      case "login": {
        const isNew = newMint && view!.host === new URL(op.server!.url).host && (op.as === "sso" ? view!.subject === "external_sso" : view!.who === op.as);
        allowed = r.killed ? same(view, before) || isNew : isNew && r.code === 0;
        break;
      }
      case "logout":
        allowed = r.killed ? same(view, before) || view === null : view === null && r.code === (before ? 0 : 4);
        break;
      case "use": {
        const sameToken = same(view, before);
        allowed = sameToken && (r.killed ? view!.workspace === before!.workspace || view!.workspace === op.workspace : view!.workspace === op.workspace && r.code === 0);
        break;
      }
      case "expire401":
        allowed = r.killed ? same(view, before) || view === null : view === null && r.code === 4;
        break;
    }
    if (!allowed && st.problems.length === 0) {
      ok = false;
      this.fail(`${op.kind}${r.killed ? ` (killed after ${killAfterMs?.toFixed(1)} ms${targeted ? " past the trigger" : ""})` : ""}: before ${JSON.stringify(before)}, after ${JSON.stringify(view)}`, r);
    }

    // ---- a reader sees the same thing
    const status = await spawnCli(["auth", "status", "--json"], { env: this.env, timeoutMs: 10_000 });
    fig.statusChecks++;
    const expectCode = view ? 0 : 4;
    if (status.code !== expectCode) { ok = false; this.fail(`status after ${op.kind}: exit ${status.code}, expected ${expectCode}`, status); }
    else {
      try {
        const j = JSON.parse(status.stdout);
        if (view && j.host !== view.host) { ok = false; this.fail(`status shows ${j.host}, files say ${view.host}`); }
      } catch { ok = false; this.fail(`status --json printed no JSON: ${status.stdout.slice(0, 200)}`); }
    }
    if (r.killed && ok) fig.killsSurvived++;
    this.model = view;

    // ---- debris must not outlive the next run
    if (left.length) {
      if (!r.killed) this.fail(`${op.kind} completed but left ${left.join(", ")}`);
      else {
        fig.debrisSeen++;
        fig.recoveries++;
        await this.step(true);
        const after = this.state().left;
        if (after.length) this.fail(`debris survived the next run: ${after.join(", ")} (left by a kill during ${op.kind})`);
      }
    }
  }
}

describe("crash safety: kill -9 at random points", () => {
  test(`${KILLS} kills across login, logout, auth use and 401 clearing leave old-or-new, never a mix`, async () => {
    const rng = banner("reliability-crash");
    // With a Secret Service on the bus (npm test, npm run stress) one lane keeps its tokens in the keychain.
    const keychain = keychainAvailable();
    const lanes = Array.from({ length: LANES }, (_, i) => new Lane(i, rng.fork(i), keychain && i === 0 ? "keychain" : "file"));
    console.log(`[crash] keychain lane: ${keychain ? "yes" : "no (no Secret Service on the session bus)"}`);
    await Promise.all(lanes.map((l) => l.start()));
    const t0 = performance.now();
    await Promise.all(lanes.map(async (lane) => {
      for (let i = 0; i < MAX_OPS_PER_LANE && fig.killsDelivered < KILLS && failures.length < 20; i++) await lane.step();
    }));
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const ops = ["login", "logout", "use", "expire401"].map((k) => `${k}: ~${Math.round(median(durations.get(k as OpKind) ?? []))} ms`).join(", ");
    console.log(`[crash] ${secs}s; op durations ${ops}; auth use ${hasCommand("auth", "use") ? "present" : "absent"}; 401 command ${command401("account")?.join(" ") ?? "absent"}`);
    report("crash", { kills_survived: fig.killsSurvived, kills_run: fig.killsDelivered, ...fig, failures: failures.length, seconds: Number(secs) });
    if (failures.length) console.log(failures.slice(0, 20).join("\n"));
    expect(failures).toEqual([]);
    expect(fig.killsDelivered).toBeGreaterThanOrEqual(KILLS);
    expect(fig.killsSurvived).toBe(fig.killsDelivered);
    expect(fig.targeted).toBeGreaterThan(0);
  }, scale(60_000, 900_000));
});

describe("crash safety of the keychain store (one entry per host)", () => {
  /** An in-memory keyring that can "crash" the process after any number of calls. */
  function keyring(): KeyringOps & { entries: Map<string, string> } {
    const entries = new Map<string, string>();
    return {
      entries,
      get: async (a) => entries.get(a) ?? null,
      set: async (a, v) => { entries.set(a, v); },
      delete: async (a) => entries.delete(a),
    };
  }
  const cred = (id: string) => ({ bearer: `dfoa_${id.padEnd(43, "x")}`, source: "oauth" as const, token_id: id, expires_at: null });

  test("a re-login killed between storing its token and committing hosts.yml keeps the old session", async () => {
    const k = keyring();
    const store = new KeychainTokenStore(k);
    await store.put("h", cred("old"));
    await store.prune("h", { host: "h", tokenId: "old" });
    // The new login stores its token…
    await store.put("h", cred("new"));
    // …and is killed: hosts.yml still names "old", which must still resolve.
    expect(await store.get("h", "old")).toEqual(cred("old"));
    // Had it committed, "new" resolves; the prune after the commit drops the carried old token.
    expect(await store.get("h", "new")).toEqual(cred("new"));
    await store.prune("h", { host: "h", tokenId: "new" });
    expect(await store.get("h", "old")).toBeNull();
    expect(JSON.parse(k.entries.get("h")!)).toEqual({ bearer: cred("new").bearer, source: "oauth", token_id: "new", expires_at: null });
    // Logout removes everything.
    await store.prune("h", null);
    expect(k.entries.size).toBe(0);
  });
});

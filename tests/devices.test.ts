// auth devices: command logic runs in-process (runInProcess, the binary's router); sign-in and the
// terminal prompt (a pty) use the compiled binary, as does tests/binary-smoke.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type DeviceSession, devicesTable, parseSessionsPage, resolveDevice, resolutionError, safeLabel } from "../src/auth/devices.ts";
import { relativeTime, shortDate } from "../src/ui/relative-time.ts";
import { type FakeServer, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, login, run, runInProcess, tempDir, serverPool } from "./helpers.ts";

const row = (id: string, label: string, created = "2026-03-15T10:00:00.123456Z"): DeviceSession => ({
  id, prefix: "dfoa_", client_id: "difyctl", device_label: label, created_at: created, last_used_at: null, expires_at: null,
});

describe("relative time and dates (unit)", () => {
  const now = Date.parse("2026-06-01T12:00:00Z");
  test("buckets", () => {
    expect(relativeTime(null, now)).toBe("never");
    expect(relativeTime("2026-06-01T11:59:30Z", now)).toBe("just now");
    expect(relativeTime("2026-06-01T11:55:00Z", now)).toBe("5m ago");
    expect(relativeTime("2026-05-31T19:00:00Z", now)).toBe("17h ago");
    expect(relativeTime("2026-02-23T12:00:00Z", now)).toBe("98d ago");
    expect(relativeTime("garbage", now)).toBe("unknown");
  });
  test("a timestamp ahead of the local clock (skew) reads as just now, never negative", () => {
    expect(relativeTime("2026-06-01T12:03:00Z", now)).toBe("just now");
  });
  test("dates are local YYYY-MM-DD", () => {
    const d = new Date(2026, 2, 15, 12, 0, 0);
    expect(shortDate(d.toISOString())).toBe("2026-03-15");
    expect(shortDate(null)).toBe("-");
  });
});

describe("device resolution (unit)", () => {
  const list = [
    row("11111111-1111-4111-8111-111111111111", "difyctl on gareth-mbp"),
    row("22222222-2222-4222-8222-222222222222", "difyctl on ci-runner-01"),
    row("33333333-3333-4333-8333-333333333333", "difyctl on ci-runner-02"),
    row("44444444-4444-4444-8444-444444444444", "difyctl on old-thinkpad"),
  ];
  test("exact label wins over a substring that would be ambiguous", () => {
    const withPrefix = [...list, row("55555555-5555-4555-8555-555555555555", "difyctl on ci-runner-01-old")];
    const r = resolveDevice(withPrefix, "difyctl on ci-runner-01");
    expect(r).toEqual({ kind: "one", session: withPrefix[1] });
  });
  test("id, case-insensitive", () => {
    expect(resolveDevice(list, "44444444-4444-4444-8444-444444444444")).toEqual({ kind: "one", session: list[3] });
    expect(resolveDevice(list, "44444444-4444-4444-8444-444444444444".toUpperCase())).toEqual({ kind: "one", session: list[3] });
  });
  test("unique case-insensitive substring", () => {
    expect(resolveDevice(list, "THINKPAD")).toEqual({ kind: "one", session: list[3] });
  });
  test("ambiguous substring lists only the candidates", () => {
    const r = resolveDevice(list, "ci-runner");
    expect(r.kind).toBe("ambiguous");
    const e = resolutionError("ci-runner", r, list);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('"difyctl on ci-runner-01" (22222222-2222-4222-8222-222222222222)');
    expect(e.message).toContain("ci-runner-02");
    expect(e.message).not.toContain("thinkpad");
  });
  test("two sessions with the same exact label are ambiguous, not first-wins", () => {
    const dup = [row("a1111111-1111-4111-8111-111111111111", "same"), row("a2222222-2222-4222-8222-222222222222", "same")];
    expect(resolveDevice(dup, "same").kind).toBe("ambiguous");
  });
  test("no match names every session; an id prefix is not a match", () => {
    expect(resolveDevice(list, "4444").kind).toBe("none");
    const e = resolutionError("nope", resolveDevice(list, "nope"), list);
    expect(e.message).toContain("no session matches 'nope'");
    expect(e.message).toContain("old-thinkpad");
    expect(resolveDevice(list, "   ").kind).toBe("none");
  });
  test("hostile labels cannot reach the terminal raw", () => {
    expect(safeLabel("evil\u001b[2Jhost\u202e")).toBe("evil?[2Jhost?");
    expect(safeLabel("")).toBe("(no label)");
  });
  test("table: header, current marker, never-used", () => {
    const t = devicesTable(list.slice(0, 2), { currentId: list[0].id, now: Date.parse("2026-03-16T10:00:00Z") });
    const lines = t.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^DEVICE\s+ID\s+CREATED\s+LAST USED\s+CURRENT$/);
    expect(lines[1]).toMatch(new RegExp(`^difyctl on gareth-mbp\\s+${list[0].id}\\s+2026-03-1\\d\\s+never\\s+\\*$`));
    expect(lines[2]).toMatch(new RegExp(`^difyctl on ci-runner-01\\s+${list[1].id}\\s+2026-03-1\\d\\s+never$`));
  });
  test("page parsing: rows without id skipped, has_more honoured, malformed body refused", () => {
    const p = parseSessionsPage({ has_more: true, data: [{ id: "x", device_label: "a" }, { device_label: "no id" }] }, 200);
    expect(p.rows.map((r) => r.id)).toEqual(["x"]);
    expect(p.hasMore).toBe(true);
    expect(parseSessionsPage({ has_more: true, data: [] }, 200).hasMore).toBe(false);
    expect(() => parseSessionsPage({ sessions: [] }, 200)).toThrow(/not in the expected format/);
  });
});

// ── end to end ──────────────────────────────────────────────────────────────────────────────

const pool = serverPool();
const server = pool.start;
afterAll(async () => { await pool.closeAll(); });

const deletes = (s: FakeServer) => s.requests.filter((r) => r.method === "DELETE");
const sessionGets = (s: FakeServer) => s.requests.filter((r) => r.method === "GET" && r.path.endsWith("/account/sessions"));
const liveIds = (s: FakeServer) => s.tokenRows().filter((r) => r.revokedAt === null).map((r) => r.id);

async function signedIn(opts: Parameters<typeof startFakeServer>[0] = {}): Promise<{ s: FakeServer; dir: string; env: Record<string, string>; tokenId: string }> {
  const s = await server(opts);
  const dir = join(tempDir(), "cfg");
  const r = await login(s.url, dir);
  expect(r.code).toBe(0);
  const tokenId = /token_id: (\S+)/.exec(readFileSync(join(dir, "hosts.yml"), "utf8"))![1];
  return { s, dir, env: baseEnv(dir), tokenId };
}

describe("auth devices list", () => {
  let c: Awaited<ReturnType<typeof signedIn>>;
  beforeAll(async () => {
    c = await signedIn();
    c.s.mintToken(undefined, "difyctl on ci-runner-01");
    c.s.mintToken(undefined, "difyctl on old-thinkpad");
    c.s.mintToken("alice@example.com", "difyctl on alice-laptop"); // another account: never listed
  });

  test("table with the current device starred and 'never' for last use", async () => {
    // Piped: the same rows, tab-separated, no header (DEVICE, ID, CREATED, LAST USED, CURRENT).
    const r = await runInProcess(["auth", "devices", "list"], { env: c.env });
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l.split("\t")).toHaveLength(5);
    const current = lines.filter((l) => l.endsWith("\t*"));
    expect(current).toHaveLength(1);
    expect(current[0]).toMatch(new RegExp(`^difyctl on \\S+\\t${c.tokenId}\\t\\d{4}-\\d\\d-\\d\\d\\tnever\\t\\*$`));
    expect(r.stdout).toContain("difyctl on old-thinkpad");
    expect(r.stdout).not.toContain("alice");
    const q = sessionGets(c.s).at(-1)!;
    expect(q.query).toEqual({ page: "1", limit: "200" });
    expect(q.headers.authorization).toMatch(/^Bearer dfoa_/);
  });

  test("--json prints the array of sessions with the current flag", async () => {
    const r = await runInProcess(["auth", "devices", "list", "--json"], { env: c.env });
    expect(r.code).toBe(0);
    const arr = JSON.parse(r.stdout) as (DeviceSession & { current: boolean })[];
    expect(arr).toHaveLength(3);
    expect(arr.filter((x) => x.current).map((x) => x.id)).toEqual([c.tokenId]);
    expect(arr[0]).toMatchObject({ prefix: "dfoa_", client_id: "difyctl", last_used_at: null });
    expect(arr[0].created_at).toMatch(/Z$/);
    expect(r.stdout).not.toMatch(/dfoa_[A-Za-z0-9_-]{10}/);
  });

  test("all pages are merged, and a page shifted by a new session does not duplicate rows", async () => {
    const page = (n: number, ids: string[], hasMore: boolean) => ({
      status: 200, body: { page: n, limit: 200, total: 3, has_more: hasMore, data: ids.map((id) => ({ id, prefix: "dfoa_", client_id: "difyctl", device_label: `dev ${id}`, created_at: "2026-03-15T10:00:00Z", last_used_at: null, expires_at: "2026-03-29T10:00:00Z" })) },
    });
    c.s.faults.add({ match: { method: "GET", path: "/account/sessions" }, respond: page(1, ["p1", "p2"], true) });
    c.s.faults.add({ match: { method: "GET", path: "/account/sessions" }, respond: page(2, ["p2", "p3"], false) });
    const before = sessionGets(c.s).length;
    const r = await runInProcess(["auth", "devices", "list", "--json"], { env: c.env });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as DeviceSession[]).map((x) => x.id)).toEqual(["p1", "p2", "p3"]);
    expect(sessionGets(c.s).slice(before).map((q) => q.query.page)).toEqual(["1", "2"]);
  });

  test("a server that always says has_more is cut off at the page guard with a warning", async () => {
    c.s.faults.add({
      match: { method: "GET", path: "/account/sessions" }, times: -1,
      respond: { status: 200, body: { page: 1, limit: 200, total: 99999, has_more: true, data: [{ id: "loop", device_label: "loop", created_at: null, last_used_at: null, expires_at: null }] } },
    });
    const before = sessionGets(c.s).length;
    const r = await runInProcess(["auth", "devices", "list", "--json"], { env: c.env });
    c.s.faults.clear();
    expect(r.code).toBe(0);
    expect(sessionGets(c.s).length - before).toBe(100);
    expect(r.stderr).toContain("stopped after 100 pages");
    expect(JSON.parse(r.stdout)).toHaveLength(1);
  }, 30_000);

  test("not logged in → exit 4 before any request", async () => {
    const before = c.s.requests.length;
    const r = await runInProcess(["auth", "devices", "list", "--json"], { env: baseEnv(join(tempDir(), "empty")) });
    expect(r.code).toBe(4);
    expect(envelope(r.stderr).code).toBe("not_logged_in");
    expect(c.s.requests.length).toBe(before);
  });

  test("an external SSO session is refused by a June server: explained in words", async () => {
    const s = await server({ autoApprove: { afterPolls: 1, as: "sso" } });
    const dir = join(tempDir(), "cfg");
    expect((await login(s.url, dir)).code).toBe(0);
    const r = await runInProcess(["auth", "devices", "list"], { env: baseEnv(dir) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("does not let external SSO sessions list or revoke devices");
    expect(existsSync(join(dir, "tokens.yml"))).toBe(true); // a 403 never clears the session
  });
});

describe("auth devices revoke", () => {
  test("by exact label, by id, by unique substring: one DELETE each, one line each", async () => {
    const c = await signedIn();
    const a = c.s.mintToken(undefined, "difyctl on old-thinkpad");
    const b = c.s.mintToken(undefined, "difyctl on ci-runner-01");
    const d = c.s.mintToken(undefined, "difyctl on build-box");
    let r = await runInProcess(["auth", "devices", "revoke", "difyctl on old-thinkpad"], { env: c.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Revoked: difyctl on old-thinkpad\n");
    r = await runInProcess(["auth", "devices", "revoke", b.tokenId], { env: c.env });
    expect(r.stdout).toBe("Revoked: difyctl on ci-runner-01\n");
    r = await runInProcess(["auth", "devices", "revoke", "BUILD", "--json"], { env: c.env });
    expect(JSON.parse(r.stdout)).toEqual({ revoked: [{ id: d.tokenId, device_label: "difyctl on build-box", current: false }], not_found: [] });
    expect(deletes(c.s).map((q) => q.path.split("/").pop())).toEqual([a.tokenId, b.tokenId, d.tokenId]);
    expect(liveIds(c.s)).toEqual([c.tokenId]);
    expect((await runInProcess(["auth", "status"], { env: c.env })).code).toBe(0); // still signed in here
  });

  test("ambiguous and unknown targets exit 2 with candidates, and nothing is deleted", async () => {
    const c = await signedIn();
    c.s.mintToken(undefined, "difyctl on ci-runner-01");
    c.s.mintToken(undefined, "difyctl on ci-runner-02");
    let r = await runInProcess(["auth", "devices", "revoke", "ci-runner"], { env: c.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'ci-runner' matches 2 sessions");
    expect(r.stderr).toContain("difyctl on ci-runner-01");
    expect(r.stderr).toContain("difyctl on ci-runner-02");
    r = await runInProcess(["auth", "devices", "revoke", "laptop", "--json"], { env: c.env });
    expect(r.code).toBe(2);
    const e = envelope(r.stderr) as { code: string; message: string; details?: { candidates: unknown[] } };
    expect(e.code).toBe("usage_invalid_flag");
    expect(e.message).toContain("no session matches 'laptop'");
    expect(e.details?.candidates).toHaveLength(3);
    expect(deletes(c.s)).toHaveLength(0);
  });

  test("revoking this device's own session behaves like logout", async () => {
    const c = await signedIn();
    const r = await runInProcess(["auth", "devices", "revoke", c.tokenId], { env: c.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Revoked: difyctl on \S+ \(this device\); logged out of 127\.0\.0\.1:\d+\n$/);
    expect(deletes(c.s).map((q) => q.path.split("/").pop())).toEqual([c.tokenId]);
    expect(liveIds(c.s)).toEqual([]);
    expect(existsSync(join(c.dir, "tokens.yml"))).toBe(false);
    expect(readFileSync(join(c.dir, "hosts.yml"), "utf8")).not.toContain("token_id");
    expect((await runInProcess(["auth", "status"], { env: c.env })).code).toBe(4);
  });

  test("server 404 (revoked elsewhere meanwhile) → a clear 'not found', exit 1", async () => {
    const c = await signedIn();
    const a = c.s.mintToken(undefined, "difyctl on old-thinkpad");
    c.s.faults.add({ match: { method: "DELETE", path: "/account/sessions/" }, respond: { status: 404, body: { code: "not_found", message: "session not found", status: 404 } } });
    const r = await runInProcess(["auth", "devices", "revoke", "old-thinkpad", "--json"], { env: c.env });
    expect(r.code).toBe(1);
    const e = envelope(r.stderr);
    expect(e.message).toContain("not found");
    expect(e.message).toContain(a.tokenId);
    expect(e.http_status).toBe(404);
  });

  test("neither a target nor --all → usage_missing_arg; both → usage error; no request", async () => {
    const c = await signedIn();
    const before = c.s.requests.length;
    let r = await runInProcess(["auth", "devices", "revoke", "--json"], { env: c.env });
    expect(r.code).toBe(2);
    expect(envelope(r.stderr).code).toBe("usage_missing_arg");
    r = await runInProcess(["auth", "devices", "revoke", "x", "--all", "--yes"], { env: c.env });
    expect(r.code).toBe(2);
    expect(c.s.requests.length).toBe(before);
  });

  test("--all off a terminal without --yes refuses before any request", async () => {
    const c = await signedIn();
    c.s.mintToken(undefined, "difyctl on other");
    const before = c.s.requests.length;
    const r = await runInProcess(["auth", "devices", "revoke", "--all", "--json"], { env: c.env, stdin: "y\n" });
    expect(r.code).toBe(2);
    const e = envelope(r.stderr);
    expect(e.code).toBe("usage_missing_arg");
    expect(e.hint).toContain("--yes");
    expect(c.s.requests.length).toBe(before);
    expect(deletes(c.s)).toHaveLength(0);
    expect(liveIds(c.s)).toHaveLength(2);
  });

  test("--all --yes revokes every session but this one, one line each", async () => {
    const c = await signedIn();
    c.s.mintToken(undefined, "difyctl on one");
    c.s.mintToken(undefined, "difyctl on two");
    const r = await runInProcess(["auth", "devices", "revoke", "--all", "--yes"], { env: c.env });
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split("\n").sort()).toEqual(["Revoked: difyctl on one", "Revoked: difyctl on two"]);
    expect(deletes(c.s)).toHaveLength(2);
    expect(deletes(c.s).some((q) => q.path.endsWith(c.tokenId) || q.path.endsWith("/self"))).toBe(false);
    expect(liveIds(c.s)).toEqual([c.tokenId]);
    const again = await runInProcess(["auth", "devices", "revoke", "--all", "--yes"], { env: c.env });
    expect(again.stdout).toBe("No other sessions to revoke.\n");
  });

  test("--all: a 5xx stops the run and reports how far it got", async () => {
    const c = await signedIn();
    c.s.mintToken(undefined, "difyctl on one");
    c.s.mintToken(undefined, "difyctl on two");
    c.s.faults.add({ match: { method: "DELETE" }, respond: { status: 503, body: { code: "unknown", message: "Internal Server Error", status: 503 } } });
    const r = await runInProcess(["auth", "devices", "revoke", "--all", "--yes", "--json"], { env: c.env });
    expect(r.code).toBe(1);
    const e = envelope(r.stderr);
    expect(e.code).toBe("server_5xx");
    expect(e.message).toContain("revoked 0 of 2 sessions");
    expect(deletes(c.s)).toHaveLength(1); // not retried, not continued
    expect(existsSync(join(c.dir, "tokens.yml"))).toBe(true);
  });

  test("--all on a terminal asks first; 'n' sends no DELETE, 'y' revokes", async () => {
    const c = await signedIn();
    c.s.mintToken(undefined, "difyctl on other");
    const viaPty = (answer: string) =>
      run(["-qec", `'${process.cwd()}/dist/difyctl' auth devices revoke --all`, "/dev/null"], { env: c.env, stdin: answer, bin: "script" });
    let r = await viaPty("n\n");
    expect(r.stdout).toContain("Revoke 1 session (every one but this device)? [y/N]");
    expect(r.stdout).toContain("difyctl on other");
    expect(r.code).toBe(130);
    expect(deletes(c.s)).toHaveLength(0);
    r = await viaPty("y\n");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Revoked: difyctl on other");
    expect(deletes(c.s)).toHaveLength(1);
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type CacheEntry, COMPAT_CACHE_TTL_MS, type CompatDeps, describeRange, ensureCompatible, fileCache, inSupportedRange, parseVersion,
  type Probe, SUPPORTED_SERVER_RANGE,
} from "../src/http/compat.ts";
import { CliError } from "../src/cli/errors.ts";
import { type FakeServer, startFakeServer } from "./fake/server.ts";
import { baseEnv, envelope, FAST, login, run, signedIn, tempDir } from "./helpers.ts";

describe("version parsing and range (unit)", () => {
  test("parse", () => {
    expect(parseVersion("1.14.2")).toEqual([1, 14, 2]);
    expect(parseVersion("v1.14")).toEqual([1, 14, 0]);
    expect(parseVersion("1.15.0-rc1")).toEqual([1, 15, 0]);
    expect(parseVersion("1.14.0+ee.3")).toEqual([1, 14, 0]);
    expect(parseVersion("latest")).toBeNull();
    expect(parseVersion("")).toBeNull();
  });
  test("range is min-inclusive, upper-exclusive; unreadable is 'unknown'", () => {
    expect(describeRange()).toBe(`>=${SUPPORTED_SERVER_RANGE.min} <${SUPPORTED_SERVER_RANGE.below}`);
    expect(inSupportedRange(SUPPORTED_SERVER_RANGE.min)).toBe(true);
    expect(inSupportedRange(SUPPORTED_SERVER_RANGE.below)).toBe(false);
    expect(inSupportedRange("1.13.9")).toBe(false);
    expect(inSupportedRange("1.99.99")).toBe(true);
    expect(inSupportedRange("nightly")).toBeNull();
  });
});

function deps(probe: Probe, cache: CacheEntry | null, now = 10 * COMPAT_CACHE_TTL_MS) {
  const written: CacheEntry[] = [];
  let probes = 0;
  const d: CompatDeps = {
    probe: async () => { probes++; return probe; },
    readCache: () => cache,
    writeCache: (e) => { written.push(e); },
    now: () => now,
  };
  return { d, written, probes: () => probes };
}

async function skew(p: Promise<void>): Promise<CliError | null> {
  try { await p; return null; } catch (e) { return e as CliError; }
}

describe("ensureCompatible (unit)", () => {
  const K = "https://h";
  const now = 10 * COMPAT_CACHE_TTL_MS;
  test("a fresh cached pass skips the probe", async () => {
    const t = deps({ kind: "version", version: "0.1.0" }, { key: K, checked_at: now - COMPAT_CACHE_TTL_MS + 1000, version: "1.14.0" });
    expect(await skew(ensureCompatible(K, "h", t.d))).toBeNull();
    expect(t.probes()).toBe(0);
  });
  test("an hour-old, future-dated or other-host entry is not trusted", async () => {
    for (const c of [
      { key: K, checked_at: now - COMPAT_CACHE_TTL_MS, version: "1.14.0" },
      { key: K, checked_at: now + 60_000, version: "1.14.0" },
      { key: "https://other", checked_at: now, version: "1.14.0" },
    ]) {
      const t = deps({ kind: "version", version: "1.14.0" }, c);
      await ensureCompatible(K, "h", t.d);
      expect(t.probes()).toBe(1);
      expect(t.written).toEqual([{ key: K, checked_at: now, version: "1.14.0" }]);
    }
  });
  test("a cached version this build does not support is probed again", async () => {
    const t = deps({ kind: "version", version: "1.14.0" }, { key: K, checked_at: now, version: "1.2.0" });
    await ensureCompatible(K, "h", t.d);
    expect(t.probes()).toBe(1);
  });
  test("outside the range → version_skew exit 6 naming both versions; not cached", async () => {
    const t = deps({ kind: "version", version: "1.9.0" }, null);
    const e = (await skew(ensureCompatible(K, "dify.example.com", t.d)))!;
    expect([e.code, e.exitCode]).toEqual(["version_skew", 6]);
    expect(e.message).toBe(`the Dify server at dify.example.com runs version 1.9.0; this difyctl supports Dify ${describeRange()}`);
    expect(e.hint).toContain("upgrade the Dify server");
    expect(t.written).toEqual([]);
    const newer = deps({ kind: "version", version: "2.3.0" }, null);
    expect((await skew(ensureCompatible(K, "h", newer.d)))!.hint).toContain("upgrade difyctl");
  });
  test("no endpoint (404) passes and is cached; a failed probe passes and is not", async () => {
    const absent = deps({ kind: "absent" }, null);
    expect(await skew(ensureCompatible(K, "h", absent.d))).toBeNull();
    expect(absent.written).toEqual([{ key: K, checked_at: now, version: null }]);
    const unknown = deps({ kind: "unknown" }, null);
    expect(await skew(ensureCompatible(K, "h", unknown.d))).toBeNull();
    expect(unknown.written).toEqual([]);
  });
  test("a cache that cannot be written is not an error", async () => {
    const t = deps({ kind: "version", version: "1.14.0" }, null);
    t.d.writeCache = () => { throw new Error("EROFS"); };
    expect(await skew(ensureCompatible(K, "h", t.d))).toBeNull();
  });
  test("file cache round trip; garbage reads as a miss", async () => {
    const dir = join(tempDir(), "cache", "nested");
    const c = fileCache(dir);
    expect(await c.readCache(K)).toBeNull();
    c.writeCache({ key: K, checked_at: 5, version: "1.14.0" });
    expect(await c.readCache(K)).toEqual({ key: K, checked_at: 5, version: "1.14.0" });
    expect(await c.readCache("https://other")).toBeNull();
    const f = readdirSync(dir)[0];
    writeFileSync(join(dir, f), "{not json");
    expect(await c.readCache(K)).toBeNull();
  });
});

// ── end to end ──────────────────────────────────────────────────────────────────────────────

let s: FakeServer;
let dir: string;
beforeAll(async () => {
  ({ server: s, dir } = await signedIn());
});
afterAll(async () => { await s.close(); });

const probes = () => s.requests.filter((r) => r.path === "/openapi/v1/_version");
const sessionGets = () => s.requests.filter((r) => r.path.endsWith("/account/sessions"));
const freshCache = (extra: Record<string, string> = {}) => baseEnv(dir, { DIFY_CACHE_DIR: join(tempDir(), "cache"), ...extra });

describe("version skew through the binary", () => {
  test("checked once, unauthenticated, then cached for the host", async () => {
    s.setOption({ version: "1.14.0" });
    const env = freshCache();
    const p0 = probes().length;
    expect((await run(["auth", "devices", "list"], { env })).code).toBe(0);
    expect((await run(["auth", "devices", "list"], { env })).code).toBe(0);
    const got = probes().slice(p0);
    expect(got).toHaveLength(1);
    expect(got[0].headers.authorization).toBeUndefined();
    expect(readdirSync(env.DIFY_CACHE_DIR)).toHaveLength(1);
  });

  test("an entry older than an hour is probed again", async () => {
    const env = freshCache();
    expect((await run(["auth", "devices", "list"], { env })).code).toBe(0);
    const f = join(env.DIFY_CACHE_DIR, readdirSync(env.DIFY_CACHE_DIR)[0]);
    const entry = JSON.parse(readFileSync(f, "utf8"));
    writeFileSync(f, JSON.stringify({ ...entry, checked_at: entry.checked_at - COMPAT_CACHE_TTL_MS - 1 }));
    const p0 = probes().length;
    expect((await run(["auth", "devices", "list"], { env })).code).toBe(0);
    expect(probes().length - p0).toBe(1);
  });

  test("a server outside the range → version_skew exit 6 before any authenticated request", async () => {
    s.setOption({ version: "1.9.3" });
    const env = freshCache();
    const g0 = sessionGets().length;
    const r = await run(["auth", "devices", "list", "--json"], { env });
    expect(r.code).toBe(6);
    const e = envelope(r.stderr);
    expect(e.code).toBe("version_skew");
    expect(e.message).toContain("1.9.3");
    expect(e.message).toContain(describeRange());
    expect(sessionGets().length).toBe(g0);
    // Not cached as a failure: the upgraded server is accepted on the very next command.
    s.setOption({ version: "1.14.1" });
    expect((await run(["auth", "devices", "list"], { env })).code).toBe(0);
    s.setOption({ version: "2.0.0" });
    const newer = await run(["auth", "devices", "list"], { env: freshCache() });
    expect(newer.code).toBe(6);
    expect(newer.stderr).toContain("hint: upgrade difyctl");
    s.setOption({ version: "1.14.0" });
  });

  test("a server without the endpoint (404) passes; so does a failing probe", async () => {
    s.setOption({ version: null });
    expect((await run(["auth", "devices", "list"], { env: freshCache() })).code).toBe(0);
    s.setOption({ version: "1.0.0" });
    s.faults.add({ match: { path: "/_version" }, respond: { status: 502 } });
    expect((await run(["auth", "devices", "list"], { env: freshCache() })).code).toBe(0);
    s.setOption({ version: "1.14.0" });
  });

  test("a cache location that cannot be written is ignored", async () => {
    const blocker = join(tempDir(), "file");
    writeFileSync(blocker, "x");
    const env = baseEnv(dir, { DIFY_CACHE_DIR: join(blocker, "cache") }); // ENOTDIR, even for root
    const r = await run(["auth", "devices", "list"], { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });

  test("status and whoami stay offline: no version probe", async () => {
    const env = freshCache();
    const n = s.requests.length;
    expect((await run(["auth", "status"], { env })).code).toBe(0);
    expect((await run(["auth", "whoami"], { env })).code).toBe(0);
    expect(s.requests.length).toBe(n);
    mkdirSync(env.DIFY_CACHE_DIR, { recursive: true });
    expect(readdirSync(env.DIFY_CACHE_DIR)).toEqual([]);
  });
});

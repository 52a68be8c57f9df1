// Server version check: a server outside the supported range is version_skew (exit 6). The range is
// defined here and nowhere else. Only passing results are cached (an hour, per host), so an
// upgraded server is noticed on the next command and a working one costs one GET an hour.
import { readFileIfExistsAsync, writeFileAtomic } from "../storage/atomic-file.ts";
import { cacheDir } from "../storage/config-dir.ts";
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { HostRef } from "./host-url.ts";

/** Dify releases this difyctl is built for: min inclusive, below exclusive. */
export const SUPPORTED_SERVER_RANGE = { min: "1.14.0", below: "2.0.0" } as const;
export const COMPAT_CACHE_TTL_MS = 60 * 60 * 1000;

export function describeRange(r: { min: string; below: string } = SUPPORTED_SERVER_RANGE): string {
  return `>=${r.min} <${r.below}`;
}

/** "1.14.2", "v1.14.2-rc1", "1.14" → [1,14,2] / [1,14,0]; anything else → null. Pre-release tags are ignored. */
export function parseVersion(s: string): [number, number, number] | null {
  const m = /^\s*v?(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?(?:[-+.][0-9A-Za-z.+-]*)?\s*$/.exec(s);
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

function cmp(a: [number, number, number], b: [number, number, number]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/** true/false, or null when the version string cannot be read (then nothing is enforced). */
export function inSupportedRange(version: string, r: { min: string; below: string } = SUPPORTED_SERVER_RANGE): boolean | null {
  const v = parseVersion(version);
  if (!v) return null;
  return cmp(v, parseVersion(r.min)!) >= 0 && cmp(v, parseVersion(r.below)!) < 0;
}

/** What GET /openapi/v1/_version told us. */
export type Probe =
  | { kind: "version"; version: string }
  /** 404: a server from before the endpoint existed; let it through. */
  | { kind: "absent" }
  /** Network trouble or an odd answer: let the command itself report the problem. */
  | { kind: "unknown" };

export interface CacheEntry { key: string; checked_at: number; version: string | null }

export interface CompatDeps {
  probe(): Promise<Probe>;
  readCache(key: string): CacheEntry | null | Promise<CacheEntry | null>;
  writeCache(entry: CacheEntry): void;
  now(): number;
  debug?(line: string): void;
}

export function versionSkewError(host: string, version: string): CliError {
  const v = parseVersion(version);
  const tooOld = v !== null && cmp(v, parseVersion(SUPPORTED_SERVER_RANGE.min)!) < 0;
  return new CliError("version_skew", `the Dify server at ${host} runs version ${version}; this difyctl supports Dify ${describeRange()}`, {
    hint: tooOld ? "upgrade the Dify server, or use an older difyctl" : "upgrade difyctl (a newer release supports this server)",
    details: { server_version: version, supported_range: describeRange() },
  });
}

/** Throws version_skew when the server is known to be outside the range; otherwise returns. */
export async function ensureCompatible(key: string, host: string, deps: CompatDeps): Promise<void> {
  const now = deps.now();
  const cached = await deps.readCache(key);
  // A checked_at from the future (clock moved back) is not trusted.
  if (cached && cached.key === key && cached.checked_at <= now && now - cached.checked_at < COMPAT_CACHE_TTL_MS) {
    if (cached.version === null || inSupportedRange(cached.version) !== false) return;
  }
  const p = await deps.probe();
  if (p.kind === "unknown") {
    deps.debug?.("debug: server version probe failed; not enforcing the supported range");
    return;
  }
  const version = p.kind === "version" ? p.version : null;
  if (version !== null && inSupportedRange(version) === false) throw versionSkewError(host, version);
  try { deps.writeCache({ key, checked_at: now, version }); } catch { /* a read-only cache dir only costs a probe per command */ }
}

// ── Wiring: the real probe and the cache file. Everything above is testable without I/O. ──

const PROBE_TIMEOUT_MS = 3000;

function cachePath(dir: string, key: string): string {
  const h = new Bun.CryptoHasher("sha256").update(key).digest("hex").slice(0, 16);
  return `${dir}/server-version-${h}.json`;
}

export function fileCache(dir: string): Pick<CompatDeps, "readCache" | "writeCache"> {
  return {
    // Read without node:fs: this runs before every get/run, and loading it costs ~1 ms (measured).
    async readCache(key) {
      try {
        const f = await readFileIfExistsAsync(cachePath(dir, key), 4096);
        if (!f) return null;
        const j = JSON.parse(f.text) as Partial<CacheEntry>;
        if (j.key !== key || typeof j.checked_at !== "number" || (j.version !== null && typeof j.version !== "string")) return null;
        return { key, checked_at: j.checked_at, version: j.version };
      } catch { return null; }
    },
    writeCache(entry) {
      (require("node:fs") as typeof import("node:fs")).mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(cachePath(dir, entry.key), JSON.stringify(entry) + "\n");
    },
  };
}

export async function probeVersion(ctx: Pick<Ctx, "http" | "signal">, ref: HostRef): Promise<Probe> {
  // Unauthenticated on purpose: the bearer has no business on a public endpoint.
  const http = ctx.http({ baseUrl: ref.baseUrl, signal: ctx.signal, timeoutMs: PROBE_TIMEOUT_MS });
  try {
    const res = await http.get<{ version?: unknown }>("/_version", { retry: false, acceptStatus: [404] });
    if (res.status === 404) return { kind: "absent" };
    return typeof res.body?.version === "string" ? { kind: "version", version: res.body.version } : { kind: "unknown" };
  } catch (e) {
    if (e instanceof CliError && e.code === "cancelled") throw e;
    return { kind: "unknown" };
  }
}

/** Called by openApi before every authenticated command. */
export function checkServerVersion(ctx: Ctx, ref: HostRef): Promise<void> {
  let dir: string | null = null;
  try { dir = cacheDir(ctx.env); } catch { /* no cache location: probe every time */ }
  const cache = dir ? fileCache(dir) : { readCache: () => null, writeCache: () => {} };
  return ensureCompatible(ref.baseUrl, ref.host, {
    ...cache, now: () => Date.now(), debug: ctx.debug, probe: () => probeVersion(ctx, ref),
  });
}

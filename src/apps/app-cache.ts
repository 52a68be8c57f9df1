// The apps `get apps` last listed, kept in the cache dir so that shell completion can offer app
// ids and names without a request (a <Tab> must be instant and work offline). Best effort both
// ways: a cache that cannot be written or read only means fewer completions.
import { cacheDir } from "../storage/config-dir.ts";
import { readFileIfExists, writeFileAtomic } from "../storage/atomic-file.ts";

type Env = Record<string, string | undefined>;

export interface CachedApp { id: string; name: string; mode?: string }
interface Scope { written_at: number; apps: CachedApp[] }
interface CacheFile { version: 1; scopes: Record<string, Scope> }

export const APP_CACHE_FILE = "apps.json";
const MAX_APPS = 2000;
const MAX_SCOPES = 8;
const MAX_BYTES = 2 << 20;

/** Apps are remembered per host and workspace (external SSO sessions: per host). */
export function appScope(host: string, workspaceId: string | null): string {
  return `${host} ${workspaceId ?? "external_sso"}`;
}

function readCache(dir: string): CacheFile {
  try {
    const f = readFileIfExists(`${dir}/${APP_CACHE_FILE}`, MAX_BYTES);
    const j = f ? (JSON.parse(f.text) as Partial<CacheFile>) : null;
    if (j && j.version === 1 && j.scopes && typeof j.scopes === "object" && !Array.isArray(j.scopes)) return { version: 1, scopes: j.scopes };
  } catch { /* unreadable or corrupt: start again */ }
  return { version: 1, scopes: {} };
}

/**
 * Records listed apps. A complete listing (no filter, not cut by --limit) replaces the scope's
 * apps; a filtered one only adds or updates the apps it shows.
 */
export function rememberApps(env: Env, scope: string, rows: { id?: unknown; name?: unknown; mode?: unknown }[], complete: boolean, now: number): void {
  try {
    const dir = cacheDir(env);
    const file = readCache(dir);
    const fresh: CachedApp[] = [];
    for (const r of rows) {
      if (typeof r?.id !== "string" || typeof r.name !== "string" || r.id.length > 128 || r.name.length > 200) continue;
      fresh.push({ id: r.id, name: r.name, ...(typeof r.mode === "string" ? { mode: r.mode.slice(0, 40) } : {}) });
    }
    const byId = new Map<string, CachedApp>(complete ? [] : (file.scopes[scope]?.apps ?? []).map((a) => [a.id, a]));
    for (const a of fresh) byId.set(a.id, a);
    file.scopes[scope] = { written_at: now, apps: [...byId.values()].slice(0, MAX_APPS) };
    const kept = Object.entries(file.scopes).sort((a, b) => b[1].written_at - a[1].written_at).slice(0, MAX_SCOPES);
    (require("node:fs") as typeof import("node:fs")).mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(`${dir}/${APP_CACHE_FILE}`, JSON.stringify({ version: 1, scopes: Object.fromEntries(kept) }) + "\n");
  } catch { /* a read-only or missing cache dir costs completions only */ }
}

/** The apps remembered for `scope`, or none. */
export function cachedApps(env: Env, scope: string): CachedApp[] {
  try {
    const apps = readCache(cacheDir(env)).scopes[scope]?.apps;
    return Array.isArray(apps) ? apps.filter((a) => a && typeof a.id === "string" && typeof a.name === "string") : [];
  } catch {
    return [];
  }
}

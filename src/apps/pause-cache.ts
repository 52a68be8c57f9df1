// Which run a form belongs to, remembered when a run pauses: the form API answers a form by its
// token alone, but following the resumed run needs the run's id. Kept in the cache dir, keyed by
// a hash of the token (the token itself is never written), best effort both ways.
import { cacheDir } from "../storage/config-dir.ts";

type Env = Record<string, string | undefined>;

export const PAUSE_CACHE_FILE = "paused-runs.json";
const MAX_ENTRIES = 200;
const MAX_BYTES = 256 * 1024;

interface Entry { app_id: string; workflow_run_id: string; expires_at: number }

const key = (appId: string, token: string) => new Bun.CryptoHasher("sha256").update(`${appId}\n${token}`).digest("hex");

function read(path: string): Record<string, Entry> {
  try {
    const f = Bun.file(path);
    if (f.size > MAX_BYTES) return {};
    // Synchronous read: this runs once per command, on a small file.
    const { readFileSync } = require("node:fs") as typeof import("node:fs");
    const j = JSON.parse(readFileSync(path, "utf8")) as { version?: number; entries?: Record<string, Entry> };
    return j.version === 1 && j.entries && typeof j.entries === "object" ? j.entries : {};
  } catch {
    return {};
  }
}

/** Records the forms of a pause; `nowS` is Unix seconds. Entries past their form's expiry are dropped. */
export function rememberPause(env: Env, appId: string, runId: string, forms: { form_token: string | null; expiration_time: number | null }[], nowS: number): void {
  try {
    const dir = cacheDir(env);
    const path = `${dir}/${PAUSE_CACHE_FILE}`;
    const entries = read(path);
    for (const f of forms) {
      if (!f.form_token || !runId) continue;
      entries[key(appId, f.form_token)] = { app_id: appId, workflow_run_id: runId, expires_at: f.expiration_time ?? nowS + 7 * 86400 };
    }
    const kept = Object.entries(entries).filter(([, e]) => e && e.expires_at > nowS).sort((a, b) => b[1].expires_at - a[1].expires_at).slice(0, MAX_ENTRIES);
    const fs = require("node:fs") as typeof import("node:fs");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, entries: Object.fromEntries(kept) }) + "\n", { mode: 0o600 });
    fs.renameSync(tmp, path);
  } catch { /* a read-only cache dir only means --run must be given to follow the run */ }
}

/** The run a form token was seen in, if this machine saw it pause. */
export function pausedRunFor(env: Env, appId: string, token: string): string | null {
  try {
    const e = read(`${cacheDir(env)}/${PAUSE_CACHE_FILE}`)[key(appId, token)];
    return e && typeof e.workflow_run_id === "string" ? e.workflow_run_id : null;
  } catch {
    return null;
  }
}

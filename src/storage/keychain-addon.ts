// Loading the native keychain addon (in the worker): what a failed load says, and repairing
// Bun's cached copy of the addon when that copy is damaged.

/** The innermost messages of napi-rs's "Cannot find native binding" cause chain carry the reason. */
export function loadReason(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, i = 0; c && i < 8; c = (c as { cause?: unknown }).cause, i++) {
    const m = c instanceof Error ? c.message : String(c);
    if (m) parts.push(m.split("\n")[0]);
  }
  return parts.find((m) => /failed to map segment|cannot open shared object|EACCES|EPERM|ENOSPC|EROFS/i.test(m)) ?? parts.pop() ?? "unknown error";
}

/**
 * Bun keeps the extracted addon as $TMPDIR/.bun-<uid>-<hash>.node and reuses it on later runs
 * after checking only its owner and mode (a copy planted by another user is replaced), not its
 * content: a damaged copy of our own would fail every run from then on. One that the dynamic
 * loader rejects as a malformed file, and that is a regular file of ours, is removed so a fresh
 * worker extracts a good one. True when it was removed.
 */
export function dropDamagedCopy(reason: string, uid: number | undefined): boolean {
  const m = /^(\/.*\/\.bun-(\d+)-[0-9a-f]+\.node): (.*)$/.exec(reason);
  if (!m || uid === undefined || Number(m[2]) !== uid) return false;
  if (!/invalid ELF header|file too short|ELF load command|not page-aligned|phentsize|wrong ELF class|cannot read file data/i.test(m[3])) return false;
  try {
    const fs = require("node:fs") as typeof import("node:fs");
    const st = fs.lstatSync(m[1]);
    if (!st.isFile() || st.uid !== uid) return false;
    fs.unlinkSync(m[1]);
    return true;
  } catch {
    return false;
  }
}

import { CliError } from "../cli/errors.ts";

// node:fs is loaded on first use, not at start-up: `--version`, help and usage errors never
// touch the disk, and loading it costs about 1 ms of a ~6 ms start (measured).
const fs = (): typeof import("node:fs") => require("node:fs");

const TMP_MARK = ".tmp-";
const LOCK_NAME = ".difyctl.lock";
const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 10_000;
/** A lock file without a readable "pid timestamp" is only broken once it is this old. */
const LOCK_GRACE_MS = 2_000;

function pathJoin(dir: string, name: string): string {
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : `${dir}/${name}`;
}

const WHY: Record<string, string> = {
  EROFS: "read-only file system", EACCES: "permission denied", EPERM: "operation not permitted",
  ENOSPC: "no space left on device", ENOTDIR: "a parent path is not a directory", EISDIR: "is a directory",
  ELOOP: "too many levels of symbolic links", ENAMETOOLONG: "the path is too long", ENOENT: "no such file or directory (a dangling symlink?)",
};

export function fsErrorMessage(e: unknown, path: string): CliError {
  const code = (e as { code?: string })?.code ?? "";
  const why = WHY;
  return new CliError("unknown", `cannot write ${path}: ${why[code] ?? code ?? "I/O error"}`, {
    hint: "check the permissions of the config directory, or point DIFY_CONFIG_DIR at a writable directory",
  });
}

/** Creates the config dir 0700 and refuses one that is not a directory or not ours. */
export function ensurePrivateDir(dir: string): void {
  try {
    fs().mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    if ((e as { code?: string }).code !== "EEXIST") throw fsErrorMessage(e, dir);
  }
  let st;
  try { st = fs().statSync(dir); } catch (e) { throw fsErrorMessage(e, dir); }
  if (!st.isDirectory()) throw new CliError("config_invalid_value", `config path ${dir} is not a directory`, { hint: "remove it or set DIFY_CONFIG_DIR to a directory" });
  const uid = typeof process.getuid === "function" ? process.getuid() : -1;
  if (uid >= 0 && st.uid !== uid && uid !== 0) {
    throw new CliError("config_invalid_value", `config directory ${dir} belongs to another user (uid ${st.uid})`, { hint: "set DIFY_CONFIG_DIR to a directory you own" });
  }
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as { code?: string }).code === "EPERM"; }
}

/** Removes temp files left by a writer that was killed mid-write. Called under the lock. */
function sweepTempFiles(dir: string): void {
  let names: string[];
  try { names = fs().readdirSync(dir); } catch { return; }
  for (const n of names) {
    const i = n.indexOf(TMP_MARK);
    if (i < 0) continue;
    const pid = Number(n.slice(i + TMP_MARK.length).split("-")[0]);
    if (pid === process.pid || pidAlive(pid)) continue;
    try { fs().unlinkSync(pathJoin(dir, n)); } catch { /* someone else swept it */ }
  }
}

/** temp file (0600, O_EXCL) → fsync → rename → fsync(dir): a crash leaves the old or the new file, never a mix. */
export function writeFileAtomic(path: string, data: string): void {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  const dir = slash >= 0 ? path.slice(0, slash) || "/" : ".";
  const tmp = `${path}${TMP_MARK}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  let fd = -1;
  try {
    fd = fs().openSync(tmp, "wx", 0o600);
    const buf = Buffer.from(data, "utf8");
    let off = 0;
    while (off < buf.length) off += fs().writeSync(fd, buf, off, buf.length - off);
    fs().fsyncSync(fd);
    fs().closeSync(fd);
    fd = -1;
    fs().renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) try { fs().closeSync(fd); } catch { /* ignore */ }
    try { fs().unlinkSync(tmp); } catch { /* ignore */ }
    throw fsErrorMessage(e, path);
  }
  try { const dfd = fs().openSync(dir, "r"); try { fs().fsyncSync(dfd); } finally { fs().closeSync(dfd); } } catch { /* not supported everywhere */ }
}

export function removeFile(path: string): void {
  try { fs().unlinkSync(path); } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw fsErrorMessage(e, path);
  }
}

function checkSize(size: number, path: string, maxBytes: number): void {
  if (size > maxBytes) throw new CliError("config_schema_unsupported", `${path} is too large (${size} bytes)`, { hint: `remove or repair ${path}` });
}

function checkReadable(st: { isFile(): boolean; size: number }, path: string, maxBytes: number): void {
  if (!st.isFile()) throw new CliError("config_schema_unsupported", `${path} is not a regular file`, { hint: `remove ${path}` });
  checkSize(st.size, path, maxBytes);
}

/** Reads a file, or null when it does not exist. */
export function readFileIfExists(path: string, maxBytes = 1 << 20): { text: string; mode: number } | null {
  let st;
  try { st = fs().statSync(path); } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw readError(e, path);
  }
  checkReadable(st, path, maxBytes);
  try {
    return { text: fs().readFileSync(path, "utf8"), mode: st.mode & 0o777 };
  } catch (e) {
    // Removed between stat and read (a logout in another process): it does not exist now.
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw readError(e, path);
  }
}

export interface FileStat { isFile(): boolean; size: number; mode: number }

/** The stat of a file, or null when it does not exist; through Bun.file, off the main thread. */
export async function statIfExists(path: string): Promise<FileStat | null> {
  try {
    return await Bun.file(path).stat();
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw readError(e, path);
  }
}

/**
 * The same as readFileIfExists without node:fs, for the read-only hot path (status, whoami, get,
 * run): loading node:fs costs ~1 ms of start-up and each Bun.file read a thread-pool round trip
 * (measured), so the file is mapped after its stat. `stat` may be one already under way.
 */
export async function readFileIfExistsAsync(path: string, maxBytes = 1 << 20, stat = statIfExists(path)): Promise<{ text: string; mode: number } | null> {
  const st = await stat;
  if (!st) return null;
  // Checked before anything opens it: opening a FIFO would block.
  checkReadable(st, path, maxBytes);
  const mode = st.mode & 0o777;
  if (st.size === 0) return { text: "", mode };
  let bytes: Uint8Array;
  try {
    bytes = Bun.mmap(path, { shared: false });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT") return null;
    // No mmap here (Windows) or for this file system: read it instead.
    try { bytes = await Bun.file(path).bytes(); } catch (e2) {
      if ((e2 as { code?: string }).code === "ENOENT") return null;
      throw readError(e2, path);
    }
  }
  // Replaced by a larger file since the stat.
  checkSize(bytes.length, path, maxBytes);
  // Decoded as UTF-8 like the sync reader (Bun.file().text() would honour a UTF-16 BOM).
  return { text: new TextDecoder().decode(bytes), mode };
}

function readError(e: unknown, path: string): CliError {
  const code = (e as { code?: string })?.code ?? "";
  return new CliError("config_schema_unsupported", `cannot read ${path}: ${WHY[code] ?? (code || "I/O error")}`, {
    hint: code === "ENOTDIR" || code === "ELOOP"
      ? "the config directory (DIFY_CONFIG_DIR, else ~/.config/difyctl) must be a directory"
      : "check the permissions and owner of the config directory, or set DIFY_CONFIG_DIR to a directory you own",
  });
}

/**
 * Creates the lock file with its content in one step: the content goes to a temp file that is
 * then hard-linked to the lock name (link fails if the lock exists). Another process therefore
 * never sees an empty lock it could mistake for a dead writer's. Filesystems without hard links
 * fall back to O_EXCL create + write.
 */
function createLockFile(lockPath: string, content: string): boolean {
  const tmp = `${lockPath}${TMP_MARK}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    fs().writeFileSync(tmp, content, { flag: "wx", mode: 0o600 });
  } catch (e) {
    throw fsErrorMessage(e, lockPath);
  }
  try {
    fs().linkSync(tmp, lockPath);
    return true;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS" && code !== "EMLINK") throw fsErrorMessage(e, lockPath);
  } finally {
    try { fs().unlinkSync(tmp); } catch { /* swept later */ }
  }
  let fd = -1;
  try {
    fd = fs().openSync(lockPath, "wx", 0o600);
    fs().writeSync(fd, content);
    fs().closeSync(fd);
    return true;
  } catch (e) {
    if (fd >= 0) try { fs().closeSync(fd); } catch { /* ignore */ }
    if ((e as { code?: string }).code === "EEXIST") return false;
    throw fsErrorMessage(e, lockPath);
  }
}

/**
 * Removes a stale lock without removing a fresh one: the lock is renamed away (one breaker wins)
 * and, if what was moved is not the stale content that was judged (a live writer took the lock
 * in between), it is linked back.
 */
function breakStaleLock(lockPath: string, judged: string): void {
  const grave = `${lockPath}${TMP_MARK}${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try { fs().renameSync(lockPath, grave); } catch { return; /* someone else broke it */ }
  let moved: string | null = null;
  try { moved = fs().readFileSync(grave, "utf8"); } catch { /* ignore */ }
  if (moved !== judged) try { fs().linkSync(grave, lockPath); } catch { /* the slot was taken again */ }
  try { fs().unlinkSync(grave); } catch { /* swept later */ }
}

export interface LockOptions { waitMs?: number; staleMs?: number; sleep?: (ms: number) => Promise<void> }

/**
 * Serialises writers across processes with an O_EXCL lock file holding `pid timestamp`.
 * A lock whose owner is dead, or that is older than staleMs, is broken.
 */
export async function withDirLock<T>(dir: string, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
  const lockPath = pathJoin(dir, LOCK_NAME);
  const waitMs = opts.waitMs ?? LOCK_WAIT_MS;
  const staleMs = opts.staleMs ?? LOCK_STALE_MS;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (createLockFile(lockPath, `${process.pid} ${Date.now()}\n`)) break;
    let holder = "";
    let mtime = 0;
    try { holder = fs().readFileSync(lockPath, "utf8"); mtime = fs().statSync(lockPath).mtimeMs; } catch { continue; }
    const m = /^(\d+) (\d+)\n?$/.exec(holder);
    const pidText = m ? m[1] : "?";
    // Unreadable content is a writer killed between create and write (or a foreign file): stale
    // once it is old enough that no live writer can still be about to fill it in.
    const stale = m ? !pidAlive(Number(m[1])) || !(Date.now() - Number(m[2]) < staleMs) : !(Date.now() - mtime < LOCK_GRACE_MS);
    if (stale) {
      breakStaleLock(lockPath, holder);
      continue;
    }
    if (Date.now() > deadline) {
      throw new CliError("unknown", `the config directory is locked by process ${pidText}`, { hint: `if no other difyctl is running, remove ${lockPath}` });
    }
    await sleep(5 + Math.floor(Math.random() * 20));
  }
  try {
    sweepTempFiles(dir);
    return await fn();
  } finally {
    try { if (fs().readFileSync(lockPath, "utf8").startsWith(`${process.pid} `)) fs().unlinkSync(lockPath); } catch { /* already gone */ }
  }
}

/** Mode bits looser than 0600 (group/other access) on a file holding session data. */
export function modeTooOpen(mode: number): boolean {
  return process.platform !== "win32" && (mode & 0o077) !== 0;
}

export function fileExists(path: string): boolean {
  try { fs().lstatSync(path); return true; } catch { return false; }
}

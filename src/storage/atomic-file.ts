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
  ENOSPC: "no space left on device", EDQUOT: "disk quota exceeded", ENOTDIR: "a parent path is not a directory", EISDIR: "is a directory",
  ELOOP: "too many levels of symbolic links", ENAMETOOLONG: "the path is too long", ENOENT: "no such file or directory (a dangling symlink?)",
};

const errCode = (e: unknown): string => (e as { code?: string })?.code ?? "";

/** The advice that fits the failure: a full disk is not a permission problem. */
function writeHint(code: string, path: string): string {
  const dir = dirOf(path);
  if (code === "ENOSPC" || code === "EDQUOT") {
    return `free some disk space on the file system holding ${dir} (see 'df -h ${dir}'), or point DIFY_CONFIG_DIR at a directory on another disk`;
  }
  if (code === "EROFS") return "the file system is mounted read-only: point DIFY_CONFIG_DIR at a writable directory";
  return "check the permissions of the config directory, or point DIFY_CONFIG_DIR at a writable directory";
}

export function fsErrorMessage(e: unknown, path: string): CliError {
  const code = errCode(e);
  return new CliError("unknown", `cannot write ${path}: ${WHY[code] ?? (code || "I/O error")}`, { hint: writeHint(code, path) });
}

function dirOf(path: string): string {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return slash >= 0 ? path.slice(0, slash) || "/" : ".";
}

const randomTag = (): string => `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

const myUid = (): number => (typeof process.getuid === "function" ? process.getuid() : -1);

export interface DirRefusal { message: string; hint: string }

/** A config dir owned by another user: root may use it (sudo with the user's HOME), others may not. */
export function foreignDirOwner(dir: string, st: { uid: number }): DirRefusal | null {
  const uid = myUid();
  if (uid >= 0 && st.uid !== uid && uid !== 0) {
    return { message: `config directory ${dir} belongs to another user (uid ${st.uid})`, hint: "set DIFY_CONFIG_DIR to a directory you own" };
  }
  return null;
}

/**
 * Why credentials must not be written into this directory, or null. Another user who can write
 * the directory can swap or plant files in it (a hosts.yml naming their server, a lock that is a
 * directory), and one who owns it can read what is written there. Shared with `auth doctor`, so
 * that doctor fails exactly where a sign-in would be refused.
 */
export function dirRefusal(dir: string, st: { uid: number; mode: number }): DirRefusal | null {
  const foreign = foreignDirOwner(dir, st);
  if (foreign) return foreign;
  if (process.platform !== "win32" && (st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
    return {
      message: `config directory ${dir} (mode ${mode}) can be written by other users; difyctl does not store credentials there`,
      hint: `chmod 700 '${dir}', or set DIFY_CONFIG_DIR to a private directory (e.g. ~/.config/difyctl)`,
    };
  }
  return null;
}

/** Creates the config dir 0700 and refuses one that is not a directory or not ours. */
export function ensurePrivateDir(dir: string): void {
  try {
    fs().mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    if (errCode(e) !== "EEXIST") throw fsErrorMessage(e, dir);
  }
  let st;
  try { st = fs().statSync(dir); } catch (e) { throw fsErrorMessage(e, dir); }
  if (!st.isDirectory()) throw new CliError("config_invalid_value", `config path ${dir} is not a directory`, { hint: "remove it or set DIFY_CONFIG_DIR to a directory" });
  const foreign = foreignDirOwner(dir, st);
  if (foreign) throw new CliError("config_invalid_value", foreign.message, { hint: foreign.hint });
}

/** Refuses a directory that others can write (see dirRefusal) before credentials go into it. */
export function assertPrivateDir(dir: string): void {
  let st;
  try { st = fs().statSync(dir); } catch (e) { throw fsErrorMessage(e, dir); }
  const why = dirRefusal(dir, st);
  if (why) throw new CliError("config_invalid_value", why.message, { hint: why.hint });
}

/**
 * Proves that `dir` can take `bytes` more now: a temp file of that size is written, flushed to
 * the disk and removed. A permission check alone passes on a full disk or an exhausted quota,
 * where a sign-in would then fail only after the server had replaced the old session.
 */
export function checkWritable(dir: string, bytes: number): void {
  const tmp = pathJoin(dir, `.difyctl-probe${TMP_MARK}${randomTag()}`);
  let fd = -1;
  try {
    fd = fs().openSync(tmp, "wx", 0o600);
    // Random bytes: a compressing or deduplicating file system must really allocate them.
    const chunk = crypto.getRandomValues(new Uint8Array(Math.max(1, Math.min(bytes, 64 * 1024))));
    for (let left = bytes; left > 0;) left -= fs().writeSync(fd, chunk, 0, Math.min(left, chunk.length));
    fs().fsyncSync(fd);
  } catch (e) {
    const code = errCode(e);
    throw new CliError("unknown", `cannot write to the config directory ${dir}: ${WHY[code] ?? (code || "I/O error")}`, { hint: writeHint(code, tmp) });
  } finally {
    if (fd >= 0) try { fs().closeSync(fd); } catch { /* ignore */ }
    try { fs().unlinkSync(tmp); } catch { /* never created, or swept later */ }
  }
}

/** Whether a process with this pid exists (one of another user's counts: EPERM). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return errCode(e) === "EPERM"; }
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

/**
 * temp file (0600, O_EXCL) → fsync → rename → fsync(dir): a crash leaves the old or the new file,
 * never a mix. The new file is 0600 whatever mode the old one had (and whatever a default ACL adds).
 */
export function writeFileAtomic(path: string, data: string): void {
  const tmp = `${path}${TMP_MARK}${randomTag()}`;
  let fd = -1;
  try {
    fd = fs().openSync(tmp, "wx", 0o600);
    fs().fchmodSync(fd, 0o600);
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
  try { const dfd = fs().openSync(dirOf(path), "r"); try { fs().fsyncSync(dfd); } finally { fs().closeSync(dfd); } } catch { /* not supported everywhere */ }
}

/** Sets a credential file found looser than 0600 back to 0600 (a regular file of ours only). */
export function tightenMode(path: string): boolean {
  if (process.platform === "win32") return false;
  let st;
  try { st = fs().lstatSync(path); } catch { return false; }
  if (!st.isFile() || (st.mode & 0o077) === 0) return false;
  const uid = myUid();
  if (uid >= 0 && st.uid !== uid && uid !== 0) return false;
  try { fs().chmodSync(path, 0o600); return true; } catch { return false; }
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
 * run): loading node:fs costs ~1 ms of start-up (measured). `stat` may be one already under way,
 * so that the stats of several files cost one thread-pool round trip.
 */
export async function readFileIfExistsAsync(path: string, maxBytes = 1 << 20, stat = statIfExists(path)): Promise<{ text: string; mode: number } | null> {
  const st = await stat;
  if (!st) return null;
  // Checked before anything opens it: opening a FIFO would block.
  checkReadable(st, path, maxBytes);
  const mode = st.mode & 0o777;
  if (st.size === 0) return { text: "", mode };
  // Read, never mapped: a mapped file that someone truncates in place (an editor writing over
  // it, a network file system) kills the process with SIGBUS on the next access.
  let bytes: Uint8Array;
  // At most one byte past the cap: a file replaced by a huge one since the stat is not read whole.
  try { bytes = await Bun.file(path).slice(0, maxBytes + 1).bytes(); } catch (e) {
    if (errCode(e) === "ENOENT") return null;
    throw readError(e, path);
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
 * fall back to O_EXCL create + write. No temp file outlives a failed attempt (a full disk makes
 * every attempt fail).
 */
function createLockFile(lockPath: string, content: string): boolean {
  const tmp = `${lockPath}${TMP_MARK}${randomTag()}`;
  try {
    fs().writeFileSync(tmp, content, { flag: "wx", mode: 0o600 });
  } catch (e) {
    // Created, then the write failed (ENOSPC): the empty file goes too.
    if (errCode(e) !== "EEXIST") try { fs().unlinkSync(tmp); } catch { /* never created */ }
    throw fsErrorMessage(e, lockPath);
  }
  try {
    fs().linkSync(tmp, lockPath);
    return true;
  } catch (e) {
    const code = errCode(e);
    if (code === "EEXIST") return false;
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS" && code !== "EMLINK") throw fsErrorMessage(e, lockPath);
  } finally {
    try { fs().unlinkSync(tmp); } catch { /* swept later */ }
  }
  let fd = -1;
  try {
    fd = fs().openSync(lockPath, "wx", 0o600);
  } catch (e) {
    if (errCode(e) === "EEXIST") return false;
    throw fsErrorMessage(e, lockPath);
  }
  try {
    fs().writeSync(fd, content);
    fs().closeSync(fd);
    return true;
  } catch (e) {
    try { fs().closeSync(fd); } catch { /* ignore */ }
    try { fs().unlinkSync(lockPath); } catch { /* ignore */ }
    throw fsErrorMessage(e, lockPath);
  }
}

/** What is at the lock path when it could not be created. */
type LockSeen =
  | { kind: "gone" }
  /** Not a regular file: difyctl never makes one, and waiting or breaking it cannot help. */
  | { kind: "foreign"; what: string; remove: string }
  /** content null: the file cannot be read (another user's, or mode 000). */
  | { kind: "file"; content: string | null; ino: number; mtimeMs: number; uid: number; readError: string };

const LOCK_TEXT = /^(\d+) (\d+)\n?$/;

function inspectLock(lockPath: string): LockSeen {
  let st;
  try { st = fs().lstatSync(lockPath); } catch (e) {
    if (errCode(e) === "ENOENT") return { kind: "gone" };
    throw fsErrorMessage(e, lockPath);
  }
  if (st.isSymbolicLink()) return { kind: "foreign", what: "a symbolic link", remove: `rm '${lockPath}'` };
  if (st.isDirectory()) return { kind: "foreign", what: "a directory", remove: `rm -r '${lockPath}'` };
  if (!st.isFile()) return { kind: "foreign", what: "a special file (FIFO, socket or device)", remove: `rm '${lockPath}'` };
  const seen = { kind: "file" as const, content: null as string | null, ino: st.ino, mtimeMs: st.mtimeMs, uid: st.uid, readError: "" };
  let fd = -1;
  try {
    // No symlink is followed and no FIFO swapped in since the lstat can block the open.
    const c = fs().constants;
    fd = fs().openSync(lockPath, c.O_RDONLY | (c.O_NOFOLLOW ?? 0) | (c.O_NONBLOCK ?? 0));
    const buf = Buffer.alloc(64);
    const n = fs().readSync(fd, buf, 0, buf.length, 0);
    seen.content = buf.subarray(0, n).toString("utf8");
  } catch (e) {
    const code = errCode(e);
    if (code === "ENOENT" || code === "ELOOP") return { kind: "gone" }; // changed since the lstat: look again
    seen.readError = WHY[code] ?? (code || "I/O error");
  } finally {
    if (fd >= 0) try { fs().closeSync(fd); } catch { /* ignore */ }
  }
  return seen;
}

/**
 * Removes a stale lock without removing a fresh one: the lock is renamed away (one breaker wins)
 * and, if what was moved is not the file that was judged (a live writer took the lock in
 * between), it is linked back. True when the judged lock is gone.
 */
function breakStaleLock(lockPath: string, judged: { ino: number; mtimeMs: number; content: string | null }): boolean {
  const grave = `${lockPath}${TMP_MARK}${randomTag()}`;
  // Someone else broke it, or this process may not (a sticky directory): either way, wait.
  try { fs().renameSync(lockPath, grave); } catch { return false; }
  let same = false;
  try {
    const st = fs().lstatSync(grave);
    same = st.isFile() && st.ino === judged.ino && st.mtimeMs === judged.mtimeMs;
    if (same && judged.content !== null) same = fs().readFileSync(grave, "utf8") === judged.content;
  } catch { /* unreadable now: keep it */ }
  if (!same) try { fs().linkSync(grave, lockPath); } catch { /* the slot was taken again */ }
  try { fs().unlinkSync(grave); } catch { /* swept later */ }
  return same;
}

/** A sleep that ends early when `signal` aborts. */
function sleepUnless(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => { clearTimeout(timer); signal?.removeEventListener("abort", done); resolve(); };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface LockOptions {
  waitMs?: number;
  staleMs?: number;
  /** The clock: replaceable so that tests of the waiting logic do not sleep. */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Ends the wait with `cancelled` (Ctrl-C / SIGTERM while a command waits). */
  signal?: AbortSignal;
}

/** How many times in a row a lock that vanished before it could be looked at is retried without a pause. */
const IMMEDIATE_RETRIES = 3;

/**
 * Serialises writers across processes with an O_EXCL lock file holding `pid timestamp`.
 * A lock whose owner is dead, or that is older than staleMs, is broken. Waiting sleeps between
 * attempts, ends at waitMs with an error naming the lock, and ends at once when `signal` aborts;
 * a lock path that is not a regular file is refused (waiting cannot fix it).
 */
export async function withDirLock<T>(dir: string, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
  const lockPath = pathJoin(dir, LOCK_NAME);
  const waitMs = opts.waitMs ?? LOCK_WAIT_MS;
  const staleMs = opts.staleMs ?? LOCK_STALE_MS;
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? sleepUnless;
  const signal = opts.signal;
  const deadline = now() + waitMs;
  let quickRetries = 0;
  for (;;) {
    if (signal?.aborted) throw new CliError("cancelled", `cancelled while waiting for the lock ${lockPath}`);
    if (createLockFile(lockPath, `${process.pid} ${now()}\n`)) break;
    const seen = inspectLock(lockPath);
    if (seen.kind === "foreign") throw foreignLock(lockPath, seen);
    // Released between the attempt and the look, or a stale lock just broken: try again at once,
    // but a few times only, so that nothing can make this loop spin.
    let again = seen.kind === "gone";
    let held: Extract<LockSeen, { kind: "file" }> | null = null;
    let pid: string | null = null;
    if (seen.kind === "file") {
      const m = seen.content === null ? null : LOCK_TEXT.exec(seen.content);
      const t = now();
      const stale = m
        ? !pidAlive(Number(m[1])) || !(t - Number(m[2]) < staleMs)
        // Unparsable content is a writer killed between create and write (or a foreign file): stale
        // once it is old enough that no live writer can still be about to fill it in. An
        // unreadable lock may be a live difyctl of another user (sudo): only its age tells.
        : !(t - seen.mtimeMs < (seen.content === null ? staleMs : LOCK_GRACE_MS));
      again = stale && breakStaleLock(lockPath, seen);
      held = seen;
      pid = m ? m[1]! : null;
    }
    if (again && ++quickRetries <= IMMEDIATE_RETRIES) continue;
    if (now() >= deadline) throw lockTimeout(lockPath, held, pid, waitMs);
    quickRetries = 0;
    await sleep(5 + Math.floor(Math.random() * 20), signal);
  }
  try {
    sweepTempFiles(dir);
    return await fn();
  } finally {
    try { if (fs().readFileSync(lockPath, "utf8").startsWith(`${process.pid} `)) fs().unlinkSync(lockPath); } catch { /* already gone */ }
  }
}

function foreignLock(lockPath: string, seen: Extract<LockSeen, { kind: "foreign" }>): CliError {
  return new CliError("config_schema_unsupported", `the lock ${lockPath} is ${seen.what}, not a lock file difyctl made`, {
    hint: `if no other difyctl is running, remove it: ${seen.remove}`,
  });
}

function lockTimeout(lockPath: string, seen: Extract<LockSeen, { kind: "file" }> | null, pid: string | null, waitMs: number): CliError {
  const waited = `${Math.round(waitMs / 1000)} s`;
  if (seen && seen.content === null) {
    return new CliError("unknown", `the config directory is locked: ${lockPath} cannot be read (${seen.readError}; owner uid ${seen.uid}); waited ${waited}`, {
      hint: `if no other difyctl is running (under another user, e.g. with sudo), remove it: rm -f '${lockPath}'`,
    });
  }
  return new CliError("unknown", `the config directory is locked by process ${pid ?? "?"} (waited ${waited} for ${lockPath})`, {
    hint: `if no other difyctl is running, remove the lock: rm -f '${lockPath}'`,
  });
}

/** Mode bits looser than 0600 (group/other access) on a file holding session data. */
export function modeTooOpen(mode: number): boolean {
  return process.platform !== "win32" && (mode & 0o077) !== 0;
}

export function fileExists(path: string): boolean {
  try { fs().lstatSync(path); return true; } catch { return false; }
}

/** Before a sign-in: a lock path that is not a regular file would stop the commit after approval. */
export function assertLockUsable(dir: string): void {
  const seen = inspectLock(pathJoin(dir, LOCK_NAME));
  if (seen.kind === "foreign") throw foreignLock(pathJoin(dir, LOCK_NAME), seen);
}

import { assertLockUsable, assertPrivateDir, checkWritable, ensurePrivateDir, modeTooOpen, readFileIfExists, readFileIfExistsAsync, removeFile, tightenMode, withDirLock, writeFileAtomic } from "./atomic-file.ts";
import { configDir } from "./config-dir.ts";
import { hasSession, type HostsFile, parseHostsFile, parseTokensFile, serializeHostsFile, serializeTokensFile, type TokensFile } from "./hosts-file.ts";

export const HOSTS_FILE = "hosts.yml";
export const TOKENS_FILE = "tokens.yml";
/** Written by `auth login --no-wait`: it holds a device code. */
export const PENDING_FILE = "login-pending.yml";
/** Files that hold session data or a credential: written 0600, set back to 0600 by any write. */
const PRIVATE_FILES = [HOSTS_FILE, TOKENS_FILE, PENDING_FILE];
/** Room a sign-in needs beyond the size of the current files: the lock, the pending file, block rounding. */
const SIGN_IN_SLACK_BYTES = 16 * 1024;

/**
 * The config directory: hosts.yml (metadata) and tokens.yml (file-mode bearer). Reads never
 * write, so a read-only mounted directory works for every read-only command.
 */
export class ConfigStore {
  readonly dir: string;
  private readonly warn: (msg: string) => void;
  private warned = new Set<string>();
  /**
   * Reads started ahead of the call that needs them, used once (and dropped by any write): a
   * read-only command's stats of the dir, hosts.yml and tokens.yml take one thread-pool round
   * trip and the two reads a second one, instead of one round trip per file.
   */
  private early = new Map<string, Promise<{ text: string; mode: number } | null>>();

  /**
   * `signal`: the command's cancellation, if it has one; a wait for the lock then ends with
   * `cancelled` on Ctrl-C / SIGTERM. Without one the wait sleeps, so the default SIGTERM still ends it.
   */
  constructor(dir: string = configDir(), warn: (msg: string) => void = () => {}, private readonly signal: () => AbortSignal | undefined = () => undefined) {
    this.dir = dir;
    this.warn = warn;
  }

  path(name: string): string {
    return `${this.dir}/${name}`;
  }

  /** Warns (once) when the config dir belongs to another user: root writing there locks its owner out. */
  private checkOwner(): void {
    if (this.warned.has(this.dir)) return;
    this.warned.add(this.dir);
    let owner: number;
    try { owner = (require("node:fs") as typeof import("node:fs")).statSync(this.dir).uid; } catch { return; }
    this.warnIfForeign(owner);
  }

  private async checkOwnerAsync(): Promise<void> {
    if (this.warned.has(this.dir)) return;
    this.warned.add(this.dir);
    let owner: number;
    try { owner = (await Bun.file(this.dir).stat()).uid; } catch { return; }
    this.warnIfForeign(owner);
  }

  private readEarly(name: string): void {
    if (this.early.has(name)) return;
    // Stat, then read: the stat still comes first, so a FIFO is refused before anything opens it.
    const r = readFileIfExistsAsync(this.path(name));
    r.catch(() => {}); // an error is reported by the read that takes it, if one does
    this.early.set(name, r);
  }

  private takeEarly(name: string): Promise<{ text: string; mode: number } | null> {
    const r = this.early.get(name) ?? readFileIfExistsAsync(this.path(name));
    this.early.delete(name);
    return r;
  }

  private warnIfForeign(owner: number): void {
    const uid = typeof process.getuid === "function" ? process.getuid() : -1;
    if (uid >= 0 && owner !== uid) {
      this.warn(`warning: the config directory ${this.dir} belongs to another user (uid ${owner})${uid === 0 ? "; files root writes there will not be readable by its owner" : ""}`);
    }
  }

  /**
   * Before a sign-in starts: the config dir can take the result. Once the user approves, the
   * server replaces this machine's previous session, so a session that cannot be stored then is
   * lost on both sides: a private dir, a usable lock path and room for the files are proved first
   * (a real write of their size, not a permission check).
   */
  checkWritable(): void {
    this.checkOwner();
    ensurePrivateDir(this.dir);
    assertPrivateDir(this.dir);
    assertLockUsable(this.dir);
    let bytes = SIGN_IN_SLACK_BYTES;
    const fs = require("node:fs") as typeof import("node:fs");
    for (const name of [HOSTS_FILE, TOKENS_FILE]) {
      try { bytes += fs.statSync(this.path(name)).size; } catch { /* not there yet */ }
    }
    checkWritable(this.dir, bytes);
  }

  private readChecked(name: string): string | null {
    this.checkOwner();
    return this.modeChecked(name, readFileIfExists(this.path(name)));
  }

  private async readCheckedAsync(name: string): Promise<string | null> {
    const [, f] = await Promise.all([this.checkOwnerAsync(), this.takeEarly(name)]);
    return this.modeChecked(name, f);
  }

  private modeChecked(name: string, f: { text: string; mode: number } | null): string | null {
    if (!f) return null;
    const p = this.path(name);
    if (modeTooOpen(f.mode) && !this.warned.has(p)) {
      this.warned.add(p);
      this.warn(`warning: ${p} has mode ${f.mode.toString(8).padStart(4, "0")}; it holds session data and should be 0600 (chmod 600 '${p}')`);
    }
    return f.text;
  }

  readHosts(): HostsFile {
    const text = this.readChecked(HOSTS_FILE);
    return text === null ? {} : parseHostsFile(text, this.path(HOSTS_FILE));
  }

  readTokens(): TokensFile {
    const text = this.readChecked(TOKENS_FILE);
    return text === null ? { tokens: {} } : parseTokensFile(text, this.path(TOKENS_FILE));
  }

  /** Read-only commands use these: no node:fs on their start-up path. */
  async readHostsAsync(): Promise<HostsFile> {
    // A file-mode session reads tokens.yml next: both files are read in the same round trip.
    this.readEarly(HOSTS_FILE);
    this.readEarly(TOKENS_FILE);
    const text = await this.readCheckedAsync(HOSTS_FILE);
    return text === null ? {} : parseHostsFile(text, this.path(HOSTS_FILE));
  }

  async readTokensAsync(): Promise<TokensFile> {
    const text = await this.readCheckedAsync(TOKENS_FILE);
    return text === null ? { tokens: {} } : parseTokensFile(text, this.path(TOKENS_FILE));
  }

  /** Writers must hold the lock (see withLock). A session goes only into a dir others cannot write. */
  writeHosts(h: HostsFile): void {
    this.early.clear();
    if (hasSession(h)) assertPrivateDir(this.dir);
    writeFileAtomic(this.path(HOSTS_FILE), serializeHostsFile(h));
  }

  writeTokens(t: TokensFile): void {
    this.early.clear(); // a stat taken before a write would describe the old file
    if (Object.keys(t.tokens).length === 0) removeFile(this.path(TOKENS_FILE));
    else {
      assertPrivateDir(this.dir);
      writeFileAtomic(this.path(TOKENS_FILE), serializeTokensFile(t));
    }
  }

  /**
   * Runs `fn` holding the config dir's lock. Credential files found looser than 0600 are set back
   * to 0600 first: a write must not leave a token readable by others because the file was before.
   */
  async withLock<T>(fn: () => Promise<T> | T, signal: AbortSignal | undefined = this.signal()): Promise<T> {
    this.checkOwner();
    ensurePrivateDir(this.dir);
    return withDirLock(this.dir, () => {
      for (const name of PRIVATE_FILES) {
        if (tightenMode(this.path(name))) this.warn(`note: ${this.path(name)} was readable by other users; its mode is now 0600`);
      }
      return fn();
    }, { signal });
  }
}

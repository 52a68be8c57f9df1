import { ensurePrivateDir, type FileStat, fsErrorMessage, modeTooOpen, readFileIfExists, readFileIfExistsAsync, removeFile, statIfExists, withDirLock, writeFileAtomic } from "./atomic-file.ts";
import { configDir } from "./config-dir.ts";
import { type HostsFile, parseHostsFile, parseTokensFile, serializeHostsFile, serializeTokensFile, type TokensFile } from "./hosts-file.ts";

export const HOSTS_FILE = "hosts.yml";
export const TOKENS_FILE = "tokens.yml";

/**
 * The config directory: hosts.yml (metadata) and tokens.yml (file-mode bearer). Reads never
 * write, so a read-only mounted directory works for every read-only command.
 */
export class ConfigStore {
  readonly dir: string;
  private readonly warn: (msg: string) => void;
  private warned = new Set<string>();
  /**
   * Stats started ahead of the read that needs them, used once (and dropped by any write): a
   * read-only command's stats of the dir, hosts.yml and tokens.yml cost one thread-pool round trip.
   */
  private early = new Map<string, Promise<FileStat | null>>();

  constructor(dir: string = configDir(), warn: (msg: string) => void = () => {}) {
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

  private statEarly(name: string): void {
    if (this.early.has(name)) return;
    const st = statIfExists(this.path(name));
    st.catch(() => {}); // an error is reported by the read that takes it, if one does
    this.early.set(name, st);
  }

  private takeEarly(name: string): Promise<FileStat | null> | undefined {
    const st = this.early.get(name);
    this.early.delete(name);
    return st;
  }

  private warnIfForeign(owner: number): void {
    const uid = typeof process.getuid === "function" ? process.getuid() : -1;
    if (uid >= 0 && owner !== uid) {
      this.warn(`warning: the config directory ${this.dir} belongs to another user (uid ${owner})${uid === 0 ? "; files root writes there will not be readable by its owner" : ""}`);
    }
  }

  /** Before a sign-in starts: the config dir can take the result (no approval wasted on a dir that cannot). */
  checkWritable(): void {
    this.checkOwner();
    ensurePrivateDir(this.dir);
    try { (require("node:fs") as typeof import("node:fs")).accessSync(this.dir, 2 /* W_OK */); } catch (e) { throw fsErrorMessage(e, this.dir); }
  }

  private readChecked(name: string): string | null {
    this.checkOwner();
    return this.modeChecked(name, readFileIfExists(this.path(name)));
  }

  private async readCheckedAsync(name: string): Promise<string | null> {
    const [, f] = await Promise.all([this.checkOwnerAsync(), readFileIfExistsAsync(this.path(name), undefined, this.takeEarly(name))]);
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
    // A file-mode session reads tokens.yml next.
    this.statEarly(TOKENS_FILE);
    const text = await this.readCheckedAsync(HOSTS_FILE);
    return text === null ? {} : parseHostsFile(text, this.path(HOSTS_FILE));
  }

  async readTokensAsync(): Promise<TokensFile> {
    const text = await this.readCheckedAsync(TOKENS_FILE);
    return text === null ? { tokens: {} } : parseTokensFile(text, this.path(TOKENS_FILE));
  }

  /** Writers must hold the lock (see withLock). */
  writeHosts(h: HostsFile): void {
    this.early.clear();
    writeFileAtomic(this.path(HOSTS_FILE), serializeHostsFile(h));
  }

  writeTokens(t: TokensFile): void {
    this.early.clear(); // a stat taken before a write would describe the old file
    if (Object.keys(t.tokens).length === 0) removeFile(this.path(TOKENS_FILE));
    else writeFileAtomic(this.path(TOKENS_FILE), serializeTokensFile(t));
  }

  async withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    this.checkOwner();
    ensurePrivateDir(this.dir);
    return withDirLock(this.dir, fn);
  }
}

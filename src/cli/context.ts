import type { HttpClient, HttpClientOptions } from "../http/http-client.ts";
import { configDir } from "../storage/config-dir.ts";
import { ConfigStore } from "../storage/config-store.ts";
import { isNotice, markNotice, styleFor } from "../ui/colour.ts";
import { redact } from "../ui/redact.ts";
import { jsonRequested, writeErr, writeOut } from "./output.ts";

export type Env = Record<string, string | undefined>;

/**
 * The side effects a command may have, each replaceable: the compiled binary uses the real ones,
 * an in-process test passes a fake fetch, a fake terminal and a temp dir.
 */
export interface Effects {
  fetch?: typeof fetch;
  /** Writes to stdout / stderr (default: the process's, through the ordered writers in output.ts). */
  stdout?: (text: string) => Promise<unknown>;
  stderr?: (text: string) => Promise<unknown>;
  /** Whether a file descriptor is a terminal (default: node:tty, loaded on first use). */
  isTTY?: (fd: 0 | 1 | 2) => boolean;
  /** The cancellation signal (default: aborted on SIGINT / SIGTERM). */
  signal?: AbortSignal;
  /** stdin's text as a pipe would carry it, or null for none (/dev/null). Default: the process's. */
  stdin?: string | null;
  /** The wait between HTTP retries (default: a real timer). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The options every command table entry may carry; each command's own options extend it. */
export interface CommonOptions { json?: boolean }

/** What a command gets: side effects behind small functions, so commands stay thin. */
export class Ctx {
  readonly env: Env;
  readonly json: boolean;
  private readonly fx: Effects;
  private _config?: ConfigStore;
  private _signal?: AbortController;

  constructor(env: Env, opts: CommonOptions = {}, effects: Effects = {}) {
    this.env = env;
    this.json = jsonRequested(opts.json, env);
    this.fx = effects;
  }

  /** Called before each write to stdout or stderr: a progress spinner erases itself there. */
  beforeWrite: (() => void) | null = null;

  out(text: string): Promise<unknown> {
    this.beforeWrite?.();
    return this.fx.stdout ? this.fx.stdout(text) : writeOut(text);
  }

  /** stderr, always redacted; a warning:/note:/info: line is marked on a terminal. */
  err(text: string): Promise<unknown> {
    this.beforeWrite?.();
    let safe = redact(text);
    if (isNotice(safe)) safe = markNotice(styleFor(this, 2), safe);
    return this.fx.stderr ? this.fx.stderr(safe) : writeErr(safe);
  }

  /** The config directory, from this context's environment. */
  get configDir(): string {
    return this.config.dir;
  }

  get config(): ConfigStore {
    // The lock wait honours the command's cancellation once the command has one (see signal).
    this._config ??= new ConfigStore(configDir(this.env), (m) => void this.err(m + "\n"), () => this.fx.signal ?? this._signal?.signal);
    return this._config;
  }

  /** The one place an HTTP client is built: this context's fetch, debug log and cancellation. */
  http(o: Omit<HttpClientOptions, "fetch" | "debug">): HttpClient {
    // Required here, not imported at the top: the client, its error mapping and JSON bounds are
    // evaluated only by commands that talk to a server (`auth status` and `--version` do not).
    const { HttpClient } = require("../http/http-client.ts") as typeof import("../http/http-client.ts");
    return new HttpClient({ debug: this.debug, env: this.env, warn: (line) => void this.err(line + "\n"), ...(this.fx.sleep ? { sleep: this.fx.sleep } : {}), ...o, ...(this.fx.fetch ? { fetch: this.fx.fetch } : {}) });
  }

  /** The whole of stdin (`--inputs -`, a query piped in). */
  readStdin(): Promise<string> {
    return this.fx.stdin !== undefined ? Promise.resolve(this.fx.stdin ?? "") : Bun.stdin.text();
  }

  /**
   * True when stdin is a pipe or a file someone prepared: not a terminal (a person would be left
   * waiting at a silent prompt) and not /dev/null or a closed stdin.
   */
  async stdinHasInput(): Promise<boolean> {
    if (this.isTTY(0)) return false;
    if (this.fx.stdin !== undefined) return this.fx.stdin !== null;
    try {
      const st = await Bun.file(0).stat();
      return st.isFIFO() || st.isFile() || st.isSocket();
    } catch {
      return false;
    }
  }

  get debugEnabled(): boolean {
    const v = (this.env.DIFY_DEBUG ?? "").toLowerCase();
    return v !== "" && v !== "0" && v !== "false";
  }

  debug = (line: string): void => {
    if (this.debugEnabled) void this.err(line + "\n");
  };

  /** Aborted on Ctrl-C / SIGTERM; installing the handler is deferred to the commands that wait. */
  get signal(): AbortSignal {
    if (this.fx.signal) return this.fx.signal;
    if (!this._signal) {
      const ac = new AbortController();
      this._signal = ac;
      const onSig = () => ac.abort();
      process.on("SIGINT", onSig);
      process.on("SIGTERM", onSig);
    }
    return this._signal.signal;
  }

  private readonly ttys: (boolean | undefined)[] = [];

  isTTY(fd: 0 | 1 | 2): boolean {
    if (this.fx.isTTY) return this.fx.isTTY(fd);
    return (this.ttys[fd] ??= realIsTTY(fd));
  }
}

function realIsTTY(fd: number): boolean {
  // node:tty costs ~10 ms of start-up and node:fs ~2 ms in the compiled binary (measured), which
  // piped and agent runs should not pay for a yes/no. The runtime's tty binding (what node:tty's
  // isatty calls) answers for nothing; node:tty stays the fallback where it is missing.
  try {
    const binding = (process as unknown as { binding?: (name: string) => { isTTY?: (fd: number) => boolean } }).binding?.("tty_wrap");
    if (typeof binding?.isTTY === "function") return binding.isTTY(fd) === true;
  } catch { /* no such binding here */ }
  const { isatty } = require("node:tty") as typeof import("node:tty");
  return isatty(fd);
}

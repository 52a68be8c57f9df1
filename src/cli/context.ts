import { ConfigStore } from "../storage/config-store.ts";
import { jsonRequested, writeErr, writeOut } from "./output.ts";
import { redact } from "../ui/redact.ts";

export type Env = Record<string, string | undefined>;
export type Opts = Record<string, unknown>;

/** What a command gets: side effects behind small functions, so commands stay thin. */
export class Ctx {
  readonly env: Env;
  readonly json: boolean;
  private _config?: ConfigStore;
  private _signal?: AbortController;

  constructor(env: Env, opts: Opts) {
    this.env = env;
    this.json = jsonRequested(opts.json, env);
  }

  out(text: string): Promise<unknown> {
    return writeOut(text);
  }

  /** stderr, always redacted. */
  err(text: string): Promise<unknown> {
    return writeErr(redact(text));
  }

  get config(): ConfigStore {
    this._config ??= new ConfigStore(undefined, (m) => void this.err(m + "\n"));
    return this._config;
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
    if (!this._signal) {
      const ac = new AbortController();
      this._signal = ac;
      const onSig = () => ac.abort();
      process.on("SIGINT", onSig);
      process.on("SIGTERM", onSig);
    }
    return this._signal.signal;
  }

  isTTY(fd: 0 | 1 | 2): boolean {
    // node:tty is loaded only by the commands that need to know (login, run): it costs start-up.
    const { isatty } = require("node:tty") as typeof import("node:tty");
    return isatty(fd);
  }
}

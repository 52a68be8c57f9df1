// Colour and symbols for people at a terminal; nothing for pipes, files and agents.
//
// Whether a stream gets colour is decided from the environment first, then from whether it is a
// terminal. picocolors is loaded only once colour has been decided, so a piped or agent run never
// loads it. Everything here is synchronous and cached per context and stream.
import type { Env } from "../cli/context.ts";

/** What the decision needs from a command context (a Ctx, or a fake in tests). */
export interface StreamInfo {
  env: Env;
  isTTY(fd: 0 | 1 | 2): boolean;
}

export type ColourChoice = "always" | "never" | "auto";

/**
 * The environment's say, before the stream is looked at. A forcing variable wins over a
 * disabling one (as in gh): CLICOLOR_FORCE / FORCE_COLOR are set for one run on purpose, NO_COLOR
 * is usually a standing preference. FORCE_COLOR=0 or false disables, as in Node and chalk.
 */
export function colourFromEnv(env: Env): ColourChoice {
  const set = (k: string) => (env[k] ?? "") !== "";
  if (set("CLICOLOR_FORCE") && env.CLICOLOR_FORCE !== "0") return "always";
  if (set("FORCE_COLOR")) return ["0", "false"].includes(env.FORCE_COLOR!.toLowerCase()) ? "never" : "always";
  if (set("NO_COLOR")) return "never";
  if (env.CLICOLOR === "0") return "never";
  if (env.TERM === "dumb") return "never";
  return "auto";
}

type Paint = (s: string) => string;

/** How to write to one stream. */
export interface Style {
  /** The stream is a terminal: symbols, truncation to its width, spinners (on stderr). */
  readonly tty: boolean;
  /** ANSI colour is on. */
  readonly colour: boolean;
  green: Paint;
  yellow: Paint;
  red: Paint;
  bold: Paint;
  dim: Paint;
}

const same: Paint = (s) => s;
const PLAIN: Style = { tty: false, colour: false, green: same, yellow: same, red: same, bold: same, dim: same };

const cache = new WeakMap<object, Map<number, Style>>();

/** The style of stdout (1) or stderr (2) for this context. */
export function styleFor(ctx: StreamInfo, fd: 1 | 2): Style {
  let per = cache.get(ctx);
  if (!per) cache.set(ctx, (per = new Map()));
  let s = per.get(fd);
  if (!s) per.set(fd, (s = decide(ctx, fd)));
  return s;
}

function decide(ctx: StreamInfo, fd: 1 | 2): Style {
  const choice = colourFromEnv(ctx.env);
  // Asked even when colour is off: a terminal without colour (NO_COLOR) still gets the symbols.
  const tty = ctx.isTTY(fd);
  const colour = choice === "always" || (choice === "auto" && tty);
  if (!colour) return tty ? { ...PLAIN, tty: true } : PLAIN;
  return { tty, colour: true, ...palette() };
}

let loaded: Omit<Style, "tty" | "colour"> | null = null;

function palette(): Omit<Style, "tty" | "colour"> {
  if (loaded) return loaded;
  // Loaded here and only here. At import picocolors makes its own colour decision by reading
  // process.stdout.isTTY, a getter that builds the stream: ~10 ms in the compiled binary
  // (measured). The decision is made already and createColors(true) ignores picocolors' own, so
  // FORCE_COLOR is set for the length of the (synchronous) import, which skips that read.
  const env = process.env;
  const before = env.FORCE_COLOR;
  env.FORCE_COLOR = "1";
  let mod: typeof import("picocolors");
  try {
    mod = require("picocolors") as typeof import("picocolors");
  } finally {
    if (before === undefined) delete env.FORCE_COLOR;
    else env.FORCE_COLOR = before;
  }
  const pc = mod.createColors(true);
  // Bright red rather than SGR 31: plain red is what hostile server text most often carries, so
  // a test (or a person) can tell difyctl's own colour from an injected one.
  loaded = { green: pc.green, yellow: pc.yellow, red: pc.redBright, bold: pc.bold, dim: pc.dim };
  return loaded;
}

// ── The symbols ──

/** "✓ Logged out of …" on a terminal (green tick with colour); the bare text anywhere else. */
export function okText(s: Style, text: string): string {
  return s.tty || s.colour ? `${s.green("✓")} ${text}` : text;
}

/** The line printed after something succeeded, on stdout: `ok(ctx, "Switched to …")`. */
export function ok(ctx: StreamInfo & { out(text: string): Promise<unknown> }, text: string): Promise<unknown> {
  return ctx.out(okText(styleFor(ctx, 1), text) + "\n");
}

const NOTICE = ["warning: ", "note: ", "info: "];

/**
 * A `warning:` / `note:` / `info:` line gets a yellow `!` in front on a terminal; any other text
 * is returned unchanged. Lets every notice written to stderr be marked in one place.
 */
export function markNotice(s: Style, text: string): string {
  if (!(s.tty || s.colour) || !NOTICE.some((p) => text.startsWith(p))) return text;
  return `${s.yellow("!")} ${text}`;
}

/** True when `text` would be marked by markNotice: decides whether the stream must be asked. */
export function isNotice(text: string): boolean {
  return NOTICE.some((p) => text.startsWith(p));
}

/** The `error:` / `hint:` lines of a failed command: a red X and `error:` on a terminal. */
export function markError(s: Style, rendered: string): string {
  if (!(s.tty || s.colour)) return rendered;
  return rendered
    .replace(/^error: /m, `${s.red("X")} ${s.red("error:")} `)
    .replace(/^hint: /m, `${s.dim("hint:")} `);
}

/** Help text with its section headings ("Usage:", "Options:", …) in bold. */
export function boldHeadings(s: Style, help: string): string {
  if (!s.colour) return help;
  return help.replace(/^([A-Z][A-Za-z ,()-]*:)$/gm, (h) => s.bold(h));
}

/** pass / warn / fail (auth doctor) in green / yellow / red. */
export function statusWord(s: Style, status: "pass" | "warn" | "fail", text: string = status): string {
  return status === "pass" ? s.green(text) : status === "warn" ? s.yellow(text) : s.red(text);
}

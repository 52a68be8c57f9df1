// Terminal escape sequences for the sign-in screen: OSC 8 hyperlinks and OSC 52 clipboard
// writes. Callers only use them when stderr is a terminal; nothing here is sent to a pipe.
import { isTerminalSafe } from "./sanitize.ts";

type Env = Record<string, string | undefined>;

const ESC = "\x1b";
const BEL = "\x07";
const ST = `${ESC}\\`;

/**
 * OSC 8 heuristic: a terminal (TTY), with TERM set and neither `dumb` nor the Linux console
 * (which prints unknown OSC strings). FORCE_HYPERLINK=0 turns links off, any other value turns
 * them on for terminals the heuristic misses. Terminals without OSC 8 support ignore the
 * sequence, so a false positive shows the plain text.
 */
export function hyperlinksSupported(env: Env, isTTY: boolean): boolean {
  if (!isTTY) return false;
  const force = env.FORCE_HYPERLINK;
  if (force !== undefined && force !== "") return force !== "0";
  const term = (env.TERM ?? "").toLowerCase();
  return term !== "" && term !== "dumb" && term !== "linux";
}

/** Makes `text` a link to `url`. Control characters are refused so a URL cannot end the sequence early. */
export function hyperlink(url: string, text: string): string {
  if (!isTerminalSafe(url) || /[\t\n]/.test(url)) return text;
  return `${ESC}]8;;${url}${ST}${text}${ESC}]8;;${ST}`;
}

/**
 * OSC 52 "set clipboard" for `text`. The terminal emulator the user looks at does the copy, so it
 * reaches the local clipboard through SSH. Inside tmux the sequence is wrapped in tmux's DCS
 * passthrough (ESCs doubled; needs `set -g allow-passthrough on` in tmux ≥ 3.3), inside GNU screen
 * in screen's DCS passthrough.
 */
export function osc52(text: string, env: Env): string {
  const seq = `${ESC}]52;c;${Buffer.from(text, "utf8").toString("base64")}${BEL}`;
  if (env.TMUX) return `${ESC}Ptmux;${seq.replaceAll(ESC, ESC + ESC)}${ST}`;
  if (env.STY || (env.TERM ?? "").startsWith("screen")) return `${ESC}P${seq}${ST}`;
  return seq;
}

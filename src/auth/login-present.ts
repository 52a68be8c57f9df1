// How the one-time code reaches a person: the human lines, stable one-line markers an agent can
// relay, and on a terminal a QR code, an OSC 8 link and an OSC 52 copy offer. Loaded only by
// `auth login`.
import { type BrowserDecision, openBrowser } from "../ui/browser.ts";
import type { Ctx } from "../cli/context.ts";
import { hyperlink, hyperlinksSupported, osc52 } from "../ui/osc.ts";

export interface CodeView {
  /** The validated verification_uri. */
  verification: URL;
  /** verification_uri?user_code=<code>: the device page pre-fills the code from it. */
  completeUrl: string;
  userCode: string;
  expiresIn: number;
  decision: BrowserDecision;
}

/**
 * The agent-facing markers, one per line on stderr, never decorated:
 *   open <verification_uri>?user_code=<code>
 *   code <user_code>
 * Printed when stderr is not a terminal (agents never have one) or with --json; on a terminal the
 * human block above says the same once.
 */
export function markers(v: Pick<CodeView, "completeUrl" | "userCode">): string {
  return `open ${v.completeUrl}\ncode ${v.userCode}\n`;
}

function terminalColumns(): number {
  try {
    const c = process.stderr.columns;
    return typeof c === "number" && c > 0 ? c : 80;
  } catch {
    return 80;
  }
}

/** The QR block for a terminal, or "" when it is turned off or would not fit. */
export async function qrBlock(ctx: Ctx, url: string): Promise<string> {
  const term = (ctx.env.TERM ?? "").toLowerCase();
  if (term === "dumb") return "";
  const { encodeQr, renderHalfBlocks, renderedWidth } = await import("../ui/qr.ts");
  const qr = encodeQr(url);
  if (!qr || renderedWidth(qr) > terminalColumns()) return "";
  const color = (ctx.env.NO_COLOR ?? "") === "";
  return "! Or scan this with a phone (the code is filled in):\n" + renderHalfBlocks(qr, { color }).join("\n") + "\n";
}

/** Prints the code and URL on stderr, the QR code on a terminal, and the markers for an agent. */
export async function presentCode(ctx: Ctx, v: CodeView, o: { noQr?: boolean; stderrTTY: boolean }): Promise<void> {
  const minutes = Math.max(1, Math.round(v.expiresIn / 60));
  const shown = v.verification.toString();
  const url = hyperlinksSupported(ctx.env, o.stderrTTY) ? hyperlink(v.completeUrl, shown) : shown;
  let out = "";
  if (v.decision.reason === "ssh") out += "! Detected SSH session — opening the browser on this machine is skipped.\n";
  if (v.decision.open) {
    out += `! Copy this one-time code: ${v.userCode}\n`;
    out += `! It expires in ${minutes} minutes. URL: ${url}\n`;
  } else {
    out += `! Open this URL on any device with a browser:\n! ${url}\n`;
    out += `! When prompted, enter this one-time code (expires in ${minutes} minutes):\n! ${v.userCode}\n`;
  }
  if (o.stderrTTY && !o.noQr) out += await qrBlock(ctx, v.completeUrl);
  if (!o.stderrTTY || ctx.json) out += markers(v);
  await ctx.err(out);
}

/**
 * While waiting on a terminal: Enter opens the browser (when the browser decision allows it), `c`
 * copies the code with OSC 52. stdin is put in raw mode for single keys, so Ctrl-C arrives as a
 * byte and is turned back into SIGINT (the same cancellation path as always). Without a terminal
 * on stdin the Enter prompt reads a line, as before. Returns the function that restores stdin.
 */
export async function startKeyOffers(ctx: Ctx, o: {
  userCode: string; openUrl: string | null; shortUrl: string; stdinTTY: boolean; stderrTTY: boolean; signal: AbortSignal;
}): Promise<() => void> {
  const openOnce = (() => {
    let done = false;
    return () => {
      if (done || !o.openUrl || o.signal.aborted) return;
      done = true;
      if (!openBrowser(o.openUrl)) void ctx.err("\r\x1b[2Knote: couldn't open browser; open the URL above manually\n");
    };
  })();
  if (o.openUrl) await ctx.err(`Press Enter to open ${o.shortUrl} in your browser...\n`);
  if (!(o.stdinTTY && o.stderrTTY)) {
    if (o.openUrl) {
      const { readLine } = await import("../ui/tty-ui.ts");
      void readLine().then((line) => { if (line !== null) openOnce(); });
    }
    return () => {};
  }
  await ctx.err("Press c to copy the code to your clipboard.\n");
  const stdin = process.stdin as NodeJS.ReadStream;
  const onData = (buf: Buffer) => {
    for (const ch of buf.toString("utf8")) {
      if (ch === "\x03") process.kill(process.pid, "SIGINT");
      else if (ch === "\r" || ch === "\n") openOnce();
      else if (ch === "c" || ch === "C") {
        void ctx.err(osc52(o.userCode, ctx.env) + "\r\x1b[2K! Sent the code to your clipboard (OSC 52; the terminal must allow clipboard access)\n");
      }
    }
  };
  try {
    stdin.setRawMode(true);
  } catch {
    return () => {};
  }
  stdin.on("data", onData);
  stdin.resume();
  return () => {
    stdin.off("data", onData);
    try { stdin.setRawMode(false); } catch { /* stdin already gone */ }
    stdin.pause();
  };
}

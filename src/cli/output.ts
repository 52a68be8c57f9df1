// Output goes through Bun.write: touching process.stdout/process.stderr costs 10–25 ms of
// start-up in a compiled binary (measured), and agents call difyctl hundreds of times.
// Writes are chained so that lines keep their order, and flushed before exit.
import { maskSecrets } from "../ui/redact.ts";

let outChain: Promise<unknown> = Promise.resolve();
let errChain: Promise<unknown> = Promise.resolve();

let stdoutFailed = false;

/**
 * DEL and the C1 controls (U+0080–U+009F, among them CSI U+009B) are the only control characters
 * JSON.stringify leaves raw; a terminal may act on them. Written as \u escapes they keep JSON
 * output identical in meaning (they can only occur inside strings) and harmless on a screen.
 */
function escapeC1(text: string): string {
  return /[\u007f-\u009f]/.test(text) ? text.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) : text;
}

/** What writeOut puts on stdout for `text` (an in-process test's capture applies it too). */
export function stdoutText(text: string): string {
  return escapeC1(maskSecrets(text));
}

/** What writeErr puts on stderr for `text`. */
export function stderrText(text: string): string {
  return maskSecrets(text);
}

export function writeOut(text: string): Promise<unknown> {
  const safe = stdoutText(text);
  outChain = outChain.then(() => Bun.write(Bun.stdout, safe)).catch(() => { stdoutFailed = true; });
  return outChain;
}

/** True once a stdout write failed (EPIPE: `difyctl … | head` closed the pipe): a stream can stop. */
export function stdoutClosed(): boolean {
  return stdoutFailed;
}

export function writeErr(text: string): Promise<unknown> {
  const safe = stderrText(text);
  errChain = errChain.then(() => Bun.write(Bun.stderr, safe)).catch(() => {});
  return errChain;
}

export async function flushOutput(): Promise<void> {
  await Promise.all([outChain, errChain]);
}

/** JSON output when --json is given or DIFY_OUTPUT=json. */
export function jsonRequested(flagJson: unknown, env: Record<string, string | undefined> = process.env): boolean {
  return flagJson === true || (env.DIFY_OUTPUT ?? "").toLowerCase() === "json";
}


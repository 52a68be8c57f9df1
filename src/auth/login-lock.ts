// One sign-in at a time per config directory. Two device flows with the same device label race
// at the server: the second approval rotates the first token out, and whichever process stores
// last wins locally — half the time the token the server already revoked. So a sign-in holds
// <config dir>/login.lock from before it asks for a code until its session is stored, and a second
// one is refused, naming the first (its pid and start time) so the person can finish or end it.
//
// The config dir's short write lock guards the check-and-claim; login.lock itself is held for
// minutes. A holder that died (killed, crashed) leaves the file behind: a pid that is no longer
// running, or a claim older than any device code lives, is taken over.
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import { pidAlive, readFileIfExists, removeFile, writeFileAtomic } from "../storage/atomic-file.ts";
import type { Clock } from "./device-poller.ts";

export const LOGIN_LOCK_FILE = "login.lock";
/** Longer than any sign-in can wait (Dify's codes live 15 minutes): an older claim is stale whoever holds it. */
const MAX_CLAIM_MS = 60 * 60 * 1000;

export interface SignInClaim { pid: number; started_at: string; host: string; nonce: string }

function parseClaim(text: string): SignInClaim | null {
  try {
    const c = JSON.parse(text) as Partial<SignInClaim>;
    if (Number.isInteger(c.pid) && typeof c.started_at === "string" && !Number.isNaN(Date.parse(c.started_at)) && typeof c.nonce === "string") {
      return { pid: c.pid!, started_at: c.started_at, host: typeof c.host === "string" ? c.host : "", nonce: c.nonce };
    }
  } catch { /* unreadable: nobody can be shown as its holder, so it does not hold */ }
  return null;
}

/** The live claim on this config dir, if another process holds one. */
export function currentClaim(path: string, now: number): SignInClaim | null {
  const f = readFileIfExists(path, 4096);
  const c = f ? parseClaim(f.text) : null;
  if (!c || c.pid === process.pid || !pidAlive(c.pid) || now - Date.parse(c.started_at) >= MAX_CLAIM_MS) return null;
  return c;
}

export function signInRunning(c: SignInClaim, path: string): CliError {
  const started = c.started_at.replace(/\.\d+Z$/, "Z");
  return new CliError("login_in_progress", `another sign-in is running for this config directory (pid ${c.pid}, started at ${started}${c.host ? `, host ${c.host}` : ""})`, {
    hint: `finish or cancel that one first (Ctrl-C in its terminal, or 'kill ${c.pid}'); two at once would leave the token approved first revoked. If no such process exists, remove ${path}`,
    details: { pid: c.pid, started_at: c.started_at },
  });
}

/**
 * Claims the config dir for this sign-in, or refuses while another live process holds it.
 * Returns the release function (idempotent; it removes only this process's own claim).
 */
export async function claimSignIn(ctx: Ctx, host: string, clock: Clock): Promise<() => void> {
  const config = ctx.config;
  const path = config.path(LOGIN_LOCK_FILE);
  const mine: SignInClaim = { pid: process.pid, started_at: new Date(clock.now()).toISOString(), host, nonce: crypto.randomUUID() };
  await config.withLock(() => {
    const held = currentClaim(path, clock.now());
    if (held) throw signInRunning(held, path);
    writeFileAtomic(path, JSON.stringify(mine) + "\n");
  });
  let released = false;
  return () => {
    if (released) return;
    released = true;
    try {
      const f = readFileIfExists(path, 4096);
      if (f && parseClaim(f.text)?.nonce === mine.nonce) removeFile(path);
    } catch { /* a stale claim is taken over by the next sign-in */ }
  };
}

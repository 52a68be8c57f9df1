// `auth doctor`: everything that decides whether difyctl can sign in and stay signed in on this
// machine, each as a pass/warn/fail line with a fix. It only reads: no config file, lock, cache or
// keychain entry is written (the keychain is asked for an entry that does not exist), so it is
// safe on a read-only mounted config dir. Exit 0 unless a check fails.
//
// The checks live by area: local-checks.ts (environment, config dir, files, session),
// storage-checks.ts (storage policy, keychain, temp dir), server-checks.ts (server, version, clock).
// Each applies the rule the rest of difyctl applies, imported from where it lives.
import { configDir } from "../storage/config-dir.ts";
import { TOKENS_FILE } from "../storage/config-store.ts";
import type { Ctx } from "../cli/context.ts";
import type { CliError } from "../cli/errors.ts";
import type { HostRef } from "../http/host-url.ts";
import { redact } from "../ui/redact.ts";
import { sanitize } from "../ui/sanitize.ts";
import { statusWord, styleFor } from "../ui/colour.ts";
import type { Check, Status } from "./check.ts";
import { checkConfigDir, checkEnv, checkFiles, checkPending, checkSession, type LocalState, readLocal } from "./local-checks.ts";
import { checkKeychain, checkStorage, checkTempDir, policyOf, probeKeychainReadOnly } from "./storage-checks.ts";
import { checkServer, targetHost } from "./server-checks.ts";

export type { Check, Status } from "./check.ts";
export { KNOWN_DIFY_VARS } from "./local-checks.ts";
export { noexecMount } from "./storage-checks.ts";
export { skewCheck } from "./server-checks.ts";

export async function collectChecks(ctx: Pick<Ctx, "env" | "http"> & { signal?: AbortSignal }, o: { host?: string }): Promise<Check[]> {
  const env = ctx.env;
  const checks: Check[] = [checkEnv(env)];
  let dir: string | null = null;
  try { dir = configDir(env); } catch (e) {
    checks.push({ id: "config_dir", title: "config dir", status: "fail", message: (e as Error).message, hint: (e as CliError).hint });
  }
  const local: LocalState = dir ? readLocal(dir) : { meta: null, tokenIds: null };
  if (dir) checks.push(checkConfigDir(dir, env), ...checkFiles(dir));
  // A sign-in probes the keychain unless the policy is the file store: so does doctor.
  const { policy } = policyOf(env);
  const keychain = policy === "file" ? null : await probeKeychainReadOnly(env);
  checks.push(checkSession(env, local, keychain ? keychain.ok : null));
  const pending = dir ? checkPending(dir, Date.now()) : null;
  if (pending) checks.push(pending);
  checks.push(checkStorage(env, local, keychain, dir ? `${dir}/${TOKENS_FILE}` : TOKENS_FILE), await checkKeychain(env, local, keychain));
  const tmp = checkTempDir(env);
  if (tmp) checks.push(tmp);
  let ref: HostRef | null = null;
  try { ref = targetHost(env, o.host, local); } catch (e) {
    checks.push({ id: "server", title: "server", status: "fail", message: (e as Error).message, hint: (e as CliError).hint });
    return checks;
  }
  checks.push(...(await checkServer(ctx, ref, ctx.signal)));
  return checks;
}

export function summarize(checks: Check[]): { pass: number; warn: number; fail: number } {
  return {
    pass: checks.filter((c) => c.status === "pass").length,
    warn: checks.filter((c) => c.status === "warn").length,
    fail: checks.filter((c) => c.status === "fail").length,
  };
}

/** `paint` colours a status word on a terminal (padding is added before it, so columns line up). */
export function renderHuman(checks: Check[], paint: (status: Status, padded: string) => string = (_s, t) => t): string {
  const w = Math.max(...checks.map((c) => c.title.length));
  let out = "";
  for (const c of checks) {
    out += `${paint(c.status, c.status.padEnd(4))}  ${c.title.padEnd(w)}  ${c.message}\n`;
    if (c.hint && c.status !== "pass") out += `${" ".repeat(6 + w + 2)}fix: ${c.hint}\n`;
    else if (c.hint) out += `${" ".repeat(6 + w + 2)}note: ${c.hint}\n`;
  }
  const s = summarize(checks);
  out += `\n${s.pass} passed, ${s.warn} warning${s.warn === 1 ? "" : "s"}, ${s.fail} failed\n`;
  return out;
}

/** Server-supplied text ends up in messages: no control characters, nothing token-shaped. */
function clean(s: string): string {
  return sanitize(redact(s), { oneLine: true, replacement: "?" });
}

export async function runDoctor(ctx: Ctx, o: { host?: string }): Promise<number> {
  const checks = (await collectChecks({ env: ctx.env, http: (x) => ctx.http(x), signal: ctx.signal }, o))
    .map((c) => ({ ...c, message: clean(c.message), ...(c.hint ? { hint: clean(c.hint) } : {}) }));
  const s = summarize(checks);
  if (ctx.json) {
    await ctx.out(JSON.stringify({ ok: s.fail === 0, summary: s, checks: checks.map((c) => ({ id: c.id, title: c.title, status: c.status, message: c.message, hint: c.hint ?? null, ...(c.data ? { data: c.data } : {}) })) }) + "\n");
  } else {
    const style = styleFor(ctx, 1);
    await ctx.out(renderHuman(checks, (status, padded) => statusWord(style, status, padded)));
  }
  return s.fail === 0 ? 0 : 1;
}

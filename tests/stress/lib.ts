// Shared by the reliability and fuzz suites: seeded PRNG, bounded pool, a spawner that can kill,
// pass raw argv bytes and run as another user, and the session-consistency checker.
//
// DIFYCTL_STRESS=1 selects the full counts (npm run stress); DIFYCTL_SEED=<n> replays a run.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/command-table.ts";
import { EXIT_CODES } from "../../src/cli/errors.ts";
import { type HostsFile, parseHostsFile, parseTokensFile, type TokensFile } from "../../src/storage/hosts-file.ts";
import type { FakeServer, TokenRow } from "../fake/server.ts";
import { BIN, capture, type RunResult } from "../helpers.ts";

export const STRESS = process.env.DIFYCTL_STRESS === "1";
/** The quick count under npm test, the full count under npm run stress. */
export const scale = (quick: number, stress: number): number => (STRESS ? stress : quick);

export const SEED = (() => {
  const s = process.env.DIFYCTL_SEED;
  return s && /^\d+$/.test(s) ? Number(s) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
})();

// ------------------------------------------------------------------ figures
// Each suite reports its figures here; they are printed and appended to .tmp/reliability-figures.jsonl.
import { appendFileSync, mkdirSync } from "node:fs";
import { ROOT } from "../helpers.ts";
export function report(suite: string, figures: Record<string, number | string>): void {
  const line = { suite, mode: STRESS ? "stress" : "quick", seed: SEED, ...figures };
  console.log(`[figures] ${JSON.stringify(line)}`);
  mkdirSync(join(ROOT, ".tmp"), { recursive: true });
  appendFileSync(join(ROOT, ".tmp", "reliability-figures.jsonl"), JSON.stringify({ ...line, at: new Date().toISOString() }) + "\n");
}

// ------------------------------------------------------------------ PRNG
/** mulberry32: small, fast, reproducible. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  range(lo: number, hi: number): number { return lo + this.next() * (hi - lo); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
  /** A child generator, so that one case's draws do not shift another's. */
  fork(salt: number): Rng { return new Rng((this.s ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0); }
}

export function seedFor(name: string): number {
  let h = SEED;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}

export function banner(name: string): Rng {
  const seed = seedFor(name);
  console.log(`[seed] ${name}: DIFYCTL_SEED=${SEED} (case seed ${seed})${STRESS ? " [stress]" : ""}`);
  return new Rng(seed);
}

// ------------------------------------------------------------------ pool
export async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ commands present
export function hasCommand(...path: string[]): boolean {
  return COMMANDS.some((c) => c.path.length === path.length && c.path.every((w, i) => w === path[i]));
}
export const commandPaths = (): string[][] => COMMANDS.map((c) => [...c.path]);

// ------------------------------------------------------------------ spawning
export interface SpawnOptions {
  env: Record<string, string>;
  /** raw argv: strings, or Uint8Array for bytes that are not UTF-8 (passed through bash + printf) */
  timeoutMs?: number;
  /** SIGKILL after this many ms (the crash tests) */
  killAfterMs?: number;
  /** resolved when this promise settles: then SIGKILL after killAfterMs (targeted kills) */
  killTrigger?: Promise<number>;
  /** run as this uid/gid (setpriv), for permission cases while the suite runs as root */
  asUser?: { uid: number; gid: number };
  stdin?: string;
}
export interface SpawnResult extends RunResult {
  elapsedMs: number;
  timedOut: boolean;
  /** SIGKILL delivered while the process was still running */
  killed: boolean;
  signal: string | null;
}

function shellQuoteBytes(b: Uint8Array): string {
  return "\"$(printf '" + [...b].map((x) => "\\" + x.toString(8).padStart(3, "0")).join("") + "')\"";
}

/** Spawns dist/difyctl; every run's output is captured for the secrets scan. */
export async function spawnCli(args: (string | Uint8Array)[], o: SpawnOptions): Promise<SpawnResult> {
  const raw = args.some((a) => typeof a !== "string");
  let argv: string[];
  if (raw) {
    // Raw bytes cannot go through Bun.spawn's string argv: let bash build them with printf.
    const parts = args.map((a) => (typeof a === "string" ? `'${a.replace(/'/g, "'\\''")}'` : shellQuoteBytes(a)));
    argv = ["bash", "-c", `exec '${BIN}' ${parts.join(" ")}`];
  } else argv = [BIN, ...(args as string[])];
  if (o.asUser) argv = ["setpriv", `--reuid=${o.asUser.uid}`, `--regid=${o.asUser.gid}`, "--clear-groups", "--", ...argv];
  const t0 = performance.now();
  const proc = Bun.spawn(argv, {
    env: o.env,
    stdin: o.stdin !== undefined ? new Blob([o.stdin]) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let timedOut = false;
  let killed = false;
  const kill = (why: "timeout" | "kill") => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    if (why === "timeout") timedOut = true;
    else killed = true;
    proc.kill("SIGKILL");
  };
  const timers: ReturnType<typeof setTimeout>[] = [];
  timers.push(setTimeout(() => kill("timeout"), o.timeoutMs ?? 30_000));
  if (o.killAfterMs !== undefined && !o.killTrigger) timers.push(setTimeout(() => kill("kill"), o.killAfterMs));
  if (o.killTrigger) {
    void o.killTrigger.then((extra) => {
      const ms = (o.killAfterMs ?? 0) + extra;
      if (ms <= 0) kill("kill");
      else timers.push(setTimeout(() => kill("kill"), ms));
    });
  }
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  for (const t of timers) clearTimeout(t);
  const elapsedMs = performance.now() - t0;
  const r: SpawnResult = { code, stdout, stderr, elapsedMs, timedOut, killed: killed && proc.signalCode === "SIGKILL", signal: proc.signalCode == null ? null : String(proc.signalCode) };
  capture(args.map((a) => (typeof a === "string" ? a : `<bytes ${Buffer.from(a).toString("hex")}>`)).map((a) => (a.length > 200 ? `${a.slice(0, 200)}…(${a.length})` : a)), r);
  return r;
}

// ------------------------------------------------------------------ output checks
export const DOCUMENTED_EXITS = [0, 1, 2, 4, 6, 7];
const STACK_PATTERNS: RegExp[] = [
  /^\s+at .*[:(]\d+(:\d+)?\)?$/m, // a JS stack frame
  /\bat <anonymous>|\bat async\b/,
  /Uncaught|uncaught exception|unhandled (promise )?rejection|UnhandledPromiseRejection/i,
  /\b(TypeError|ReferenceError|RangeError|SyntaxError|AbortError|DOMException):/,
  /Bun v\d|panic\(|Segmentation fault|oh no: Bun has crashed|bun\.report/i,
  /Cannot read propert|undefined is not an object|is not a function/,
  /\[object Object\]/,
];

/** The invariants every run must keep, whatever it was fed. Returns a list of problems. */
export function outputProblems(r: SpawnResult, o: { json: boolean; allowExits?: number[]; report?: boolean }): string[] {
  const p: string[] = [];
  if (r.timedOut) p.push(`hang: killed after ${Math.round(r.elapsedMs)} ms`);
  if (r.signal && !r.killed && !r.timedOut) p.push(`died by signal ${r.signal}`);
  const exits = o.allowExits ?? DOCUMENTED_EXITS;
  if (!r.timedOut && !exits.includes(r.code)) p.push(`exit ${r.code} not in ${exits.join(",")}`);
  for (const re of STACK_PATTERNS) {
    if (re.test(r.stderr)) p.push(`stderr matches ${re}`);
    if (re.test(r.stdout)) p.push(`stdout matches ${re}`);
  }
  if (TOKEN_RE().test(r.stdout + r.stderr)) p.push("a token appears in the output");
  if (DEVICE_CODE_RE().test(r.stdout + r.stderr)) p.push("a device code appears in the output");
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u009b]/.test(r.stderr.replace(/\r(?=Waiting)/g, ""))) p.push("raw control characters on stderr");
  // `auth status` when logged out is a result, not an error: JSON on stdout, exit 4.
  const loggedOutStatus = r.code === 4 && /^\{"host":null,"logged_in":false\}\n$/.test(r.stdout);
  // `auth doctor` is a report: failed checks give exit 1 with the report ({"ok":false,…}) on stdout.
  const doctorReport = o.report === true && r.code === 1 && (/^\{"ok":false,/.test(r.stdout) || /^fail  /m.test(r.stdout));
  // Terminal escapes from a server never reach a terminal raw (JSON output escapes them anyway).
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u009b]/.test(r.stdout)) p.push("raw control characters on stdout");
  if (o.json && r.code !== 0 && !r.timedOut && !loggedOutStatus && !doctorReport) {
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("{"));
    if (lines.length !== 1) p.push(`expected exactly one JSON envelope line on stderr, got ${lines.length}`);
    else {
      try {
        const e = JSON.parse(lines[0]!).error;
        if (!e || typeof e.code !== "string" || typeof e.message !== "string") p.push("envelope lacks code/message");
        else {
          const want = (EXIT_CODES as Record<string, number>)[e.code];
          if (want === undefined) p.push(`envelope code ${e.code} is not in the table`);
          else if (want !== r.code) p.push(`envelope code ${e.code} maps to ${want} but exit was ${r.code}`);
        }
      } catch { p.push("envelope line is not JSON"); }
    }
  }
  if (!o.json && r.code !== 0 && !r.timedOut && !doctorReport && !/^error: /m.test(r.stderr) && !/^Not logged in/m.test(r.stdout)) p.push("failure without an 'error:' line");
  return p;
}

export const TOKEN_RE = () => /dfo[ae]_[A-Za-z0-9_-]{43}/g;
export const DEVICE_CODE_RE = () => /dc_[A-Za-z0-9_-]{32}/g;

// ------------------------------------------------------------------ session consistency
export interface DirState {
  hostsText: string | null;
  tokensText: string | null;
  hosts: HostsFile;
  tokens: TokensFile;
  /** temp files, lock file, anything else unexpected */
  leftovers: string[];
  problems: string[];
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** Every token a server ever minted, by id, with its hash (recorded before any revocation nulls it). */
export class MintLog {
  readonly byId = new Map<string, { hash: string; row: TokenRow; server: FakeServer }>();
  watch(server: FakeServer): void {
    const rows = server.tokenRows() as TokenRow[];
    const orig = rows.push.bind(rows);
    rows.push = (...items: TokenRow[]) => {
      for (const r of items) if (r.tokenHash) this.byId.set(r.id, { hash: r.tokenHash, row: r, server });
      return orig(...items);
    };
  }
}

export function readDir(dir: string): DirState {
  const st: DirState = { hostsText: null, tokensText: null, hosts: {}, tokens: { tokens: {} }, leftovers: [], problems: [] };
  if (!existsSync(dir)) return st;
  for (const n of readdirSync(dir)) {
    if (n === "hosts.yml" || n === "tokens.yml") continue;
    st.leftovers.push(n);
  }
  const hp = join(dir, "hosts.yml");
  const tp = join(dir, "tokens.yml");
  const regular = (p: string) => { try { return lstatSync(p).isFile(); } catch { return false; } };
  if (existsSync(hp) && !regular(hp)) st.problems.push("hosts.yml is not a regular file");
  if (existsSync(tp) && !regular(tp)) st.problems.push("tokens.yml is not a regular file");
  if (regular(hp)) {
    st.hostsText = readFileSync(hp, "utf8");
    try { st.hosts = parseHostsFile(st.hostsText, hp); } catch (e) { st.problems.push(`hosts.yml does not parse: ${(e as Error).message}`); }
    const mode = lstatSync(hp).mode & 0o777;
    if (mode !== 0o600) st.problems.push(`hosts.yml mode ${mode.toString(8)}`);
  }
  if (regular(tp)) {
    st.tokensText = readFileSync(tp, "utf8");
    try { st.tokens = parseTokensFile(st.tokensText, tp); } catch (e) { st.problems.push(`tokens.yml does not parse: ${(e as Error).message}`); }
    const mode = lstatSync(tp).mode & 0o777;
    if (mode !== 0o600) st.problems.push(`tokens.yml mode ${mode.toString(8)}`);
    if (/dfo[ae]_/.test(st.hostsText ?? "")) st.problems.push("hosts.yml holds a token");
  }
  return st;
}

export interface SessionView { host: string; tokenId: string; subject: string; who: string; workspace: string | null }

/** The session the files describe, or null; pushes a problem for any mix of two sessions. */
/** `relaxed`: the server itself may have lied (the fuzzer): check only the local token ↔ metadata link. */
export function sessionOf(st: DirState, mints: MintLog, knownHosts: Map<string, FakeServer>, relaxed = false): SessionView | null {
  const h = st.hosts;
  if (!h.current_host && !h.token_id && !h.subject_type) return null;
  const bad = (m: string) => { st.problems.push(m); return null; };
  if (!h.current_host || !h.token_id || !h.subject_type || !h.token_storage) return bad(`partial session metadata: ${JSON.stringify(h)}`);
  if (h.token_storage !== "file" && h.token_storage !== "keychain") return bad(`unexpected token_storage ${h.token_storage}`);
  const entry = st.tokens.tokens[h.token_id];
  if (!entry) return bad(`hosts.yml names token ${h.token_id} but tokens.yml has no such entry`);
  if (entry.host !== h.current_host) return bad(`token ${h.token_id} belongs to ${entry.host}, session is on ${h.current_host}`);
  if (relaxed) {
    if (!entry.bearer.startsWith(h.subject_type === "account" ? "dfoa_" : "dfoe_")) return bad(`${h.subject_type} session with a token of the other kind`);
    return { host: h.current_host, tokenId: h.token_id, subject: h.subject_type, who: h.account?.email ?? h.external_sso?.email ?? "?", workspace: h.current_workspace_id ?? h.workspace?.id ?? null };
  }
  const mint = mints.byId.get(h.token_id);
  if (!mint) return bad(`token id ${h.token_id} was never minted`);
  if (sha256(entry.bearer) !== mint.hash) return bad(`the bearer stored for ${h.token_id} is not the token minted with that id`);
  const server = knownHosts.get(h.current_host);
  if (!server || mint.server !== server) return bad(`token ${h.token_id} was minted by another host than ${h.current_host}`);
  const row = mint.row;
  if (h.subject_type === "account") {
    if (!entry.bearer.startsWith("dfoa_")) return bad("account session with a non-dfoa_ token");
    if (!h.account || h.account.id !== row.accountId) return bad(`account ${h.account?.id} does not own token ${h.token_id} (owner ${row.accountId})`);
    const acct = server.accounts.find((a) => a.id === row.accountId)!;
    const member = new Set(acct.memberships.map((m) => m.workspaceId));
    for (const w of h.available_workspaces ?? []) if (!member.has(w.id)) return bad(`workspace ${w.id} is not one of ${acct.email}'s`);
    if (h.workspace && !member.has(h.workspace.id)) return bad(`active workspace ${h.workspace.id} is not one of ${acct.email}'s`);
    if (h.current_workspace_id && !member.has(h.current_workspace_id)) return bad(`current workspace ${h.current_workspace_id} is not one of ${acct.email}'s`);
    if (h.external_sso) return bad("account session with external_sso metadata");
    return { host: h.current_host, tokenId: h.token_id, subject: "account", who: acct.email, workspace: h.current_workspace_id ?? h.workspace?.id ?? null };
  }
  if (!entry.bearer.startsWith("dfoe_")) return bad("external SSO session with a non-dfoe_ token");
  if (!h.external_sso || h.external_sso.email !== row.subjectEmail) return bad(`SSO subject ${h.external_sso?.email} does not own token ${h.token_id}`);
  if (h.account) return bad("external SSO session with account metadata");
  return { host: h.current_host, tokenId: h.token_id, subject: "external_sso", who: row.subjectEmail, workspace: null };
}

// ------------------------------------------------------------------ keychain (Secret Service)
/** A Secret Service on the session bus and secret-tool to read it with: the keychain lanes can run. */
export function keychainAvailable(): boolean {
  if (!process.env.DBUS_SESSION_BUS_ADDRESS) return false;
  try { return Bun.spawnSync(["secret-tool", "search", "--all", "service", "difyctl-availability-check"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0; } catch { return false; }
}

/** The blob stored for `host` (service difyctl, account <host>), read with libsecret's secret-tool. */
export function keychainBlob(host: string): string | null {
  const r = Bun.spawnSync(["secret-tool", "lookup", "service", "difyctl", "username", host], { stdout: "pipe", stderr: "pipe", env: process.env as Record<string, string> });
  const out = r.stdout.toString();
  return r.exitCode === 0 && out ? out : null;
}

/** Accounts of every difyctl item in the Secret Service. */
export function keychainAccounts(): string[] {
  const r = Bun.spawnSync(["secret-tool", "search", "--all", "service", "difyctl"], { stdout: "pipe", stderr: "pipe", env: process.env as Record<string, string> });
  return [...(r.stdout.toString() + r.stderr.toString()).matchAll(/^attribute\.username = (.*)$/gm)].map((m) => m[1]!);
}

/** Removes every difyctl keychain item of these hosts (and their probe items): the keyring is shared with other suites. */
export function keychainCleanup(hosts: string[]): void {
  for (const h of hosts) {
    for (const account of [h, `difyctl-probe:${h}`]) {
      Bun.spawnSync(["secret-tool", "clear", "service", "difyctl", "username", account], { stdout: "ignore", stderr: "ignore", env: process.env as Record<string, string> });
    }
  }
}

/**
 * For a keychain-mode dir: puts the keychain's credential for the session's token id into
 * st.tokens (so sessionOf can check it like a file entry), and returns the keychain debris of
 * these hosts (a carried `previous` token, entries of hosts that are not the current one).
 */
export function loadKeychain(st: DirState, hosts: string[]): string[] {
  const debrisOut: string[] = [];
  const h = st.hosts;
  for (const host of hosts) {
    const raw = keychainBlob(host);
    if (raw === null) continue;
    let blob: any = null;
    try { blob = JSON.parse(raw); } catch { st.problems.push(`keychain entry for ${host} is not JSON`); continue; }
    if (host !== h.current_host || h.token_storage !== "keychain") { debrisOut.push(`keychain entry for ${host}`); continue; }
    if (blob?.previous) debrisOut.push(`keychain entry for ${host} still carries the previous token`);
    const pick = blob?.token_id === h.token_id ? blob : blob?.previous?.token_id === h.token_id ? blob.previous : null;
    if (pick && typeof pick.bearer === "string") st.tokens.tokens[h.token_id!] = { host, bearer: pick.bearer, expires_at: null };
  }
  // Probe entries (`difyctl-probe:<host>`, a nonce, no credential) left by a kill during the probe
  // are cleaned by the next probe of that host only; they hold no secret and are not counted here.
  return debrisOut;
}

/** Temp and lock files, orphan token entries: allowed right after a kill, gone after the next write. */
export function debris(st: DirState): string[] {
  const out = st.leftovers.map((n) => `file ${n}`);
  const live = st.hosts.token_id;
  for (const id of Object.keys(st.tokens.tokens)) if (id !== live) out.push(`orphan token entry ${id}`);
  return out;
}

import { CliError } from "../cli/errors.ts";
import type { StoredCredential, TokenStore } from "./token-store.ts";
import { type Mark, mark, record, timingOn } from "./keychain-timing.ts";
// Static: this module is itself loaded only for keychain sessions, and a second dynamic import
// would cost a module round (~1 ms) on every keychain read.
import { lookupSecret } from "./keychain-secret-service.ts";

mark("keychain: module loaded");

export const KEYCHAIN_SERVICE = "difyctl";
export const PROBE_ACCOUNT_PREFIX = "difyctl-probe:";

/** Main thread ⇄ src/storage/keychain-worker.ts. */
export interface KeyringRequest { id: number; op: "get" | "set" | "delete"; service: string; account: string; value?: string; timing?: boolean }
export interface KeyringResponse {
  id: number; ok: boolean; value?: string | null; stage?: "load" | "op"; message?: string; marks?: Mark[];
  /** The worker removed a damaged copy of the addon: a fresh worker can load a new one. */
  retry?: boolean;
}

/**
 * absent: nothing to talk to (no session bus, no Secret Service provider, no prebuilt addon for
 * this platform) — the normal state of containers and CI, so login falls back silently.
 * locked: the store exists but refused (unlock prompt dismissed or denied).
 * timeout: no answer in time (hung provider, frozen bus, unanswered prompt).
 * load: the addon is there but cannot be loaded (typically a noexec $TMPDIR).
 * error: anything else the store reported.
 */
export type KeyringFailureKind = "absent" | "locked" | "timeout" | "load" | "error";

export class KeyringFailure extends Error {
  constructor(readonly kind: KeyringFailureKind, readonly reason: string) {
    super(reason);
    this.name = "KeyringFailure";
  }
}

/** The three calls difyctl makes on the OS keychain (service `difyctl`); injectable for tests. */
export interface KeyringOps {
  get(account: string): Promise<string | null>;
  set(account: string, value: string): Promise<void>;
  /** True when an entry was deleted, false when there was none. */
  delete(account: string): Promise<boolean>;
}

// Matched against the messages @napi-rs/keyring 2.x reports (measured on Linux; the macOS and
// Windows patterns follow keyring-rs's error texts). Unknown messages are "error": they warn.
const ABSENT = [
  /autolaunch/i, // no DBUS_SESSION_BUS_ADDRESS: "Using X11 for dbus-daemon autolaunch was disabled…"
  /not provided by any \.service files/i, // a session bus without any Secret Service provider
  /ServiceUnknown/i,
  /keychain could not be found|no default keychain/i, // macOS without a default keychain
];
const ABSENT_LOAD = [/Cannot find module/i, /Unsupported (OS|architecture)/i, /Cannot find native binding/i];
// libdbus's own reply timeout (≈2 s in this library): a provider that is activatable but hung.
const TIMEOUT = [/Did not receive a reply/i, /\btimed? ?out\b/i];
const LOCKED = [/prompt was dismissed/i, /\bis locked\b/i, /interaction is not allowed/i, /user (canceled|cancelled)/i, /access (was )?denied by user/i];

export function classifyKeyringMessage(message: string, stage: "load" | "op"): KeyringFailureKind {
  if (stage === "load") return ABSENT_LOAD.some((r) => r.test(message)) && !/map segment/i.test(message) ? "absent" : "load";
  if (ABSENT.some((r) => r.test(message))) return "absent";
  if (LOCKED.some((r) => r.test(message))) return "locked";
  if (TIMEOUT.some((r) => r.test(message))) return "timeout";
  return "error";
}

/** libdbus appends a paragraph of "Possible causes…": the first sentence is the reason. */
export function shortReason(message: string): string {
  let m = message.replace(/\s+/g, " ").trim();
  if (m.length > 120) {
    const stop = m.indexOf(". ", 20);
    if (stop > 0) m = m.slice(0, stop);
  }
  return m.length > 200 ? m.slice(0, 197) + "..." : m;
}

/**
 * Bound on one keychain call. A person at a terminal may be answering an unlock / "allow access"
 * prompt (macOS asks again after the binary changes), so they get longer than a script does.
 * DIFY_KEYRING_TIMEOUT (seconds) overrides both.
 */
export function keyringTimeoutMs(env: Record<string, string | undefined>, interactive: boolean): number {
  const v = Number((env.DIFY_KEYRING_TIMEOUT ?? "").trim());
  if ((env.DIFY_KEYRING_TIMEOUT ?? "").trim() !== "" && Number.isFinite(v) && v > 0) return Math.min(Math.round(v * 1000), 600_000);
  return interactive ? 30_000 : 5_000;
}

/**
 * The worker is the binary's second entry point. In a compiled binary every module sits in one
 * flat virtual directory except the entry points, which keep their folder under src/; from source
 * the worker is this module's neighbour.
 */
function workerEntryUrl(): string {
  return import.meta.url.includes("$bunfs")
    ? new URL("./storage/keychain-worker.ts", import.meta.url).href
    : new URL("./keychain-worker.ts", import.meta.url).href;
}

/** Runs every call in src/storage/keychain-worker.ts and gives up after `timeoutMs`, whatever the addon does. */
export class WorkerKeyring implements KeyringOps {
  private worker: Worker | null = null;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: string | null) => void; reject: (e: unknown) => void; timer: Timer; req: KeyringRequest }>();
  /** A worker is restarted at most once (after it removed a damaged addon copy). */
  private restarted = false;
  /** Once a call timed out the worker may be wedged for good: later calls fail at once. */
  private dead: KeyringFailure | null = null;

  /** `workerUrl` is for tests (a worker that never answers); the default is the real one. */
  constructor(readonly timeoutMs: number, private readonly workerUrl?: string) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    mark("keychain: worker requested");
    const w = new Worker(this.workerUrl ?? workerEntryUrl());
    // The pending call's timer keeps the process alive; an idle (or wedged) worker must not.
    (w as Worker & { unref?: () => void }).unref?.();
    w.onmessage = (ev: MessageEvent<KeyringResponse>) => {
      const r = ev.data;
      if (r.marks) record(r.marks);
      mark("keychain: answer received");
      const p = this.pending.get(r.id);
      if (!p) return;
      if (!r.ok && r.retry && !this.restarted) {
        // The failed import stays failed in that worker: a new one extracts and loads afresh.
        this.restarted = true;
        mark("keychain: damaged addon copy removed");
        w.terminate();
        this.worker = null;
        const fresh = this.start();
        for (const q of this.pending.values()) fresh.postMessage(q.req);
        return;
      }
      this.pending.delete(r.id);
      clearTimeout(p.timer);
      if (r.ok) p.resolve(r.value ?? null);
      else {
        const stage = r.stage ?? "op";
        const msg = r.message ?? "unknown error";
        p.reject(new KeyringFailure(classifyKeyringMessage(msg, stage), shortReason(msg)));
      }
    };
    w.onerror = (ev: ErrorEvent) => this.fail(new KeyringFailure("load", shortReason(ev.message || "the keychain worker failed to start")));
    this.worker = w;
    return w;
  }

  private fail(f: KeyringFailure): void {
    this.dead = f;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(f);
    }
    this.pending.clear();
  }

  private call(op: KeyringRequest["op"], account: string, value?: string, timeoutMs = this.timeoutMs): Promise<string | null> {
    if (this.dead) return Promise.reject(this.dead);
    if (timeoutMs <= 0) return Promise.reject(timeoutFailure(this.timeoutMs));
    let w: Worker;
    try { w = this.start(); } catch (e) {
      return Promise.reject(new KeyringFailure("load", shortReason(String((e as Error)?.message ?? e))));
    }
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(timeoutFailure(this.timeoutMs));
      }, timeoutMs);
      const req: KeyringRequest = { id, op, service: KEYCHAIN_SERVICE, account, value, timing: timingOn || undefined };
      this.pending.set(id, { resolve, reject, timer, req });
      w.postMessage(req);
    });
  }

  /** `timeoutMs`: what is left of a bound another path already started spending. */
  async get(account: string, timeoutMs?: number): Promise<string | null> { return this.call("get", account, undefined, timeoutMs); }
  async set(account: string, value: string): Promise<void> { await this.call("set", account, value); }
  async delete(account: string): Promise<boolean> { return (await this.call("delete", account)) === "deleted"; }
}

function timeoutFailure(ms: number): KeyringFailure {
  return new KeyringFailure("timeout", `no answer within ${ms / 1000} s`);
}

/**
 * How long the library lets one D-Bus call go unanswered (libdbus's reply timeout, measured at
 * 2.0 s). A direct read waits as long for the Secret Service before handing over to the library.
 */
const LIBRARY_REPLY_TIMEOUT_MS = 2_000;

type Lookup = typeof lookupSecret;

/**
 * Linux: a read goes straight to the Secret Service over the session bus (no worker, no addon,
 * plain session; src/storage/keychain-secret-service.ts) and is bounded like any keychain call.
 * What that read cannot answer with certainty — a locked item, an unreachable bus, several
 * matches — and every write go to the worker, which behaves exactly as before.
 */
export class SecretServiceKeyring implements KeyringOps {
  private worker: WorkerKeyring | null = null;

  /**
   * `timeoutMs` bounds a direct read: no unlock prompt can be waiting on it, so it needs no extra
   * time at a terminal. `makeWorker` builds the fallback on first use (it decides its own bound).
   */
  constructor(
    private readonly address: string | undefined,
    private readonly timeoutMs: number,
    private readonly makeWorker: () => WorkerKeyring,
    private readonly lookup: Lookup = lookupSecret,
    private readonly uid = process.getuid?.() ?? 0,
  ) {}

  private fallback(): WorkerKeyring {
    return (this.worker ??= this.makeWorker());
  }

  async get(account: string): Promise<string | null> {
    const t0 = performance.now();
    const r = await this.lookup(this.address, KEYCHAIN_SERVICE, account, {
      timeoutMs: this.timeoutMs, serviceSilenceMs: Math.min(LIBRARY_REPLY_TIMEOUT_MS, this.timeoutMs), uid: this.uid,
    });
    if (r.kind === "value") return r.value;
    if (r.kind === "none") return null;
    if (r.kind === "timeout") throw timeoutFailure(this.timeoutMs);
    mark(`keychain: direct read deferred (${r.reason})`);
    // The fallback spends what is left of its own bound (longer at a terminal, where an unlock
    // prompt may now be shown), never a second full one.
    const w = this.fallback();
    return w.get(account, w.timeoutMs - (performance.now() - t0));
  }
  async set(account: string, value: string): Promise<void> { return this.fallback().set(account, value); }
  async delete(account: string): Promise<boolean> { return this.fallback().delete(account); }
}

let shared: KeyringOps | null = null;

/**
 * One keychain per process, shared by the login probe and the token store. DIFY_KEYRING_DIRECT=0
 * sends reads through the library too (a provider that mishandles the direct read).
 */
export function defaultKeyring(): KeyringOps {
  if (!shared) {
    const env = process.env as Record<string, string | undefined>;
    const worker = () => {
      const { isatty } = require("node:tty") as typeof import("node:tty");
      return new WorkerKeyring(keyringTimeoutMs(env, isatty(0) && isatty(2)));
    };
    shared = process.platform === "linux" && env.DIFY_KEYRING_DIRECT !== "0"
      ? new SecretServiceKeyring(env.DBUS_SESSION_BUS_ADDRESS, keyringTimeoutMs(env, false), worker)
      : worker();
  }
  return shared;
}

const WHAT: Record<KeyringFailureKind, string> = {
  absent: "no OS keychain is reachable",
  locked: "the OS keychain is locked or refused access",
  timeout: "the OS keychain did not answer",
  load: "the OS keychain library could not load",
  error: "the OS keychain reported an error",
};

/** One clause describing a failure, for messages and warnings. */
export function describeFailure(f: KeyringFailure): string {
  return `${WHAT[f.kind]} (${f.reason})`;
}

export const TMPDIR_ADVICE = "if $TMPDIR is mounted noexec, set TMPDIR to a directory that allows executables (e.g. TMPDIR=$HOME/.cache)";

/**
 * What to do when the keychain library cannot load. Unix: the addon is unpacked into $TMPDIR, and
 * a noexec mount is the usual cause. Windows has no noexec: the addon imports VCRUNTIME140.dll, so
 * a machine without the Visual C++ 2015+ runtime cannot load it — unless the loader said access was
 * denied, which is security software or an application-control policy refusing DLLs in %TEMP%.
 * Windows reports these in the user's language: only the English words are recognised.
 */
export function loadAdvice(reason: string, platform: string = process.platform, arch: string = process.arch): string {
  if (platform !== "win32") return TMPDIR_ADVICE;
  if (/access is denied|blocked|policy/i.test(reason)) {
    return "security software or an application-control policy may be blocking DLLs in %TEMP%: allow difyctl, or set TEMP and TMP to another folder";
  }
  const a = arch === "arm64" ? "arm64" : arch === "ia32" ? "x86" : "x64";
  return `install the Microsoft Visual C++ 2015+ Redistributable (${a}), which provides the VCRUNTIME140.dll the keychain library needs (winget install Microsoft.VCRedist.2015+.${a})`;
}

/** What to do about a failure, when the token must be in the keychain. */
export function failureHint(f: KeyringFailure, fallback: string): string {
  switch (f.kind) {
    case "absent": return process.platform === "linux"
      ? `run where a Secret Service is reachable (a desktop session; DBUS_SESSION_BUS_ADDRESS set); ${fallback}`
      : `run where the OS keychain is available; ${fallback}`;
    case "locked": return `unlock the OS keychain (the login keyring / macOS Keychain) and retry; ${fallback}`;
    case "timeout": return `answer any keychain prompt, check the Secret Service is responsive, or raise DIFY_KEYRING_TIMEOUT (seconds); ${fallback}`;
    case "load": return `${loadAdvice(f.reason)}; ${fallback}`;
    default: return `retry; ${fallback}`;
  }
}

/** Keychain trouble while a session depends on it: exit 4, never "not logged in". */
export function keyringCliError(e: unknown, doing: string): CliError {
  if (!(e instanceof KeyringFailure)) return e instanceof CliError ? e : new CliError("keyring_unavailable", `cannot ${doing}: ${shortReason(String((e as Error)?.message ?? e))}`);
  return new CliError("keyring_unavailable", `cannot ${doing}: ${describeFailure(e)}`, {
    hint: failureHint(e, "or sign in again with 'difyctl auth login --no-keyring' to keep the token in a file"),
    details: { keyring: e.kind },
  });
}

/** The credential a login replaced, carried in the blob until the new session is committed. */
function parsePrevious(raw: string): StoredCredential | null {
  try {
    const p = (JSON.parse(raw) as Record<string, unknown>)?.previous;
    return p && typeof p === "object" ? parseBlob(JSON.stringify(p)) : null;
  } catch {
    return null;
  }
}

function parseBlob(raw: string): StoredCredential | null {
  try {
    const b = JSON.parse(raw) as Record<string, unknown>;
    if (!b || typeof b !== "object" || typeof b.bearer !== "string" || typeof b.token_id !== "string") return null;
    return { bearer: b.bearer, source: "oauth", token_id: b.token_id, expires_at: typeof b.expires_at === "string" ? b.expires_at : null };
  } catch {
    return null;
  }
}

/**
 * Keychain backend: service `difyctl`, account `<host>`, value the credential's JSON blob. One entry
 * per host, so `put` replaces that host's token before hosts.yml commits. To keep a crash between
 * the two from losing the old session, `put` carries the replaced credential along as `previous`
 * until `prune` (after the commit) drops it: hosts.yml still naming the old token_id then finds it.
 * A blob for any other token_id is not this session's (hosts.yml is authoritative).
 */
export class KeychainTokenStore implements TokenStore {
  readonly kind = "keychain" as const;

  constructor(private readonly ops: KeyringOps = defaultKeyring()) {}

  async get(host: string, tokenId: string): Promise<StoredCredential | null> {
    let raw: string | null;
    try { raw = await this.ops.get(host); } catch (e) { throw keyringCliError(e, `read the token for ${host} from the OS keychain`); }
    if (raw === null) return null;
    const blob = parseBlob(raw);
    // hosts.yml is authoritative; a blob for another token is not this session's.
    if (blob && blob.token_id === tokenId) return blob;
    const previous = parsePrevious(raw);
    return previous && previous.token_id === tokenId ? previous : null;
  }

  async put(host: string, cred: StoredCredential): Promise<void> {
    let previous: StoredCredential | null = null;
    try {
      const raw = await this.ops.get(host);
      const old = raw === null ? null : parseBlob(raw);
      if (old && old.token_id !== cred.token_id) previous = old;
    } catch { /* unreadable: the write below reports the trouble */ }
    const blob = JSON.stringify({
      bearer: cred.bearer, source: "oauth", token_id: cred.token_id, expires_at: cred.expires_at ?? null,
      ...(previous ? { previous: { bearer: previous.bearer, source: "oauth", token_id: previous.token_id, expires_at: previous.expires_at } } : {}),
    });
    try { await this.ops.set(host, blob); } catch (e) { throw keyringCliError(e, `store the token in the OS keychain`); }
  }

  async prune(host: string, keep: { host: string; tokenId: string } | null): Promise<void> {
    // One entry per host: the kept token already replaced this host's entry; drop the carried previous one.
    if (keep && keep.host === host) {
      let raw: string | null = null;
      try { raw = await this.ops.get(host); } catch { return; }
      const blob = raw === null ? null : parseBlob(raw);
      if (blob && blob.token_id === keep.tokenId && parsePrevious(raw!)) {
        try { await this.ops.set(host, JSON.stringify({ bearer: blob.bearer, source: "oauth", token_id: blob.token_id, expires_at: blob.expires_at })); } catch { /* best effort */ }
      }
      return;
    }
    try { await this.ops.delete(host); } catch (e) { throw keyringCliError(e, `remove the token for ${host} from the OS keychain`); }
  }
}

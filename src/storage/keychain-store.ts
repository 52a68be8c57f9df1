import { CliError } from "../cli/errors.ts";
import type { StoredCredential, TokenStore } from "./token-store.ts";

export const KEYCHAIN_SERVICE = "difyctl";
export const PROBE_ACCOUNT_PREFIX = "difyctl-probe:";

/** Main thread ⇄ src/storage/keychain-worker.ts. */
export interface KeyringRequest { id: number; op: "get" | "set" | "delete"; service: string; account: string; value?: string }
export interface KeyringResponse { id: number; ok: boolean; value?: string | null; stage?: "load" | "op"; message?: string }

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
  private readonly pending = new Map<number, { resolve: (v: string | null) => void; reject: (e: unknown) => void; timer: Timer }>();
  /** Once a call timed out the worker may be wedged for good: later calls fail at once. */
  private dead: KeyringFailure | null = null;

  /** `workerUrl` is for tests (a worker that never answers); the default is the real one. */
  constructor(private readonly timeoutMs: number, private readonly workerUrl?: string) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.workerUrl ?? workerEntryUrl());
    // The pending call's timer keeps the process alive; an idle (or wedged) worker must not.
    (w as Worker & { unref?: () => void }).unref?.();
    w.onmessage = (ev: MessageEvent<KeyringResponse>) => {
      const r = ev.data;
      const p = this.pending.get(r.id);
      if (!p) return;
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

  private call(op: KeyringRequest["op"], account: string, value?: string): Promise<string | null> {
    if (this.dead) return Promise.reject(this.dead);
    let w: Worker;
    try { w = this.start(); } catch (e) {
      return Promise.reject(new KeyringFailure("load", shortReason(String((e as Error)?.message ?? e))));
    }
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new KeyringFailure("timeout", `no answer within ${this.timeoutMs / 1000} s`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      w.postMessage({ id, op, service: KEYCHAIN_SERVICE, account, value } satisfies KeyringRequest);
    });
  }

  async get(account: string): Promise<string | null> { return this.call("get", account); }
  async set(account: string, value: string): Promise<void> { await this.call("set", account, value); }
  async delete(account: string): Promise<boolean> { return (await this.call("delete", account)) === "deleted"; }
}

let shared: KeyringOps | null = null;

/** One worker per process, shared by the login probe and the token store. */
export function defaultKeyring(): KeyringOps {
  if (!shared) {
    const { isatty } = require("node:tty") as typeof import("node:tty");
    shared = new WorkerKeyring(keyringTimeoutMs(process.env as Record<string, string | undefined>, isatty(0) && isatty(2)));
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

/** What to do about a failure, when the token must be in the keychain. */
export function failureHint(f: KeyringFailure, fallback: string): string {
  switch (f.kind) {
    case "absent": return process.platform === "linux"
      ? `run where a Secret Service is reachable (a desktop session; DBUS_SESSION_BUS_ADDRESS set); ${fallback}`
      : `run where the OS keychain is available; ${fallback}`;
    case "locked": return `unlock the OS keychain (the login keyring / macOS Keychain) and retry; ${fallback}`;
    case "timeout": return `answer any keychain prompt, check the Secret Service is responsive, or raise DIFY_KEYRING_TIMEOUT (seconds); ${fallback}`;
    case "load": return `${TMPDIR_ADVICE}; ${fallback}`;
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
 * Keychain backend: service `difyctl`, account `<host>`, value the seed-003 JSON blob. One entry
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
    // Seed 003: hosts.yml is authoritative; a blob for another token is not this session's.
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

// Keychain runtime without a keychain: failure classification, the login probe, the storage
// decision and the token store, each against injected keyring functions.
import { describe, expect, test } from "bun:test";
import { CliError } from "../src/cli/errors.ts";
import { probeKeychain } from "../src/storage/keychain-probe.ts";
import {
  classifyKeyringMessage, KeychainTokenStore, KeyringFailure, type KeyringFailureKind, type KeyringOps, keyringTimeoutMs, shortReason, WorkerKeyring,
} from "../src/storage/keychain-store.ts";
import { decideStorage, storagePolicy } from "../src/storage/storage-policy.ts";

/** An in-memory keychain that records calls and can fail on chosen operations. */
function fakeKeyring(opts: { fail?: Partial<Record<"get" | "set" | "delete", KeyringFailure>>; corruptReads?: boolean } = {}) {
  const entries = new Map<string, string>();
  const calls: string[] = [];
  const ops: KeyringOps = {
    async get(a) {
      calls.push(`get ${a}`);
      if (opts.fail?.get) throw opts.fail.get;
      const v = entries.get(a) ?? null;
      return v !== null && opts.corruptReads ? v + "x" : v;
    },
    async set(a, v) {
      calls.push(`set ${a}`);
      if (opts.fail?.set) throw opts.fail.set;
      entries.set(a, v);
    },
    async delete(a) {
      calls.push(`delete ${a}`);
      if (opts.fail?.delete) throw opts.fail.delete;
      return entries.delete(a);
    },
  };
  return { ops, entries, calls };
}

describe("classifying what @napi-rs/keyring reports", () => {
  // Messages as measured on Linux (reference §3) plus keyring-rs's macOS texts.
  const cases: [string, "load" | "op", KeyringFailureKind][] = [
    ["Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead", "op", "absent"],
    ["Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files", "op", "absent"],
    ["Platform failure: The specified keychain could not be found.", "op", "absent"],
    ["Platform failure: DBus error: Failed to connect to socket /nonexistent/bus: No such file or directory", "op", "error"],
    ["Couldn't access platform storage: Secret Service: no result found", "op", "error"],
    ["Couldn't access platform storage: Secret Service: unlock prompt was dismissed", "op", "locked"],
    ["Platform failure: User interaction is not allowed.", "op", "locked"],
    ["Platform failure: DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply", "op", "timeout"],
    ["/tmp/noexec/.bun-0-b03e5ed0aa075763.node: failed to map segment from shared object", "load", "load"],
    ["Cannot find module '@napi-rs/keyring-linux-x64-gnu' from '/$bunfs/root/difyctl'", "load", "absent"],
    ["EACCES: permission denied, open '/tmp/ro/.bun-0-x.node'", "load", "load"],
  ];
  for (const [msg, stage, kind] of cases) {
    test(`${stage}: ${msg.slice(0, 70)} → ${kind}`, () => expect(classifyKeyringMessage(msg, stage)).toBe(kind));
  }

  test("libdbus's paragraph of possible causes is cut to its first sentence", () => {
    const long = "Platform failure: DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply, the reply timeout expired, or the network connection was broken.";
    expect(shortReason(long)).toBe("Platform failure: DBus error: Did not receive a reply");
    expect(shortReason("short\n message")).toBe("short message");
    expect(shortReason("x".repeat(500)).length).toBe(200);
  });

  test("timeout: 5 s for scripts, 30 s at a terminal (an unlock prompt may be waiting), DIFY_KEYRING_TIMEOUT wins", () => {
    expect(keyringTimeoutMs({}, false)).toBe(5000);
    expect(keyringTimeoutMs({}, true)).toBe(30_000);
    expect(keyringTimeoutMs({ DIFY_KEYRING_TIMEOUT: "1.5" }, true)).toBe(1500);
    expect(keyringTimeoutMs({ DIFY_KEYRING_TIMEOUT: "nope" }, false)).toBe(5000);
    expect(keyringTimeoutMs({ DIFY_KEYRING_TIMEOUT: "0" }, false)).toBe(5000);
    expect(keyringTimeoutMs({ DIFY_KEYRING_TIMEOUT: "99999" }, false)).toBe(600_000);
  });
});

describe("the login probe", () => {
  test("Set → Get → Delete of difyctl-probe:<host>, nothing left behind", async () => {
    const k = fakeKeyring();
    expect(await probeKeychain(k.ops, "dify.internal")).toEqual({ ok: true });
    expect(k.calls).toEqual(["set difyctl-probe:dify.internal", "get difyctl-probe:dify.internal", "delete difyctl-probe:dify.internal"]);
    expect(k.entries.size).toBe(0);
  });

  test("a failed write reports its kind and tries no further call", async () => {
    const k = fakeKeyring({ fail: { set: new KeyringFailure("absent", "no bus") } });
    const r = await probeKeychain(k.ops, "h");
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.failure.kind, r.failure.reason]).toEqual(["absent", "no bus"]);
    expect(k.calls).toEqual(["set difyctl-probe:h"]);
  });

  test("a read that fails after a successful write still deletes the sentinel", async () => {
    const k = fakeKeyring({ fail: { get: new KeyringFailure("locked", "prompt dismissed") } });
    const r = await probeKeychain(k.ops, "h");
    expect(!r.ok && r.failure.kind).toBe("locked");
    expect(k.calls).toEqual(["set difyctl-probe:h", "get difyctl-probe:h", "delete difyctl-probe:h"]);
    expect(k.entries.size).toBe(0);
  });

  test("a value that does not read back is an error, and the sentinel is deleted", async () => {
    const k = fakeKeyring({ corruptReads: true });
    const r = await probeKeychain(k.ops, "h");
    expect(!r.ok && r.failure.kind).toBe("error");
    expect(k.entries.size).toBe(0);
  });

  test("a non-KeyringFailure exception becomes an error outcome, never a throw", async () => {
    const ops: KeyringOps = { get: async () => null, set: async () => { throw new TypeError("boom\nstack"); }, delete: async () => false };
    const r = await probeKeychain(ops, "h");
    expect(!r.ok && [r.failure.kind, r.failure.reason]).toEqual(["error", "boom"]);
  });
});

describe("storage policy", () => {
  test("env and flag matrix", () => {
    expect(storagePolicy({}, false)).toBe("auto");
    expect(storagePolicy({ DIFY_TOKEN_STORAGE: "auto" }, false)).toBe("auto");
    expect(storagePolicy({ DIFY_TOKEN_STORAGE: " Keychain " }, false)).toBe("keychain");
    expect(storagePolicy({ DIFY_TOKEN_STORAGE: "file" }, false)).toBe("file");
    expect(storagePolicy({ DIFY_CREDENTIAL_STORAGE: "file" }, false)).toBe("file");
    expect(storagePolicy({}, true)).toBe("file");
    expect(storagePolicy({ DIFY_TOKEN_STORAGE: "auto", DIFY_CREDENTIAL_STORAGE: "file" }, false)).toBe("file");
  });

  test("invalid values and contradictions are refused with their exit codes", () => {
    const code = (f: () => unknown) => { try { f(); } catch (e) { return [(e as CliError).code, (e as CliError).exitCode]; } return null; };
    expect(code(() => storagePolicy({ DIFY_TOKEN_STORAGE: "vault" }, false))).toEqual(["config_invalid_value", 2]);
    expect(code(() => storagePolicy({ DIFY_CREDENTIAL_STORAGE: "keychain" }, false))).toEqual(["config_invalid_value", 2]);
    expect(code(() => storagePolicy({ DIFY_TOKEN_STORAGE: "keychain" }, true))).toEqual(["usage_invalid_flag", 2]);
    expect(code(() => storagePolicy({ DIFY_TOKEN_STORAGE: "keychain", DIFY_CREDENTIAL_STORAGE: "file" }, false))).toEqual(["usage_invalid_flag", 2]);
  });

  const P = "/cfg/tokens.yml";
  const failed = (kind: KeyringFailureKind, reason = "why") => ({ ok: false as const, failure: new KeyringFailure(kind, reason) });

  test("probe ok → keychain, no notice", () => {
    expect(decideStorage("auto", { ok: true }, P)).toEqual({ kind: "keychain", notices: [] });
    expect(decideStorage("keychain", { ok: true }, P)).toEqual({ kind: "keychain", notices: [] });
  });

  test("no service → file with exactly seed 003's info line", () => {
    expect(decideStorage("auto", failed("absent"), P)).toEqual({ kind: "file", notices: ["info: OS keychain unavailable; token will be stored in /cfg/tokens.yml (0600)."] });
  });

  test("a service that fails → file plus one warning naming the cause", () => {
    for (const kind of ["error", "timeout", "locked", "load"] as const) {
      const c = decideStorage("auto", failed(kind, "the reason"), P);
      expect(c.kind).toBe("file");
      expect(c.notices).toHaveLength(1);
      expect(c.notices[0]).toStartWith("warning: ");
      expect(c.notices[0]).toContain("(the reason); token will be stored in /cfg/tokens.yml (0600).");
    }
    expect(decideStorage("auto", failed("load"), P).notices[0]).toContain("TMPDIR");
    expect(decideStorage("auto", failed("locked"), P).notices[0]).toContain("unlock it and log in again");
  });

  test("keychain required but unusable → keyring_unavailable, exit 4, with a hint per cause", () => {
    const hints: Record<string, RegExp> = { absent: process.platform === "linux" ? /DBUS_SESSION_BUS_ADDRESS/ : /keychain is available/, locked: /unlock/, timeout: /DIFY_KEYRING_TIMEOUT/, load: /TMPDIR/, error: /retry/ };
    for (const [kind, hint] of Object.entries(hints)) {
      let err: CliError | null = null;
      try { decideStorage("keychain", failed(kind as KeyringFailureKind), P); } catch (e) { err = e as CliError; }
      expect(err).toBeInstanceOf(CliError);
      expect([err!.code, err!.exitCode]).toEqual(["keyring_unavailable", 4]);
      expect(err!.message).toStartWith("DIFY_TOKEN_STORAGE=keychain but ");
      expect(err!.hint).toMatch(hint);
      expect(err!.hint).toContain("DIFY_TOKEN_STORAGE=file");
    }
  });
});

describe("the keychain token store", () => {
  const cred = { bearer: "dfoa_" + "a".repeat(43), source: "oauth" as const, token_id: "tid-1", expires_at: null };

  test("put writes seed 003's JSON blob under account <host>", async () => {
    const k = fakeKeyring();
    await new KeychainTokenStore(k.ops).put("dify.internal", cred);
    expect([...k.entries.keys()]).toEqual(["dify.internal"]);
    expect(JSON.parse(k.entries.get("dify.internal")!)).toEqual({ bearer: cred.bearer, source: "oauth", token_id: "tid-1", expires_at: null });
  });

  test("get: matching token_id → the credential; other token_id, corrupt blob or no entry → logged out", async () => {
    const k = fakeKeyring();
    const store = new KeychainTokenStore(k.ops);
    expect(await store.get("h", "tid-1")).toBeNull();
    await store.put("h", cred);
    expect(await store.get("h", "tid-1")).toEqual(cred);
    expect(await store.get("h", "tid-2")).toBeNull(); // an interrupted login: new blob, old metadata
    k.entries.set("h", "not json");
    expect(await store.get("h", "tid-1")).toBeNull();
    k.entries.set("h", JSON.stringify({ token_id: "tid-1" }));
    expect(await store.get("h", "tid-1")).toBeNull();
  });

  test("a keychain that fails is keyring_unavailable (exit 4) with a hint, never 'logged out'", async () => {
    for (const kind of ["absent", "locked", "timeout", "load", "error"] as const) {
      const k = fakeKeyring({ fail: { get: new KeyringFailure(kind, "r"), set: new KeyringFailure(kind, "r"), delete: new KeyringFailure(kind, "r") } });
      const store = new KeychainTokenStore(k.ops);
      for (const op of [() => store.get("h", "t"), () => store.put("h", cred), () => store.prune("h", null)]) {
        const err = await op().then(() => null, (e) => e as CliError);
        expect(err).toBeInstanceOf(CliError);
        expect([err!.code, err!.exitCode, err!.details]).toEqual(["keyring_unavailable", 4, { keyring: kind }]);
        expect(err!.hint).toContain("--no-keyring");
      }
    }
  });

  test("prune: the kept host's entry stays (it was just overwritten); any other host's goes", async () => {
    const k = fakeKeyring();
    const store = new KeychainTokenStore(k.ops);
    await store.put("a", cred);
    await store.put("b", { ...cred, token_id: "tid-2" });
    await store.prune("a", { host: "a", tokenId: "tid-1" });
    expect(k.calls.filter((c) => c.startsWith("delete"))).toEqual([]);
    await store.prune("b", { host: "a", tokenId: "tid-1" });
    await store.prune("a", null);
    expect(k.entries.size).toBe(0);
  });
});

describe("the worker-backed keyring", () => {
  // A worker that never answers stands in for a frozen D-Bus or an unanswered unlock prompt.
  const silent = URL.createObjectURL(new Blob(["self.onmessage = () => {};"], { type: "application/javascript" }));

  test("a call that gets no answer fails as 'timeout' after the bound, and later calls fail at once", async () => {
    const k = new WorkerKeyring(150, silent);
    const t0 = performance.now();
    const e1 = await k.get("h").then(() => null, (e) => e as KeyringFailure);
    const took = performance.now() - t0;
    expect(e1).toBeInstanceOf(KeyringFailure);
    expect(e1!.kind).toBe("timeout");
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(2000);
    const t1 = performance.now();
    const e2 = await k.set("h", "v").then(() => null, (e) => e as KeyringFailure);
    expect(e2!.kind).toBe("timeout");
    expect(performance.now() - t1).toBeLessThan(50);
  });

  test("a worker that cannot start is a 'load' failure", async () => {
    const k = new WorkerKeyring(2000, URL.createObjectURL(new Blob(["throw new Error('no addon here')"], { type: "application/javascript" })));
    const e = await k.get("h").then(() => null, (err) => err as KeyringFailure);
    expect(e).toBeInstanceOf(KeyringFailure);
    expect(e!.kind).toBe("load");
  });
});

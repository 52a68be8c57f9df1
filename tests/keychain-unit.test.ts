// Keychain runtime without a keychain: failure classification, the login probe, the storage
// decision and the token store, each against injected keyring functions; the D-Bus wire format
// and the direct Secret Service read against a scripted bus on a Unix socket.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "../src/cli/errors.ts";
import { dropDamagedCopy } from "../src/storage/keychain-addon.ts";
import { busSocketPath, marshalCall, marshalReply, type Message, messageReader, splitSignature } from "../src/storage/keychain-dbus.ts";
import { probeKeychain } from "../src/storage/keychain-probe.ts";
import {
  authBytes, GET_SECRETS_HEADER_HEX, getSecretsBody, HELLO_AND_PLAIN_SESSION_HEX, type LookupResult, lookupSecret, SEARCH_ITEMS_HEADER_HEX, searchItemsBody, withBody,
} from "../src/storage/keychain-secret-service.ts";
import {
  classifyKeyringMessage, KeychainTokenStore, KeyringFailure, type KeyringFailureKind, type KeyringOps, keyringTimeoutMs, loadAdvice,
  SecretServiceKeyring, shortReason, TMPDIR_ADVICE, WorkerKeyring,
} from "../src/storage/keychain-store.ts";
import { decideStorage, storagePolicy } from "../src/storage/storage-policy.ts";
import { tempDir } from "./helpers.ts";

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
  // Messages as measured on Linux plus keyring-rs's macOS texts.
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

  test("no service → file with exactly the documented info line", () => {
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

  test("put writes the credential's JSON blob under account <host>", async () => {
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

describe("the keychain library's load hint, by platform", () => {
  test("Windows names the VC++ 2015+ runtime (VCRUNTIME140.dll), never a noexec TMPDIR", () => {
    for (const reason of ["LoadLibrary failed: The specified module could not be found.", "LoadLibrary failed: Le module spécifié est introuvable.", "error 126"]) {
      const a = loadAdvice(reason, "win32", "x64");
      expect(a).toContain("Visual C++ 2015+");
      expect(a).toContain("VCRUNTIME140.dll");
      expect(a).toContain("Microsoft.VCRedist.2015+.x64");
      expect(a).not.toContain("TMPDIR");
      expect(a).not.toContain("noexec");
    }
    expect(loadAdvice("LoadLibrary failed: The specified module could not be found.", "win32", "arm64")).toContain("Microsoft.VCRedist.2015+.arm64");
  });

  test("Windows: a loader that was denied access points at the policy blocking %TEMP%", () => {
    const a = loadAdvice("LoadLibrary failed: Access is denied.", "win32", "x64");
    expect(a).toContain("%TEMP%");
    expect(a).not.toContain("TMPDIR");
  });

  test("Linux and macOS keep the noexec TMPDIR advice", () => {
    expect(loadAdvice("/tmp/.bun-0-x.node: failed to map segment from shared object", "linux", "x64")).toBe(TMPDIR_ADVICE);
    expect(loadAdvice("dlopen failed", "darwin", "arm64")).toBe(TMPDIR_ADVICE);
  });
});

describe("a damaged copy of the addon in Bun's cache", () => {
  const uid = process.getuid?.() ?? 0;
  const copy = () => {
    const dir = tempDir("difyctl-addon-");
    const p = join(dir, `.bun-${uid}-b03e5ed0aa075763.node`);
    writeFileSync(p, new Uint8Array(4096), { mode: 0o600 });
    return p;
  };

  test("one the loader rejects as malformed, and ours, is removed (a fresh worker re-extracts it)", () => {
    for (const why of ["invalid ELF header", "file too short", "ELF load command address/offset not page-aligned"]) {
      const p = copy();
      expect(dropDamagedCopy(`${p}: ${why}`, uid)).toBe(true);
      expect(existsSync(p)).toBe(false);
    }
  });

  test("anything else is left alone: noexec, another uid's name, a symlink, an unrelated path", () => {
    const p = copy();
    expect(dropDamagedCopy(`${p}: failed to map segment from shared object`, uid)).toBe(false);
    expect(dropDamagedCopy(p.replace(`.bun-${uid}-`, `.bun-${uid + 1}-`) + ": invalid ELF header", uid)).toBe(false);
    const link = join(tempDir("difyctl-addon-"), `.bun-${uid}-0123456789abcdef.node`);
    symlinkSync(p, link);
    expect(dropDamagedCopy(`${link}: invalid ELF header`, uid)).toBe(false);
    expect(existsSync(link)).toBe(true);
    const other = join(tempDir("difyctl-addon-"), "keyring.node");
    writeFileSync(other, "x");
    expect(dropDamagedCopy(`${other}: invalid ELF header`, uid)).toBe(false);
    expect(existsSync(p) && existsSync(other)).toBe(true);
  });

  test("the worker that removed it is replaced once, and the call is answered by the fresh one", async () => {
    const flag = join(tempDir("difyctl-retry-"), "first-done");
    // First worker: "I removed a damaged copy"; every later worker answers.
    const src = `const fs = require("node:fs");
      self.onmessage = (ev) => {
        if (!fs.existsSync(${JSON.stringify(flag)})) { fs.writeFileSync(${JSON.stringify(flag)}, ""); postMessage({ id: ev.data.id, ok: false, stage: "load", message: "x.node: invalid ELF header", retry: true }); }
        else postMessage({ id: ev.data.id, ok: true, value: "from the fresh worker" });
      };`;
    const k = new WorkerKeyring(5000, URL.createObjectURL(new Blob([src], { type: "application/javascript" })));
    expect(await k.get("h")).toBe("from the fresh worker");
  });

  test("a second damaged load is reported, not retried forever", async () => {
    const src = `self.onmessage = (ev) => postMessage({ id: ev.data.id, ok: false, stage: "load", message: "/t/.bun-0-ab.node: invalid ELF header", retry: true });`;
    const k = new WorkerKeyring(5000, URL.createObjectURL(new Blob([src], { type: "application/javascript" })));
    const e = await k.get("h").then(() => null, (err) => err as KeyringFailure);
    expect(e).toBeInstanceOf(KeyringFailure);
    expect(e!.kind).toBe("load");
  });
});

describe("D-Bus wire format", () => {
  test("session bus addresses: the first unix path or abstract socket, escapes decoded", () => {
    expect(busSocketPath("unix:path=/run/user/1000/bus")).toBe("/run/user/1000/bus");
    expect(busSocketPath("unix:path=/tmp/dbus-X,guid=0138cd8d")).toBe("/tmp/dbus-X");
    expect(busSocketPath("unix:abstract=/tmp/dbus-Y,guid=1")).toBe("\0/tmp/dbus-Y");
    expect(busSocketPath("tcp:host=localhost,port=1;unix:path=/b%20us")).toBe("/b us");
    expect(busSocketPath("unix:path=/a%00b")).toBeNull();
    expect(busSocketPath("unix:path=%zz")).toBeNull();
    expect(busSocketPath("unix:tmpdir=/tmp")).toBeNull();
    expect(busSocketPath("tcp:host=localhost,port=1")).toBeNull();
    expect(busSocketPath("")).toBeNull();
    expect(busSocketPath(undefined)).toBeNull();
  });

  test("EXTERNAL authentication sends the uid's decimal digits hex-encoded, then BEGIN", () => {
    expect(new TextDecoder().decode(authBytes(1000))).toBe("\0AUTH EXTERNAL 31303030\r\nBEGIN\r\n");
    expect(new TextDecoder().decode(authBytes(0))).toBe("\0AUTH EXTERNAL 30\r\nBEGIN\r\n");
    expect(new TextDecoder().decode(authBytes(4294967294))).toBe("\0AUTH EXTERNAL 34323934393637323934\r\nBEGIN\r\n");
  });

  test("the calls a read sends, kept as bytes, are exactly what the marshaller makes of them", () => {
    const ss = { destination: "org.freedesktop.secrets", path: "/org/freedesktop/secrets", iface: "org.freedesktop.Secret.Service" };
    const hello = marshalCall(1, { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", iface: "org.freedesktop.DBus", member: "Hello" });
    const open = marshalCall(2, { ...ss, member: "OpenSession", signature: "sv", body: ["plain", { sig: "s", value: "" }] });
    expect(HELLO_AND_PLAIN_SESSION_HEX).toBe(Buffer.concat([hello, open]).toString("hex"));
    for (const account of ["dify.example.com", "127.0.0.1:5001", "dify.例え.jp", "", "x".repeat(300)]) {
      const search = marshalCall(3, { ...ss, member: "SearchItems", signature: "a{ss}", body: [{ service: "difyctl", username: account }] });
      expect(Buffer.from(withBody(SEARCH_ITEMS_HEADER_HEX, searchItemsBody("difyctl", account))).toString("hex")).toBe(Buffer.from(search).toString("hex"));
    }
    for (const [item, session] of [["/org/freedesktop/secrets/collection/login/12", "/org/freedesktop/secrets/session/s7"], ["/a", "/b/ü"]]) {
      const gets = marshalCall(4, { ...ss, member: "GetSecrets", signature: "aoo", body: [[item], session] });
      expect(Buffer.from(withBody(GET_SECRETS_HEADER_HEX, getSecretsBody(item, session))).toString("hex")).toBe(Buffer.from(gets).toString("hex"));
    }
  });

  test("a Hello call is laid out as libdbus lays out its own (as captured from the library)", () => {
    const b = marshalCall(1, { destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", iface: "org.freedesktop.DBus", member: "Hello" });
    const hex = Buffer.from(b).toString("hex");
    // 'l', METHOD_CALL, flags 0, version 1, body length 0, serial 1, header fields 110 bytes;
    // then PATH (1) as an 'o' of 21 bytes: "l\1\0\1\0\0\0\0\1\0\0\0n\0\0\0\1\1o\0\25\0\0\0/org/fre".
    expect(hex.slice(0, 48)).toBe("6c01000100000000010000006e00000001016f0015000000");
    expect(Buffer.from(b.subarray(24, 45)).toString()).toBe("/org/freedesktop/DBus");
    expect(b.length).toBe(128); // 16 + 110, padded to 8: the library's Hello is 128 bytes too
  });

  test("calls and replies survive a round trip through the reader, whole or a byte at a time", () => {
    const call = marshalCall(7, { destination: "org.freedesktop.secrets", path: "/org/freedesktop/secrets", iface: "org.freedesktop.Secret.Service", member: "SearchItems", signature: "a{ss}", body: [{ service: "difyctl", username: "dify.例え.jp" }] });
    const reply = marshalReply(9, 7, "(oayays)", [["/s/1", new Uint8Array([1, 2]), new TextEncoder().encode("sécret"), "text/plain"]]);
    const err = marshalReply(10, 8, "s", ["no such thing"], "org.freedesktop.DBus.Error.ServiceUnknown");
    const all = new Uint8Array([...call, ...reply, ...err]);
    for (const step of [all.length, 1, 5]) {
      const r = messageReader();
      const got: Message[] = [];
      for (let i = 0; i < all.length; i += step) {
        r.push(all.subarray(i, i + step));
        for (let m = r.next(); m; m = r.next()) got.push(m);
      }
      expect(got.map((m) => [m.type, m.serial, m.member ?? null, m.replySerial ?? null, m.errorName ?? null])).toEqual([
        [1, 7, "SearchItems", null, null], [2, 9, null, 7, null], [3, 10, null, 8, "org.freedesktop.DBus.Error.ServiceUnknown"],
      ]);
      expect(got[0].body).toEqual([[["service", "difyctl"], ["username", "dify.例え.jp"]]]);
      const [session, params, value, type] = got[1].body[0] as [string, Uint8Array, Uint8Array, string];
      expect([session, [...params], new TextDecoder().decode(value), type]).toEqual(["/s/1", [1, 2], "sécret", "text/plain"]);
      expect(got[2].body).toEqual(["no such thing"]);
    }
  });

  test("malformed input throws instead of being guessed at", () => {
    const good = marshalReply(2, 1, "s", ["x"]);
    const bad = (mutate: (b: Uint8Array) => void) => {
      const b = good.slice();
      mutate(b);
      const r = messageReader();
      r.push(b);
      return () => r.next();
    };
    expect(bad((b) => { b[0] = 0x51; })).toThrow(); // no endianness mark
    expect(bad((b) => { b[4] = 0xff; b[5] = 0xff; b[6] = 0xff; b[7] = 0x7f; })).toThrow(); // body far too large
    expect(bad((b) => { b[b.length - 6] = 0xff; })).toThrow(); // string longer than the body
    expect(() => splitSignature("a")).toThrow();
    expect(() => splitSignature("(ss")).toThrow();
    expect(() => splitSignature(")")).toThrow();
    const truncated = messageReader();
    truncated.push(good.subarray(0, good.length - 1));
    expect(truncated.next()).toBeNull(); // not an error: the rest may still come
  });
});

/**
 * A scripted session bus on a Unix socket: answers authentication, then each call as `answer`
 * says (null: stay silent). Records every call it saw.
 */
function fakeBus(answer: (m: Message) => { sig: string; body: unknown[]; error?: string } | null | "close" | "garbage", opts: { auth?: "ok" | "reject" | "silent"; byteByByte?: boolean } = {}) {
  const path = join(tempDir("difyctl-fakebus-"), "bus");
  const calls: Message[] = [];
  let serial = 1000;
  const server = Bun.listen<{ authed: boolean; pre: string; reader: ReturnType<typeof messageReader> }>({
    unix: path,
    socket: {
      open(s) { s.data = { authed: false, pre: "", reader: messageReader() }; },
      data(s, chunk) {
        let data: Uint8Array = chunk;
        if (!s.data.authed) {
          s.data.pre += Buffer.from(data).toString("latin1");
          const at = s.data.pre.indexOf("BEGIN\r\n");
          if (at < 0) return;
          if (opts.auth === "silent") return;
          if (opts.auth === "reject") { s.write("REJECTED EXTERNAL\r\n"); return; }
          s.write("OK 0123456789abcdef0123456789abcdef\r\n");
          s.data.authed = true;
          data = Buffer.from(s.data.pre.slice(at + 7), "latin1");
        }
        s.data.reader.push(data);
        for (let m = s.data.reader.next(); m; m = s.data.reader.next()) {
          calls.push(m);
          const a = answer(m);
          if (a === null) continue;
          if (a === "close") { s.end(); return; }
          const bytes = a === "garbage" ? new Uint8Array(32).fill(0x51) : marshalReply(++serial, m.serial, a.sig, a.body, a.error);
          if (opts.byteByByte) for (const b of bytes) s.write(new Uint8Array([b]));
          else s.write(bytes);
        }
      },
    },
  });
  return { address: `unix:path=${path},guid=0123`, calls, stop: () => server.stop(true) };
}

/** A healthy Secret Service holding `items` (path → secret bytes); `locked` paths are listed as locked. */
function secretService(items: Record<string, Uint8Array>, locked: string[] = []) {
  return (m: Message) => {
    switch (m.member) {
      case "Hello": return { sig: "s", body: [":1.7"] };
      case "OpenSession": return { sig: "vo", body: [{ sig: "s", value: "" }, "/org/freedesktop/secrets/session/s3"] };
      case "SearchItems": return { sig: "aoao", body: [Object.keys(items), locked] };
      case "GetSecrets": {
        const [paths] = m.body as [string[], string];
        const found: Record<string, unknown> = {};
        for (const p of paths) if (p in items) found[p] = ["/org/freedesktop/secrets/session/s3", new Uint8Array(0), items[p], "text/plain"];
        return { sig: "a{o(oayays)}", body: [found] };
      }
      default: return { sig: "s", body: ["unexpected"], error: "org.freedesktop.DBus.Error.UnknownMethod" };
    }
  };
}

describe("the direct Secret Service read", () => {
  const uid = process.getuid?.() ?? 0;
  const opts = { timeoutMs: 5000, serviceSilenceMs: 2000, uid };
  const enc = (s: string) => new TextEncoder().encode(s);
  const buses: { stop(): void }[] = [];
  afterAll(() => { for (const b of buses) b.stop(); });
  const bus = (...a: Parameters<typeof fakeBus>) => { const b = fakeBus(...a); buses.push(b); return b; };

  test("one unlocked item: its secret, over a plain session, searched by service and username", async () => {
    const b = bus(secretService({ "/org/freedesktop/secrets/collection/login/4": enc('{"token_id":"t-1"}') }));
    expect(await lookupSecret(b.address, "difyctl", "dify.internal", opts)).toEqual({ kind: "value", value: '{"token_id":"t-1"}' });
    expect(b.calls.map((c) => c.member)).toEqual(["Hello", "OpenSession", "SearchItems", "GetSecrets"]);
    expect(b.calls[1].body).toEqual(["plain", { sig: "s", value: "" }]);
    expect(b.calls[2].body).toEqual([[["service", "difyctl"], ["username", "dify.internal"]]]);
    expect(b.calls[3].body).toEqual([["/org/freedesktop/secrets/collection/login/4"], "/org/freedesktop/secrets/session/s3"]);
  });

  test("answers that arrive a byte at a time are reassembled", async () => {
    const b = bus(secretService({ "/i/1": enc("ünïcode ✓") }), { byteByByte: true });
    expect(await lookupSecret(b.address, "difyctl", "h", opts)).toEqual({ kind: "value", value: "ünïcode ✓" });
  });

  test("no matching item: none, and no secret is asked for", async () => {
    const b = bus(secretService({}));
    expect(await lookupSecret(b.address, "difyctl", "h", opts)).toEqual({ kind: "none" });
    expect(b.calls.map((c) => c.member)).not.toContain("GetSecrets");
  });

  test("what it cannot be sure of is left to the library: locked, several items, errors, odd answers", async () => {
    const cases: [string, ReturnType<typeof fakeBus>][] = [
      ["locked", bus(secretService({}, ["/i/1"]))],
      ["several", bus(secretService({ "/i/1": enc("a"), "/i/2": enc("b") }))],
      ["not UTF-8", bus(secretService({ "/i/1": new Uint8Array([0xff, 0xfe]) }))],
      ["no provider", bus((m) => m.member === "Hello" ? { sig: "s", body: [":1.1"] } : { sig: "s", body: ["The name org.freedesktop.secrets was not provided by any .service files"], error: "org.freedesktop.DBus.Error.ServiceUnknown" })],
      ["plain refused", bus((m) => m.member === "OpenSession" ? { sig: "s", body: ["no"], error: "org.freedesktop.DBus.Error.NotSupported" } : secretService({ "/i/1": enc("a") })(m))],
      ["auth refused", bus(secretService({}), { auth: "reject" })],
      ["garbage", bus(() => "garbage")],
      ["closed", bus((m) => m.member === "Hello" ? { sig: "s", body: [":1.1"] } : "close")],
    ];
    for (const [name, b] of cases) {
      const r = await lookupSecret(b.address, "difyctl", "h", opts);
      expect([name, r.kind]).toEqual([name, "defer"]);
    }
    expect(await lookupSecret(`unix:path=${join(tempDir(), "nothing-here")}`, "difyctl", "h", opts)).toMatchObject({ kind: "defer" });
    expect(await lookupSecret("tcp:host=127.0.0.1,port=9", "difyctl", "h", opts)).toMatchObject({ kind: "defer" });
    expect(await lookupSecret(undefined, "difyctl", "h", opts)).toMatchObject({ kind: "defer" });
  });

  test("a frozen bus (nothing answers, not even authentication) times out at the bound", async () => {
    const b = bus(() => null, { auth: "silent" });
    const t0 = performance.now();
    expect(await lookupSecret(b.address, "difyctl", "h", { ...opts, timeoutMs: 200, serviceSilenceMs: 200 })).toEqual({ kind: "timeout" });
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(190);
    expect(took).toBeLessThan(1500);
  });

  test("a Secret Service that answers the search but holds the secret (a confirmation dialog) is handed to the library", async () => {
    const healthy = secretService({ "/i/1": enc("v") });
    const b = bus((m) => (m.member === "GetSecrets" ? null : healthy(m)));
    const t0 = performance.now();
    const r = await lookupSecret(b.address, "difyctl", "h", { ...opts, timeoutMs: 5000, serviceSilenceMs: 150 });
    expect(r).toMatchObject({ kind: "defer", reason: "no answer from the Secret Service" });
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(b.calls.map((c) => c.member)).toEqual(["Hello", "OpenSession", "SearchItems", "GetSecrets"]);
  });

  test("a live bus whose Secret Service never answers is handed to the library after the silence bound", async () => {
    const b = bus((m) => m.member === "Hello" ? { sig: "s", body: [":1.1"] } : null);
    const t0 = performance.now();
    const r = await lookupSecret(b.address, "difyctl", "h", { ...opts, timeoutMs: 5000, serviceSilenceMs: 150 });
    const took = performance.now() - t0;
    expect(r).toMatchObject({ kind: "defer" });
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1500);
  });
});

describe("the Linux keychain: direct reads, the worker for the rest", () => {
  /** A stand-in for the worker: records calls and the bound each one got. */
  function fakeWorker(timeoutMs = 30_000) {
    const calls: string[] = [];
    const w = {
      timeoutMs,
      async get(a: string, t?: number) { calls.push(`get ${a} ${t === undefined ? "-" : t > 0 && t <= timeoutMs ? "within" : `bad:${t}`}`); return "from the library"; },
      async set(a: string) { calls.push(`set ${a}`); },
      async delete(a: string) { calls.push(`delete ${a}`); return true; },
    };
    return { w: w as unknown as WorkerKeyring, calls };
  }
  const lookupOf = (r: LookupResult) => async () => r;

  test("a direct answer never starts the worker (so never loads the addon)", async () => {
    let built = 0;
    const make = () => { built++; return fakeWorker().w; };
    expect(await new SecretServiceKeyring("unix:path=/x", 5000, make, lookupOf({ kind: "value", value: "v" })).get("h")).toBe("v");
    expect(await new SecretServiceKeyring("unix:path=/x", 5000, make, lookupOf({ kind: "none" })).get("h")).toBeNull();
    expect(built).toBe(0);
  });

  test("a frozen bus is a timeout failure, and the worker is not tried (it would block the same way)", async () => {
    let built = 0;
    const k = new SecretServiceKeyring("unix:path=/x", 1000, () => { built++; return fakeWorker().w; }, lookupOf({ kind: "timeout" }));
    const e = await k.get("h").then(() => null, (err) => err as KeyringFailure);
    expect([e?.kind, e?.reason, built]).toEqual(["timeout", "no answer within 1 s", 0]);
  });

  test("a deferred read goes to the worker with what is left of the worker's own bound", async () => {
    const f = fakeWorker(30_000);
    const k = new SecretServiceKeyring("unix:path=/x", 5000, () => f.w, lookupOf({ kind: "defer", reason: "the item is locked" }));
    expect(await k.get("h")).toBe("from the library");
    expect(f.calls).toEqual(["get h within"]);
  });

  test("writes and deletes always go through the library", async () => {
    const f = fakeWorker();
    const k = new SecretServiceKeyring("unix:path=/x", 5000, () => f.w, lookupOf({ kind: "none" }));
    await k.set("h", "v");
    expect(await k.delete("h")).toBe(true);
    expect(f.calls).toEqual(["set h", "delete h"]);
  });

  test("the keychain token store over it: no entry is logged out; a timeout is keyring_unavailable (exit 4)", async () => {
    const none = new KeychainTokenStore(new SecretServiceKeyring("unix:path=/x", 5000, () => fakeWorker().w, lookupOf({ kind: "none" })));
    expect(await none.get("h", "t")).toBeNull();
    const frozen = new KeychainTokenStore(new SecretServiceKeyring("unix:path=/x", 5000, () => fakeWorker().w, lookupOf({ kind: "timeout" })));
    const err = await frozen.get("h", "t").then(() => null, (e) => e as CliError);
    expect([err?.code, err?.exitCode, err?.details]).toEqual(["keyring_unavailable", 4, { keyring: "timeout" }]);
    expect(err!.message).toContain("did not answer");
  });
});

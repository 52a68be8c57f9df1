// A keychain read on Linux without the native addon: one Unix-socket connection to the session
// bus, on the main thread, fully asynchronous. Everything is written at once (authentication,
// Hello, OpenSession, SearchItems), then one more round trip fetches the secret.
//
// It answers only what it is sure about: the entry's value, or that there is no entry. Anything
// else — a locked item (it needs an unlock prompt), several matching items, a bus it cannot reach,
// a service that refuses the plain session — is handed to the library (`defer`), which then does
// exactly what it always did, so errors keep their meaning and classification.
//
// The session uses the "plain" algorithm: the secret crosses the local Unix socket unencrypted.
// The library's Diffie-Hellman session costs ~10 ms per run (key generation on both ends) and
// protects nothing here: only this user's processes (and root) can reach this user's session bus
// or read the unlocked collection directly. Only `unix:` addresses are used, never TCP.
import { authPreamble, busSocketPath, marshalCall, MESSAGE_TYPE, type Message, messageReader, type MethodCall } from "./keychain-dbus.ts";
import { mark } from "./keychain-timing.ts";

export type LookupResult =
  | { kind: "value"; value: string }
  | { kind: "none" }
  /** The library must answer; `reason` is for DIFY_DEBUG. */
  | { kind: "defer"; reason: string }
  /** The bus itself never answered (frozen): the library would block the same way. */
  | { kind: "timeout" };

const SECRETS = "org.freedesktop.secrets";
const SERVICE_PATH = "/org/freedesktop/secrets";

export interface LookupOptions {
  /** Bound on the whole lookup. */
  timeoutMs: number;
  /**
   * Once the bus has answered, how long the Secret Service may stay silent before the library
   * takes over (an activatable provider still starting, or a hung one the library times out on).
   */
  serviceSilenceMs: number;
  uid: number;
}


/** Looks up the secret stored for service/account (the library's attributes: service, username). */
export function lookupSecret(address: string | undefined, service: string, account: string, opts: LookupOptions): Promise<LookupResult> {
  const path = busSocketPath(address);
  if (path === null) return Promise.resolve({ kind: "defer", reason: "no unix: session bus address" });

  return new Promise<LookupResult>((resolve) => {
    let done = false;
    let sock: import("bun").Socket | null = null;
    let authed = false;
    let authLine = "";
    const reader = messageReader();
    const waiting = new Map<number, (m: Message) => void>();
    let serial = 0;
    let busAnswered = false;
    let silence: Timer | null = null;

    const finish = (r: LookupResult) => {
      if (done) return;
      done = true;
      clearTimeout(overall);
      if (silence) clearTimeout(silence);
      try { sock?.end(); } catch { /* already closed */ }
      resolve(r);
    };
    const overall = setTimeout(() => finish(busAnswered ? { kind: "defer", reason: "no answer from the Secret Service" } : { kind: "timeout" }), opts.timeoutMs);

    const call = (c: MethodCall, then: (m: Message) => void): Uint8Array => {
      const s = ++serial;
      waiting.set(s, then);
      return marshalCall(s, c);
    };
    const send = (bytes: Uint8Array[]) => {
      let n = 0;
      for (let i = 0; i < bytes.length; i++) n += bytes[i].length;
      const all = new Uint8Array(n);
      for (let i = 0, o = 0; i < bytes.length; o += bytes[i].length, i++) all.set(bytes[i], o);
      // A few hundred bytes into an empty socket buffer: written whole, or the lookup gives up.
      if (sock!.write(all) !== all.length) finish({ kind: "defer", reason: "short write to the bus" });
    };
    const fail = (m: Message, what: string): boolean => {
      if (m.type === MESSAGE_TYPE.error) {
        finish({ kind: "defer", reason: `${what}: ${m.errorName ?? "error"}${typeof m.body[0] === "string" ? ` (${m.body[0]})` : ""}` });
        return true;
      }
      return false;
    };

    let session: string | null = null;
    let items: string[] | null = null;
    let locked = 0;
    const proceed = () => {
      if (session === null || items === null || done) return;
      if (items.length + locked === 0) return finish({ kind: "none" });
      if (locked > 0) return finish({ kind: "defer", reason: "the item is locked" });
      if (items.length > 1) return finish({ kind: "defer", reason: "several matching items" });
      send([call({ destination: SECRETS, path: items[0], iface: "org.freedesktop.Secret.Item", member: "GetSecret", signature: "o", body: [session] }, (m) => {
        if (fail(m, "GetSecret")) return;
        mark("secret service: secret read");
        const secret = m.body[0] as [string, Uint8Array, Uint8Array, string] | undefined;
        if (!Array.isArray(secret) || !(secret[2] instanceof Uint8Array)) return finish({ kind: "defer", reason: "unexpected GetSecret reply" });
        let value: string;
        try { value = new TextDecoder("utf-8", { fatal: true }).decode(secret[2]); } catch { return finish({ kind: "defer", reason: "the secret is not UTF-8" }); }
        finish({ kind: "value", value });
      })]);
    };

    const onMessage = (m: Message) => {
      if (m.replySerial === undefined) return; // signals (NameAcquired…)
      const then = waiting.get(m.replySerial);
      if (!then) return;
      waiting.delete(m.replySerial);
      then(m);
    };

    const first = [
      authPreamble(opts.uid),
      call({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", iface: "org.freedesktop.DBus", member: "Hello" }, (m) => {
        if (fail(m, "Hello")) return;
        busAnswered = true;
        mark("secret service: bus hello");
        silence = setTimeout(() => finish({ kind: "defer", reason: "no answer from the Secret Service" }), opts.serviceSilenceMs);
      }),
      call({ destination: SECRETS, path: SERVICE_PATH, iface: "org.freedesktop.Secret.Service", member: "OpenSession", signature: "sv", body: ["plain", { sig: "s", value: "" }] }, (m) => {
        if (fail(m, "OpenSession")) return;
        mark("secret service: session");
        const p = m.body[1];
        if (typeof p !== "string" || p === "/") return finish({ kind: "defer", reason: "no session path" });
        session = p;
        proceed();
      }),
      call({ destination: SECRETS, path: SERVICE_PATH, iface: "org.freedesktop.Secret.Service", member: "SearchItems", signature: "a{ss}", body: [{ service, username: account }] }, (m) => {
        if (fail(m, "SearchItems")) return;
        mark("secret service: search");
        const [unlocked, lockedItems] = m.body as [unknown, unknown];
        if (!Array.isArray(unlocked) || !Array.isArray(lockedItems)) return finish({ kind: "defer", reason: "unexpected SearchItems reply" });
        items = unlocked as string[];
        locked = lockedItems.length;
        proceed();
      }),
    ];

    const onData = (chunk: Uint8Array) => {
      if (done) return;
      try {
        let data = chunk;
        if (!authed) {
          // The server's answer to AUTH is one line ("OK <guid>"); messages follow right behind it.
          const nl = data.indexOf(0x0a);
          for (let i = 0; i < (nl < 0 ? data.length : nl + 1); i++) authLine += String.fromCharCode(data[i]);
          if (nl < 0) {
            if (authLine.length > 512) finish({ kind: "defer", reason: "bad authentication answer" });
            return;
          }
          if (!authLine.startsWith("OK ")) return finish({ kind: "defer", reason: `authentication refused: ${authLine.trim().slice(0, 80)}` });
          authed = true;
          mark("secret service: authenticated");
          data = data.subarray(nl + 1);
        }
        reader.push(data);
        for (let m = reader.next(); m && !done; m = reader.next()) onMessage(m);
      } catch (e) {
        finish({ kind: "defer", reason: `unreadable answer: ${(e as Error).message}` });
      }
    };

    Bun.connect({
      unix: path,
      socket: {
        open(s) {
          sock = s;
          mark("secret service: connected");
          send(first);
        },
        data(_s, chunk) { onData(chunk); },
        close() { finish({ kind: "defer", reason: "the bus closed the connection" }); },
        error(_s, e) { finish({ kind: "defer", reason: `bus connection error: ${e.message}` }); },
        connectError(_s, e) { finish({ kind: "defer", reason: `cannot connect to the bus: ${e.message}` }); },
      },
    }).catch((e: Error) => finish({ kind: "defer", reason: `cannot connect to the bus: ${e.message}` }));
  });
}

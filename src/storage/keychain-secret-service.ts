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
import { busSocketPath, MESSAGE_TYPE, type Message, messageReader } from "./keychain-dbus.ts";
import { mark } from "./keychain-timing.ts";

export type LookupResult =
  | { kind: "value"; value: string }
  | { kind: "none" }
  /** The library must answer; `reason` is for DIFY_DEBUG_TIMING. */
  | { kind: "defer"; reason: string }
  /** The bus itself never answered (frozen): the library would block the same way. */
  | { kind: "timeout" };

export interface LookupOptions {
  /** Bound on the whole lookup. */
  timeoutMs: number;
  /**
   * Once the bus has answered, how long the Secret Service may stay silent (from the bus's answer,
   * then from each of its own) before the library takes over: an activatable provider still
   * starting, a hung one the library times out on, or one asking its user to confirm the access.
   */
  serviceSilenceMs: number;
  uid: number;
}

// The calls, as marshalled by marshalCall (keychain-dbus.ts) — the unit tests rebuild them from it
// and compare. Kept as bytes because a read runs once per command, cold, and the general
// marshaller's first run costs ~0.7 ms, most of a direct read's own CPU time.
/** Hello (serial 1), then OpenSession("plain", "") on the Secret Service (serial 2). */
export const HELLO_AND_PLAIN_SESSION_HEX =
  "6c01000100000000010000006e00000001016f00150000002f6f72672f667265656465736b746f702f4442757300000006017300140000006f72672e667265656465736b746f702e444275730000000002017300140000006f72672e667265656465736b746f702e4442757300000000030173000500000048656c6c6f000000"
  + "6c01000115000000020000009000000001016f00180000002f6f72672f667265656465736b746f702f73656372657473000000000000000006017300170000006f72672e667265656465736b746f702e7365637265747300020173001e0000006f72672e667265656465736b746f702e5365637265742e536572766963650000030173000b0000004f70656e53657373696f6e0000000000080167000273760005000000706c61696e000173000000000000000000";
/** The header of SearchItems(a{ss}) (serial 3); the body length, at byte 4, is filled in. */
export const SEARCH_ITEMS_HEADER_HEX =
  "6c01000108000000030000009300000001016f00180000002f6f72672f667265656465736b746f702f73656372657473000000000000000006017300170000006f72672e667265656465736b746f702e7365637265747300020173001e0000006f72672e667265656465736b746f702e5365637265742e536572766963650000030173000b0000005365617263684974656d7300000000000801670005617b73737d000000000000";
/** The header of GetSecrets(ao, o) (serial 4). */
export const GET_SECRETS_HEADER_HEX =
  "6c0100010a000000040000009100000001016f00180000002f6f72672f667265656465736b746f702f73656372657473000000000000000006017300170000006f72672e667265656465736b746f702e7365637265747300020173001e0000006f72672e667265656465736b746f702e5365637265742e536572766963650000030173000a000000476574536563726574730000000000000801670003616f6f0000000000000000";

const fromHex = (hex: string): Uint8Array => (Uint8Array as unknown as { fromHex(h: string): Uint8Array }).fromHex(hex);

/** Appends a D-Bus string (or object path): padding to 4, length, UTF-8 bytes, NUL. */
function putString(out: number[], s: string): void {
  while (out.length % 4 !== 0) out.push(0);
  let bytes: ArrayLike<number> | null = null;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7e || s.charCodeAt(i) === 0) { bytes = new TextEncoder().encode(s); break; }
  const n = bytes ? bytes.length : s.length;
  out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  for (let i = 0; i < n; i++) out.push(bytes ? bytes[i] : s.charCodeAt(i));
  out.push(0);
}

/** A call: its header template with the body's length filled in, then the body. */
export function withBody(headerHex: string, body: number[]): Uint8Array {
  const header = fromHex(headerHex);
  const m = new Uint8Array(header.length + body.length);
  m.set(header);
  m.set(body, header.length);
  m[4] = body.length & 0xff;
  m[5] = (body.length >>> 8) & 0xff;
  m[6] = (body.length >>> 16) & 0xff;
  m[7] = (body.length >>> 24) & 0xff;
  return m;
}

/** SearchItems' body: a{ss} of service and username (the library's attributes for an entry). */
export function searchItemsBody(service: string, account: string): number[] {
  const out = [0, 0, 0, 0, 0, 0, 0, 0]; // array length, then padding to the 8-aligned dict entries
  const pairs = ["service", service, "username", account];
  for (let i = 0; i < 4; i += 2) {
    while (out.length % 8 !== 0) out.push(0);
    putString(out, pairs[i]);
    putString(out, pairs[i + 1]);
  }
  const n = out.length - 8;
  out[0] = n & 0xff; out[1] = (n >>> 8) & 0xff; out[2] = (n >>> 16) & 0xff; out[3] = (n >>> 24) & 0xff;
  return out;
}

/** GetSecrets' body: ao of one item, then the session. */
export function getSecretsBody(item: string, session: string): number[] {
  const out = [0, 0, 0, 0];
  putString(out, item);
  const n = out.length - 4;
  out[0] = n & 0xff; out[1] = (n >>> 8) & 0xff; out[2] = (n >>> 16) & 0xff; out[3] = (n >>> 24) & 0xff;
  putString(out, session);
  return out;
}

/**
 * "\0AUTH EXTERNAL <uid>\r\nBEGIN\r\n", where <uid> is the decimal uid hex-encoded byte by byte
 * (uid 1000 → "31303030"); built as hex, so each digit d appears as "33" "3d".
 */
export function authBytes(uid: number): Uint8Array {
  const digits = String(uid);
  let arg = "";
  for (let i = 0; i < digits.length; i++) arg += "333" + digits[i];
  return fromHex("00" + "415554482045585445524e414c20" + arg + "0d0a" + "424547494e" + "0d0a");
}

/** Looks up the secret stored for service/account (the library's attributes: service, username). */
export function lookupSecret(address: string | undefined, service: string, account: string, opts: LookupOptions): Promise<LookupResult> {
  const path = busSocketPath(address);
  if (path === null) return Promise.resolve({ kind: "defer", reason: "no unix: session bus address" });

  return new Promise<LookupResult>((resolve) => {
    let done = false;
    let sock: import("bun").Socket | null = null;
    let authLine: string | null = "";
    const reader = messageReader();
    let busAnswered = false;
    let silence: Timer | null = null;
    let session: string | null = null;
    let items: unknown[] | null = null;
    let locked = 0;
    let item = "";

    const finish = (r: LookupResult) => {
      if (done) return;
      done = true;
      clearTimeout(overall);
      if (silence) clearTimeout(silence);
      try { sock?.end(); } catch { /* already closed */ }
      resolve(r);
    };
    const overall = setTimeout(() => finish(busAnswered ? { kind: "defer", reason: "no answer from the Secret Service" } : { kind: "timeout" }), opts.timeoutMs);

    /** (Re)starts the wait for the Secret Service's next answer. */
    const listen = () => {
      if (silence) clearTimeout(silence);
      silence = setTimeout(() => finish({ kind: "defer", reason: "no answer from the Secret Service" }), opts.serviceSilenceMs);
    };
    const send = (bytes: Uint8Array) => {
      // A few hundred bytes into an empty socket buffer: written whole, or the lookup gives up.
      if (sock!.write(bytes) !== bytes.length) finish({ kind: "defer", reason: "short write to the bus" });
    };

    /** One reply, by the serial of the call it answers (1 Hello, 2 OpenSession, 3 SearchItems, 4 GetSecrets). */
    const onReply = (m: Message) => {
      if (m.type === MESSAGE_TYPE.error) {
        const what = ["", "Hello", "OpenSession", "SearchItems", "GetSecrets"][m.replySerial!] ?? "call";
        return finish({ kind: "defer", reason: `${what}: ${m.errorName ?? "error"}${typeof m.body[0] === "string" ? ` (${m.body[0]})` : ""}` });
      }
      switch (m.replySerial) {
        case 1:
          busAnswered = true;
          mark("secret service: bus hello");
          listen();
          return;
        case 2:
          mark("secret service: session");
          if (typeof m.body[1] !== "string" || m.body[1] === "/") return finish({ kind: "defer", reason: "no session path" });
          session = m.body[1];
          break;
        case 3:
          mark("secret service: search");
          if (!Array.isArray(m.body[0]) || !Array.isArray(m.body[1])) return finish({ kind: "defer", reason: "unexpected SearchItems reply" });
          items = m.body[0];
          locked = m.body[1].length;
          break;
        case 4: {
          mark("secret service: secret read");
          // a{o(oayays)}: item → (session, parameters, value, content type)
          const entries = m.body[0];
          let value: unknown = null;
          if (Array.isArray(entries)) for (let i = 0; i < entries.length; i++) if (entries[i][0] === item) value = entries[i][1]?.[2];
          if (!(value instanceof Uint8Array)) return finish({ kind: "defer", reason: "unexpected GetSecrets reply" });
          try {
            return finish({ kind: "value", value: new TextDecoder("utf-8", { fatal: true }).decode(value) });
          } catch {
            return finish({ kind: "defer", reason: "the secret is not UTF-8" });
          }
        }
        default:
          return;
      }
      listen();
      if (session === null || items === null) return;
      if (items.length + locked === 0) return finish({ kind: "none" });
      if (locked > 0) return finish({ kind: "defer", reason: "the item is locked" });
      if (items.length > 1) return finish({ kind: "defer", reason: "several matching items" });
      if (typeof items[0] !== "string") return finish({ kind: "defer", reason: "unexpected SearchItems reply" });
      item = items[0];
      send(withBody(GET_SECRETS_HEADER_HEX, getSecretsBody(item, session)));
    };

    const onData = (chunk: Uint8Array) => {
      if (done) return;
      try {
        let data = chunk;
        if (authLine !== null) {
          // The server's answer to AUTH is one line ("OK <guid>"); messages follow right behind it.
          const nl = data.indexOf(0x0a);
          for (let i = 0; i < (nl < 0 ? data.length : nl + 1); i++) authLine += String.fromCharCode(data[i]);
          if (nl < 0) {
            if (authLine.length > 512) finish({ kind: "defer", reason: "bad authentication answer" });
            return;
          }
          if (!authLine.startsWith("OK ")) return finish({ kind: "defer", reason: `authentication refused: ${authLine.trim().slice(0, 80)}` });
          authLine = null;
          mark("secret service: authenticated");
          data = data.subarray(nl + 1);
        }
        reader.push(data);
        // Signals (NameAcquired…) carry no reply serial and are skipped.
        for (let m = reader.next(); m && !done; m = reader.next()) if (m.replySerial !== undefined) onReply(m);
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
          const auth = authBytes(opts.uid);
          const first = fromHex(HELLO_AND_PLAIN_SESSION_HEX);
          const search = withBody(SEARCH_ITEMS_HEADER_HEX, searchItemsBody(service, account));
          const all = new Uint8Array(auth.length + first.length + search.length);
          all.set(auth);
          all.set(first, auth.length);
          all.set(search, auth.length + first.length);
          send(all);
        },
        data(_s, chunk) { onData(chunk); },
        close() { finish({ kind: "defer", reason: "the bus closed the connection" }); },
        error(_s, e) { finish({ kind: "defer", reason: `bus connection error: ${e.message}` }); },
        connectError(_s, e) { finish({ kind: "defer", reason: `cannot connect to the bus: ${e.message}` }); },
      },
    }).catch((e: Error) => finish({ kind: "defer", reason: `cannot connect to the bus: ${e.message}` }));
  });
}

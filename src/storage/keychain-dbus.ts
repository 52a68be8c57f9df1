// The small part of the D-Bus wire protocol a Secret Service lookup needs: parse a session bus
// address, marshal method calls and unmarshal their replies. The lookup sends calls kept as bytes
// (keychain-secret-service.ts); marshalCall is the reference the tests rebuild them from, and
// marshalReply lets the tests play the bus. Replies come
// from another process: every read is bounds-checked and anything malformed throws, which callers
// treat as "cannot answer" (never as "no entry").
//
// It runs once per command, cold: plain functions over number arrays and byte offsets, no classes,
// DataViews or array callbacks (each of those costs a first-use penalty worth measuring here).

/** The socket named by a D-Bus address list: its first `unix:path=` / `unix:abstract=` entry. */
export function busSocketPath(address: string | undefined): string | null {
  if (!address) return null;
  const entries = address.split(";");
  for (let e = 0; e < entries.length; e++) {
    const entry = entries[e];
    if (!entry.startsWith("unix:")) continue;
    let path: string | undefined;
    let abstract: string | undefined;
    const pairs = entry.slice(5).split(",");
    for (let i = 0; i < pairs.length; i++) {
      const eq = pairs[i].indexOf("=");
      const k = pairs[i].slice(0, eq);
      if (k === "path") path = pairs[i].slice(eq + 1);
      else if (k === "abstract") abstract = pairs[i].slice(eq + 1);
    }
    const raw = path ?? abstract;
    if (raw === undefined) continue;
    let value: string;
    try {
      value = decodeURIComponent(raw); // the address format escapes bytes as %XX, as URIs do
    } catch {
      continue;
    }
    if (value === "" || value.includes("\0")) continue;
    return path !== undefined ? value : "\0" + value;
  }
  return null;
}

/** Splits a signature into its complete types ("sa{ss}" → ["s", "a{ss}"]). Throws on a bad one. */
export function splitSignature(sig: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < sig.length;) {
    const j = typeEnd(sig, i, 0);
    out.push(sig.slice(i, j));
    i = j;
  }
  return out;
}

function typeEnd(sig: string, i: number, depth: number): number {
  if (depth > 32) throw new Error("bad D-Bus signature");
  const c = sig[i];
  if (c === "a") return typeEnd(sig, i + 1, depth + 1);
  if (c === "(" || c === "{") {
    const close = c === "(" ? ")" : "}";
    let j = i + 1;
    while (sig[j] !== close) {
      if (j >= sig.length) throw new Error("bad D-Bus signature");
      j = typeEnd(sig, j, depth + 1);
    }
    return j + 1;
  }
  if (c === undefined || c === ")" || c === "}") throw new Error("bad D-Bus signature");
  return i + 1;
}

function alignOf(c: string): number {
  switch (c) {
    case "y": case "g": case "v": return 1;
    case "n": case "q": return 2;
    case "x": case "t": case "d": case "(": case "{": return 8;
    default: return 4;
  }
}

// ── Marshalling (little-endian, into a number[]) ────────────────────────────────────────────────

/** A variant to marshal: its signature and its value. */
export interface Variant { sig: string; value: unknown }

let encoder: TextEncoder | null = null;

function pad(out: number[], n: number): void {
  while (out.length % n !== 0) out.push(0);
}
function putU32(out: number[], v: number): void {
  pad(out, 4);
  out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}
function setU32(out: number[], at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 24) & 0xff;
}
function utf8Bytes(s: string): ArrayLike<number> {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7e || s.charCodeAt(i) === 0) return (encoder ??= new TextEncoder()).encode(s);
  }
  const b: number[] = [];
  for (let i = 0; i < s.length; i++) b.push(s.charCodeAt(i));
  return b;
}
function putBytes(out: number[], b: ArrayLike<number>): void {
  for (let i = 0; i < b.length; i++) out.push(b[i]);
}

function write(out: number[], t: string, v: unknown): void {
  switch (t[0]) {
    case "y": out.push((v as number) & 0xff); return;
    case "b": putU32(out, v ? 1 : 0); return;
    case "u": putU32(out, v as number); return;
    case "s": case "o": {
      const b = utf8Bytes(v as string);
      putU32(out, b.length);
      putBytes(out, b);
      out.push(0);
      return;
    }
    case "g": {
      const b = utf8Bytes(v as string);
      if (b.length > 255) throw new Error("D-Bus signature too long");
      out.push(b.length);
      putBytes(out, b);
      out.push(0);
      return;
    }
    case "v": {
      const x = v as Variant;
      write(out, "g", x.sig);
      write(out, x.sig, x.value);
      return;
    }
    case "a": {
      const elem = t.slice(1);
      putU32(out, 0);
      const at = out.length - 4;
      pad(out, alignOf(elem[0]));
      const start = out.length;
      if (elem[0] === "{") {
        const dict = v as Record<string, unknown>;
        for (const k in dict) write(out, elem, [k, dict[k]]);
      } else {
        const items = v as unknown[];
        for (let i = 0; i < items.length; i++) write(out, elem, items[i]);
      }
      setU32(out, at, out.length - start);
      return;
    }
    case "(": case "{": {
      pad(out, 8);
      const parts = splitSignature(t.slice(1, -1));
      const vals = v as unknown[];
      for (let i = 0; i < parts.length; i++) write(out, parts[i], vals[i]);
      return;
    }
    default: throw new Error(`cannot marshal D-Bus type ${t}`);
  }
}

export interface MethodCall { destination: string; path: string; iface: string; member: string; signature?: string; body?: unknown[] }

export const MESSAGE_TYPE = { call: 1, reply: 2, error: 3, signal: 4 } as const;

const FIELD_PATH = 1, FIELD_IFACE = 2, FIELD_MEMBER = 3, FIELD_ERROR = 4, FIELD_REPLY_SERIAL = 5, FIELD_DESTINATION = 6, FIELD_SIGNATURE = 8;

/** A METHOD_CALL message with the given serial (little-endian). */
export function marshalCall(serial: number, c: MethodCall): Uint8Array {
  const fields: [number, Variant][] = [
    [FIELD_PATH, { sig: "o", value: c.path }],
    [FIELD_DESTINATION, { sig: "s", value: c.destination }],
    [FIELD_IFACE, { sig: "s", value: c.iface }],
    [FIELD_MEMBER, { sig: "s", value: c.member }],
  ];
  return marshalMessage(MESSAGE_TYPE.call, serial, fields, c.signature ?? "", c.body);
}

/** A METHOD_RETURN, or an ERROR when `errorName` is given: what a bus peer answers (tests play one). */
export function marshalReply(serial: number, replySerial: number, signature: string, body: unknown[], errorName?: string): Uint8Array {
  const fields: [number, Variant][] = [[FIELD_REPLY_SERIAL, { sig: "u", value: replySerial }]];
  if (errorName) fields.push([FIELD_ERROR, { sig: "s", value: errorName }]);
  return marshalMessage(errorName ? MESSAGE_TYPE.error : MESSAGE_TYPE.reply, serial, fields, signature, body);
}

function marshalMessage(type: number, serial: number, fields: [number, Variant][], sig: string, values: unknown[] | undefined): Uint8Array {
  const body: number[] = [];
  const types = splitSignature(sig);
  for (let i = 0; i < types.length; i++) write(body, types[i], values?.[i]);
  // 'l' (little-endian), the type, no flags, protocol version 1.
  const out: number[] = [0x6c, type, 0, 1];
  putU32(out, body.length);
  putU32(out, serial);
  if (sig) fields.push([FIELD_SIGNATURE, { sig: "g", value: sig }]);
  write(out, "a(yv)", fields);
  pad(out, 8);
  putBytes(out, body);
  return new Uint8Array(out);
}

// ── Unmarshalling ───────────────────────────────────────────────────────────────────────────────

let decoder: TextDecoder | null = null;

/** A cursor over one message; offsets count from the message's first byte, as alignment does. */
interface Cursor { buf: Uint8Array; pos: number; end: number; le: boolean }

function need(r: Cursor, n: number): void {
  if (r.pos + n > r.end) throw new Error("truncated D-Bus message");
}
function align(r: Cursor, n: number): void {
  const p = r.pos + ((n - (r.pos % n)) % n);
  if (p > r.end) throw new Error("truncated D-Bus message");
  r.pos = p;
}
function u32At(buf: Uint8Array, at: number, le: boolean): number {
  return le
    ? (buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24)) >>> 0
    : ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}
function getU32(r: Cursor): number {
  align(r, 4);
  need(r, 4);
  const v = u32At(r.buf, r.pos, r.le);
  r.pos += 4;
  return v;
}
function getText(r: Cursor, n: number): string {
  need(r, n + 1);
  const s = (decoder ??= new TextDecoder("utf-8", { fatal: true })).decode(r.buf.subarray(r.pos, r.pos + n));
  r.pos += n + 1;
  return s;
}

const MAX_DEPTH = 32;

/**
 * Values by type: integers as numbers (64-bit ones as the raw 8 bytes), strings, `ay` as a
 * Uint8Array, dictionaries as [key, value] pairs, structs as arrays, variants as { sig, value }.
 */
function read(r: Cursor, t: string, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error("D-Bus value nested too deeply");
  switch (t[0]) {
    case "y": need(r, 1); return r.buf[r.pos++];
    case "b": return getU32(r) !== 0;
    case "u": case "h": return getU32(r);
    case "i": return getU32(r) | 0;
    case "n": case "q": {
      align(r, 2);
      need(r, 2);
      const v = r.le ? r.buf[r.pos] | (r.buf[r.pos + 1] << 8) : (r.buf[r.pos] << 8) | r.buf[r.pos + 1];
      r.pos += 2;
      return t[0] === "n" && v > 0x7fff ? v - 0x10000 : v;
    }
    case "x": case "t": case "d": {
      align(r, 8);
      need(r, 8);
      r.pos += 8;
      return r.buf.slice(r.pos - 8, r.pos); // none of the replies read here carries one
    }
    case "s": case "o": return getText(r, getU32(r));
    case "g": need(r, 1); return getText(r, r.buf[r.pos++]);
    case "v": {
      need(r, 1);
      const sig = getText(r, r.buf[r.pos++]);
      if (splitSignature(sig).length !== 1) throw new Error("bad D-Bus variant");
      return { sig, value: read(r, sig, depth + 1) } satisfies Variant;
    }
    case "a": {
      const n = getU32(r);
      const elem = t.slice(1);
      align(r, alignOf(elem[0]));
      need(r, n);
      const end = r.pos + n;
      if (elem === "y") {
        r.pos = end;
        return r.buf.slice(end - n, end);
      }
      const out: unknown[] = [];
      while (r.pos < end) out.push(read(r, elem, depth + 1));
      if (r.pos !== end) throw new Error("bad D-Bus array length");
      return out;
    }
    case "(": case "{": {
      align(r, 8);
      return readAll(r, t.slice(1, -1), depth + 1);
    }
    default: throw new Error(`cannot read D-Bus type ${t}`);
  }
}

function readAll(r: Cursor, sig: string, depth: number): unknown[] {
  const types = splitSignature(sig);
  const out: unknown[] = [];
  for (let i = 0; i < types.length; i++) out.push(read(r, types[i], depth));
  return out;
}

export interface Message {
  type: number;
  serial: number;
  path?: string;
  member?: string;
  replySerial?: number;
  errorName?: string;
  signature: string;
  body: unknown[];
}

/** Largest message accepted; the answers a lookup expects are a few hundred bytes. */
const MAX_MESSAGE = 1 << 20;

/** Splits a byte stream into messages. `next()` returns null until a whole message has arrived. */
export function messageReader(): { push(chunk: Uint8Array): void; next(): Message | null } {
  let buf = new Uint8Array(0);
  return {
    push(chunk) {
      if (buf.length === 0) {
        buf = chunk.slice();
        return;
      }
      const b = new Uint8Array(buf.length + chunk.length);
      b.set(buf);
      b.set(chunk, buf.length);
      buf = b;
    },
    next() {
      if (buf.length < 16) return null;
      if (buf[0] !== 0x6c && buf[0] !== 0x42) throw new Error("bad D-Bus endianness mark");
      const le = buf[0] === 0x6c;
      const bodyLen = u32At(buf, 4, le);
      const fieldsLen = u32At(buf, 12, le);
      if (bodyLen > MAX_MESSAGE || fieldsLen > MAX_MESSAGE) throw new Error("D-Bus message too large");
      const headerEnd = 16 + fieldsLen + ((8 - ((16 + fieldsLen) % 8)) % 8);
      const total = headerEnd + bodyLen;
      if (buf.length < total) return null;
      const msg = buf.subarray(0, total);
      buf = buf.subarray(total);
      return parseMessage(msg, le, headerEnd, fieldsLen);
    },
  };
}

function parseMessage(msg: Uint8Array, le: boolean, headerEnd: number, fieldsLen: number): Message {
  const fields = read({ buf: msg, pos: 12, end: 16 + fieldsLen, le }, "a(yv)", 0) as [number, Variant][];
  const m: Message = { type: msg[1], serial: u32At(msg, 8, le), signature: "", body: [] };
  for (let i = 0; i < fields.length; i++) {
    const code = fields[i][0];
    const value = fields[i][1].value;
    if (code === FIELD_REPLY_SERIAL && typeof value === "number") m.replySerial = value;
    else if (code === FIELD_ERROR && typeof value === "string") m.errorName = value;
    else if (code === FIELD_SIGNATURE && typeof value === "string") m.signature = value;
    else if (code === FIELD_PATH && typeof value === "string") m.path = value;
    else if (code === FIELD_MEMBER && typeof value === "string") m.member = value;
  }
  const body: Cursor = { buf: msg, pos: headerEnd, end: msg.length, le };
  m.body = readAll(body, m.signature, 0);
  return m;
}

// A hostile HTTP/1.1 front for the fake Dify server, at the TCP level so that it can send what no
// well-behaved server library would: truncated bodies, lying Content-Length, broken chunking,
// garbage status lines, dripped bytes (slowloris), hangs, redirects to other origins, invalid
// UTF-8, huge bodies.
//
// Each fuzz case owns a path prefix: the CLI is pointed at http://127.0.0.1:<port>/c<id>, the
// proxy strips /c<id>, and either forwards the request to the fake server or, when the case's
// rule matches, answers with the case's hostile plan (which may be built from the real answer).
import type { Socket } from "bun";

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Uint8Array;
}
export interface RealResponse { status: number; headers: Record<string, string>; body: Uint8Array }

/** What to send back: raw byte chunks, optionally spaced out, then close (or hang). */
export interface Plan {
  chunks: Uint8Array[];
  /** delay before each chunk after the first */
  delayMs?: number;
  /** keep the socket open after the last chunk until the client leaves */
  hang?: boolean;
  /** close right after the last chunk (default true) */
  close?: boolean;
}

export interface CaseRule {
  match: (req: ProxiedRequest) => boolean;
  /** how many matching requests get the plan; the rest are forwarded */
  times: number;
  /** build the plan; `real()` forwards the request and returns the genuine answer */
  plan: (req: ProxiedRequest, real: () => Promise<RealResponse>) => Promise<Plan>;
}

export interface CaseState { rule: CaseRule | null; hits: number; requests: ProxiedRequest[]; /** statuses sent back, hostile or forwarded */ sent: number[] }

const enc = new TextEncoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);
export const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

const REASONS: Record<number, string> = { 200: "OK", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error" };

/** A JSON array nested `n` levels deep: valid JSON that recursive code cannot walk. */
export const deepJson = (n: number): string => "[".repeat(n) + "]".repeat(n);

/** A complete HTTP/1.1 response with a correct Content-Length unless the headers say otherwise. */
export function httpResponse(status: number | string, headers: Record<string, string>, body: Uint8Array | string = new Uint8Array()): Uint8Array {
  const b = typeof body === "string" ? bytes(body) : body;
  const h: Record<string, string> = { ...headers };
  const lower = Object.keys(h).map((k) => k.toLowerCase());
  if (!lower.includes("content-length") && !lower.includes("transfer-encoding")) h["Content-Length"] = String(b.length);
  if (!lower.includes("connection")) h.Connection = "close";
  const line = typeof status === "number" ? `HTTP/1.1 ${status} ${REASONS[status] ?? "Status"}` : status;
  return concat(bytes(`${line}\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`), b);
}

interface Conn {
  buf: Uint8Array;
  busy: boolean;
  closed: boolean;
  timers: ReturnType<typeof setTimeout>[];
  /** Bytes the socket did not take yet (a raw socket write is partial under back-pressure). */
  out: Uint8Array[];
  /** Runs once `out` has drained (the end of a plan). */
  afterDrain?: () => void;
}

export class HostileProxy {
  private server!: Bun.TCPSocketListener<Conn>;
  readonly cases = new Map<string, CaseState>();
  port = 0;
  constructor(private readonly upstream: string) {}

  start(): void {
    this.server = Bun.listen<Conn>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (s) => { s.data = { buf: new Uint8Array(), busy: false, closed: false, timers: [], out: [] }; },
        drain: (s) => this.drain(s),
        data: (s, chunk) => {
          s.data.buf = concat(s.data.buf, chunk);
          void this.pump(s);
        },
        close: (s) => { s.data.closed = true; for (const t of s.data.timers) clearTimeout(t); },
        error: (s) => { s.data.closed = true; },
      },
    });
    this.port = this.server.port;
  }

  stop(): void { this.server.stop(true); }

  url(caseId: string): string { return `http://127.0.0.1:${this.port}/${caseId}`; }

  open(caseId: string): CaseState {
    const st: CaseState = { rule: null, hits: 0, requests: [], sent: [] };
    this.cases.set(caseId, st);
    return st;
  }

  private async pump(s: Socket<Conn>): Promise<void> {
    if (s.data.busy) return;
    const req = this.parse(s);
    if (!req) return;
    s.data.busy = true;
    try { await this.handle(s, req); } catch { try { s.end(); } catch { /* gone */ } }
  }

  /** One complete request off the connection buffer (Content-Length bodies only: fetch sends those). */
  private parse(s: Socket<Conn>): ProxiedRequest | null {
    const buf = s.data.buf;
    let end = -1;
    for (let i = 0; i + 3 < buf.length; i++) if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) { end = i; break; }
    if (end < 0) return null;
    const head = new TextDecoder().decode(buf.subarray(0, end));
    const [line, ...hl] = head.split("\r\n");
    const [method, target] = (line ?? "").split(" ");
    const headers: Record<string, string> = {};
    for (const h of hl) { const i = h.indexOf(":"); if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim(); }
    const len = Number(headers["content-length"] ?? 0);
    if (buf.length < end + 4 + len) return null;
    const body = buf.slice(end + 4, end + 4 + len);
    s.data.buf = buf.slice(end + 4 + len);
    return { method: method ?? "", path: target ?? "/", headers, body };
  }

  private async handle(s: Socket<Conn>, req: ProxiedRequest): Promise<void> {
    const m = /^\/([a-z][0-9a-z-]*)(\/.*)?$/.exec(req.path);
    const st = m ? this.cases.get(m[1]!) : undefined;
    if (!st) { this.send(s, { chunks: [httpResponse(404, { "Content-Type": "text/plain" }, "no such case")] }); return; }
    const inner: ProxiedRequest = { ...req, path: m![2] ?? "/" };
    st.requests.push(inner);
    const real = () => this.forward(inner);
    let plan: Plan;
    if (st.rule && st.hits < st.rule.times && st.rule.match(inner)) {
      st.hits++;
      plan = await st.rule.plan(inner, real);
    } else {
      const r = await real();
      plan = { chunks: [httpResponse(r.status, r.headers, r.body)] };
    }
    const head = new TextDecoder().decode(plan.chunks.find((c) => c.length)?.slice(0, 16) ?? new Uint8Array());
    const sm = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (sm) st.sent.push(Number(sm[1]));
    this.send(s, plan);
  }

  async forward(req: ProxiedRequest): Promise<RealResponse> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (!["host", "connection", "content-length", "accept-encoding"].includes(k)) headers[k] = v;
    const res = await fetch(this.upstream + req.path, {
      method: req.method, headers, body: req.body.length && req.method !== "GET" ? req.body.slice() : undefined, redirect: "manual",
    });
    const body = new Uint8Array(await res.arrayBuffer());
    const out: Record<string, string> = {};
    res.headers.forEach((v, k) => { if (!["content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive", "date"].includes(k)) out[k] = v; });
    return { status: res.status, headers: out, body };
  }

  /** Writes what the socket takes now; the rest waits for `drain`, so a large body arrives whole. */
  private write(s: Socket<Conn>, b: Uint8Array): void {
    const c = s.data;
    if (c.closed) return;
    if (c.out.length) { c.out.push(b); return; }
    let n: number;
    try { n = s.write(b); } catch { c.closed = true; return; }
    if (n < 0) c.closed = true;
    else if (n < b.length) c.out.push(b.subarray(n));
  }

  private drain(s: Socket<Conn>): void {
    const c = s.data;
    while (c.out.length && !c.closed) {
      const b = c.out[0]!;
      let n: number;
      try { n = s.write(b); } catch { c.closed = true; return; }
      if (n < 0) { c.closed = true; return; }
      if (n < b.length) { c.out[0] = b.subarray(n); return; }
      c.out.shift();
    }
    const after = c.afterDrain;
    c.afterDrain = undefined;
    after?.();
  }

  private send(s: Socket<Conn>, p: Plan): void {
    const c = s.data;
    const write = (b: Uint8Array) => this.write(s, b);
    const finish = () => {
      if (p.hang) return; // the client times out; close() cleans up
      const done = () => {
        if (p.close !== false) { try { s.end(); } catch { /* gone */ } }
        else { c.busy = false; void this.pump(s); }
      };
      if (c.out.length) c.afterDrain = done;
      else done();
    };
    if (!p.delayMs || p.chunks.length <= 1) {
      for (const b of p.chunks) write(b);
      finish();
      return;
    }
    let i = 0;
    const step = () => {
      if (c.closed) return;
      write(p.chunks[i++]!);
      if (i < p.chunks.length) c.timers.push(setTimeout(step, p.delayMs));
      else finish();
    };
    step();
  }
}

/** A plain origin that records what reaches it: the "other host" of the redirect cases. */
export function startRecorder(): { url: string; requests: { method: string; path: string; headers: Record<string, string>; body: string }[]; stop: () => void } {
  const requests: { method: string; path: string; headers: Record<string, string>; body: string }[] = [];
  const srv = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const headers: Record<string, string> = {};
      req.headers.forEach((v, k) => (headers[k] = v));
      requests.push({ method: req.method, path: new URL(req.url).pathname, headers, body: await req.text() });
      return new Response('{"ok":true}', { headers: { "Content-Type": "application/json" } });
    },
  });
  return { url: `http://127.0.0.1:${srv.port}`, requests, stop: () => srv.stop(true) };
}

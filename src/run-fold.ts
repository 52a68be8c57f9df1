// Dify run events → one result. Knows the event vocabulary of chat, completion, agent, chatflow
// and workflow apps (contract §2.14); knows nothing about HTTP or output.
import { CliError } from "./errors.ts";
import type { SseEvent } from "./sse.ts";

export type Json = Record<string, unknown>;

export interface DifyEvent {
  name: string;
  /** The parsed JSON payload, or null when the data was not a JSON object. */
  data: Json | null;
  raw: string;
}

/**
 * Names the event (Dify puts it inside the JSON; a transport `event:` line wins, as for `ping`).
 * Keep-alives give null.
 */
export function toDifyEvent(e: SseEvent): DifyEvent | null {
  let data: Json | null = null;
  if (e.data.charCodeAt(0) === 123 /* { */) {
    try {
      const v = JSON.parse(e.data);
      if (typeof v === "object" && v !== null && !Array.isArray(v)) data = v as Json;
    } catch { /* not JSON: passed on raw */ }
  }
  const inner = data && typeof data.event === "string" ? data.event : undefined;
  const name = (e.event && e.event !== "message" ? e.event : inner) ?? e.event ?? "message";
  if (name === "ping") return null;
  return { name, data, raw: e.data };
}

/** One JSON line for --stream: the server's own text when it already is that line. */
export function streamLine(ev: DifyEvent): string {
  if (ev.data && ev.data.event === ev.name && ev.raw.indexOf("\n") === -1) return ev.raw;
  if (ev.data) return JSON.stringify({ event: ev.name, ...ev.data });
  return JSON.stringify({ event: ev.name, data: ev.raw });
}

export interface RunError { code?: string; message: string; status?: number }

export interface RunResult {
  status: string;
  answer?: string;
  outputs?: unknown;
  message_id?: string;
  conversation_id?: string;
  workflow_run_id?: string;
  usage?: unknown;
  files?: unknown[];
  error?: RunError;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const obj = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});

const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();

// The byte tests below compare against constants one by one: before the JIT has warmed up (a
// one-shot CLI spends much of a stream there) that was measured well ahead of loops over needle
// arrays, and a native search call per candidate.

/** If b[s, e) starts with {"event":"message", (a space allowed after each : and ,), the offset after it; else -1. */
function afterMessagePrefix(b: Uint8Array, s: number, e: number): number {
  if (e - s < 21) return -1;
  if (b[s] !== 123 || b[s + 1] !== 34 || b[s + 2] !== 101 || b[s + 3] !== 118 || b[s + 4] !== 101 || b[s + 5] !== 110 || b[s + 6] !== 116 || b[s + 7] !== 34 || b[s + 8] !== 58) return -1;
  let i = s + 9;
  if (b[i] === 32) i++;
  if (b[i] !== 34 || b[i + 1] !== 109 || b[i + 2] !== 101 || b[i + 3] !== 115 || b[i + 4] !== 115 || b[i + 5] !== 97 || b[i + 6] !== 103 || b[i + 7] !== 101 || b[i + 8] !== 34 || b[i + 9] !== 44) return -1;
  i += 10;
  return b[i] === 32 ? i + 1 : i;
}

/** Index of "answer": in b[from, e), or -1. Hops between the w's, a rare byte in a Dify frame. */
function findAnswerKey(b: Uint8Array, from: number, e: number): number {
  for (let w = b.indexOf(119, from + 4); w !== -1 && w + 4 < e; w = b.indexOf(119, w + 1)) {
    if (b[w - 4] === 34 && b[w - 3] === 97 && b[w - 2] === 110 && b[w - 1] === 115 && b[w + 1] === 101 && b[w + 2] === 114 && b[w + 3] === 34 && b[w + 4] === 58) return w - 4;
  }
  return -1;
}

/** True when b[s, e) is well-formed UTF-8 (so pieces can be joined as bytes and decoded once). */
export function isWellFormedUtf8(b: Uint8Array, s: number, e: number): boolean {
  let i = s;
  while (i < e) {
    const c = b[i];
    if (c < 0x80) { i++; continue; }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return false;
    if (i + n >= e) return false;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if ((cc & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

/** The answer so far, as UTF-8 bytes: fast-path pieces are copied in without ever being decoded. */
class Utf8Builder {
  private bytes = new Uint8Array(4096);
  length = 0;
  private reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
  /**
   * Appends the body of the JSON string that starts at b[s] (after its opening quote) when it is
   * plain — no escape, no raw control character, well-formed UTF-8 — so its bytes are its text.
   * Returns false, appending nothing, otherwise or when the closing quote is not before e.
   */
  appendPlainJsonString(b: Uint8Array, s: number, e: number): boolean {
    this.reserve(e - s);
    const o = this.bytes;
    let l = this.length;
    let high = 0;
    for (let q = s; q < e; q++) {
      const c = b[q];
      if (c === 34) {
        if (high >= 0x80 && !isWellFormedUtf8(b, s, q)) return false;
        this.length = l;
        return true;
      }
      if (c === 92 || c < 0x20) return false;
      high |= c;
      o[l++] = c;
    }
    return false;
  }
  appendString(t: string): void {
    if (!t) return;
    this.reserve(t.length * 3);
    this.length += encoder.encodeInto(t, this.bytes.subarray(this.length)).written;
  }
  /** The text from byte `from` on. */
  text(from = 0): string {
    return utf8.decode(this.bytes.subarray(from, this.length));
  }
  clear(): void {
    this.length = 0;
  }
}

export class RunFold {
  private answer = new Utf8Builder();
  private lastPieceStart = 0;
  /** The bytes of the last message frame that passed the full checks, up to its answer's opening quote. */
  private header: Buffer | null = null;
  private text: string[] = [];
  private sawMessage = false;
  private sawWorkflow = false;
  private messageEnded = false;
  private workflowStatus?: string;
  private workflowError?: string;
  private outputs?: unknown;
  private usage?: unknown;
  private files: unknown[] = [];
  private ids: { message_id?: string; conversation_id?: string; workflow_run_id?: string } = {};
  private error?: RunError;
  private paused = false;

  /**
   * The fast path for the bulk of a stream (measured: decoding and JSON.parse were most of the
   * cost of a long answer): the raw bytes of a `message` frame, once the ids are known, whose
   * answer is plain (no escapes, no control characters, well-formed UTF-8). Folds it and returns
   * true, or returns false when the full parse is needed. Safe because the frame must start with
   * the event key and have no `{` before "answer", so the key is top-level (a quote cannot appear
   * unescaped inside a JSON string). `lastAnswer()` gives the piece as text.
   */
  quickBytes(b: Uint8Array, s: number, e: number): boolean {
    if (this.ids.message_id === undefined) return false;
    // Within one message every frame repeats the same header (event, ids, created_at) up to the
    // answer: one native compare against the last checked header replaces the checks below.
    const h = this.header;
    let v: number;
    if (h !== null && e - s > h.length && h.compare(b, s, s + h.length) === 0) {
      v = s + h.length;
    } else {
      const from = afterMessagePrefix(b, s, e);
      if (from < 0) return false;
      const k = findAnswerKey(b, from, e);
      if (k < 0 || b[k - 1] === 92 /* \\ */) return false;
      const brace = b.indexOf(123 /* { */, from);
      if (brace !== -1 && brace < k) return false;
      v = k + 9;
      if (b[v] === 32) v++;
      if (b[v] !== 34 /* " */) return false;
      v++;
      this.header = Buffer.from(b.subarray(s, v));
    }
    const start = this.answer.length;
    if (!this.answer.appendPlainJsonString(b, v, e)) return false;
    this.sawMessage = true;
    this.lastPieceStart = start;
    return true;
  }

  /** The answer piece the last quickBytes() added. */
  lastAnswer(): string {
    return this.answer.text(this.lastPieceStart);
  }

  private addAnswer(a: string): void {
    this.answer.appendString(a);
  }

  /** Folds one event; returns the text a terminal should show now ("" if none). */
  push(ev: DifyEvent): string {
    const d = ev.data;
    if (!d) return "";
    switch (ev.name) {
      case "message":
      case "agent_message": {
        this.sawMessage = true;
        this.messageIds(d);
        const a = typeof d.answer === "string" ? d.answer : "";
        this.addAnswer(a);
        return a;
      }
      case "message_replace": {
        this.sawMessage = true;
        const a = typeof d.answer === "string" ? d.answer : "";
        this.answer.clear();
        this.addAnswer(a);
        return `\n${a}`;
      }
      case "message_end":
        this.sawMessage = true;
        this.messageEnded = true;
        this.messageIds(d);
        if (obj(d.metadata).usage !== undefined) this.usage = obj(d.metadata).usage;
        return "";
      case "message_file":
        this.files.push({ id: d.id, type: d.type, url: d.url, belongs_to: d.belongs_to });
        return "";
      case "workflow_started":
        this.sawWorkflow = true;
        this.ids.workflow_run_id ??= str(d.workflow_run_id) ?? str(obj(d.data).id);
        if (!this.ids.conversation_id && str(d.conversation_id)) this.ids.conversation_id = str(d.conversation_id);
        return "";
      case "text_chunk": {
        this.sawWorkflow = true;
        const t = obj(d.data).text;
        if (typeof t !== "string" || this.sawMessage) return "";
        this.text.push(t);
        return t;
      }
      case "workflow_finished": {
        this.sawWorkflow = true;
        const w = obj(d.data);
        this.ids.workflow_run_id ??= str(d.workflow_run_id) ?? str(w.id);
        this.workflowStatus = str(w.status) ?? "succeeded";
        this.workflowError = str(w.error);
        this.outputs = w.outputs ?? null;
        if (this.usage === undefined && typeof w.total_tokens === "number") this.usage = { total_tokens: w.total_tokens };
        return "";
      }
      case "workflow_paused":
      case "human_input_required":
        this.sawWorkflow = true;
        this.paused = true;
        return "";
      case "error":
        this.messageIds(d);
        this.error = {
          ...(str(d.code) ? { code: str(d.code) } : {}),
          message: str(d.message) ?? "the run failed",
          ...(typeof d.status === "number" ? { status: d.status } : {}),
        };
        return "";
      default:
        return "";
    }
  }

  private messageIds(d: Json): void {
    this.ids.message_id ??= str(d.message_id) ?? str(d.id);
    this.ids.conversation_id ??= str(d.conversation_id);
  }

  /** A chat-style result (answer) unless only workflow events came (outputs). */
  private get isWorkflow(): boolean {
    return this.sawWorkflow && !this.sawMessage;
  }

  get status(): string {
    if (this.error) return "failed";
    if (this.paused) return "paused";
    if (this.workflowStatus && (this.isWorkflow || !this.messageEnded || this.workflowStatus !== "succeeded")) return this.workflowStatus;
    if (this.messageEnded) return "succeeded";
    return "incomplete";
  }

  /** The streamed workflow text (what a terminal showed), for deciding what is left to print. */
  get streamedText(): string {
    return this.text.join("");
  }

  result(): RunResult {
    const r: RunResult = { status: this.status };
    if (this.isWorkflow) r.outputs = this.outputs ?? null;
    else r.answer = this.answer.text();
    if (this.ids.message_id) r.message_id = this.ids.message_id;
    if (this.ids.conversation_id) r.conversation_id = this.ids.conversation_id;
    if (this.ids.workflow_run_id) r.workflow_run_id = this.ids.workflow_run_id;
    if (this.usage !== undefined) r.usage = this.usage;
    if (this.files.length) r.files = this.files;
    if (this.error) r.error = this.error;
    else if (this.workflowError && this.status !== "succeeded") r.error = { message: this.workflowError };
    return r;
  }

  /** null when the run succeeded; otherwise the error the command exits with. */
  failure(): CliError | null {
    const e = this.error;
    if (e) {
      const what = `${e.message}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ""}`;
      const opts = { httpStatus: e.status, details: e.code ? { server_code: e.code } : undefined };
      // The HTTP status arrived inside the event, after a 200: map it as if it had been the response's.
      if (e.status === 429) return new CliError("rate_limited", `the run stopped: rate limit or quota: ${what}`, { ...opts, hint: "try again later, or check the app's model provider quota in Dify" });
      if (e.status !== undefined && e.status >= 400 && e.status < 500) return new CliError("server_4xx_other", `the run failed: ${what}`, { ...opts, hint: "the partial result, if any, was printed" });
      return new CliError("server_5xx", `the run failed on the server: ${what}`, { ...opts, hint: "try again later; the partial result, if any, was printed" });
    }
    const s = this.status;
    if (s === "succeeded" || s === "partial-succeeded") return null;
    if (s === "incomplete") return new CliError("network_connection", "the stream ended before the run finished", { hint: "try again; the partial result, if any, was printed" });
    if (s === "paused") return new CliError("unknown", "the workflow paused for human input, which difyctl cannot resume yet", { hint: "continue the run in the Dify web app" });
    return new CliError("server_5xx", `the workflow run ${s}${this.workflowError ? `: ${this.workflowError}` : ""}`, { hint: "see the run's node log in Dify" });
  }
}

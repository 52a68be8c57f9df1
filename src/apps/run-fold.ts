// Dify run events → one result. Knows the event vocabulary of chat, completion, agent, chatflow
// and workflow apps (contract §2.14); knows nothing about HTTP or output.
import { CliError } from "../cli/errors.ts";
import type { SseEvent } from "../http/sse.ts";

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

const BLOCK = 256 * 1024;

/**
 * The answer so far, as UTF-8 bytes in blocks: fast-path pieces are copied in without ever being
 * decoded, and nothing is copied twice (a doubling buffer was measured at ~15% of a long fold).
 */
class Utf8Builder {
  private done: Uint8Array[] = [];
  private doneLength = 0;
  bytes = new Uint8Array(4096);
  length = 0;

  /** Bytes written so far, across blocks. */
  get total(): number {
    return this.doneLength + this.length;
  }

  /** Makes room for n more bytes in `bytes`: a new block, so that no byte is ever copied twice. */
  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    if (this.length) {
      this.done.push(this.bytes.subarray(0, this.length));
      this.doneLength += this.length;
    }
    this.bytes = new Uint8Array(Math.max(BLOCK, n));
    this.length = 0;
  }

  appendString(t: string): void {
    if (!t) return;
    this.reserve(t.length * 3);
    this.length += encoder.encodeInto(t, this.bytes.subarray(this.length)).written;
  }

  /** The text from byte `from` (a value of `total`) on. Pieces are whole characters, so are blocks. */
  text(from = 0): string {
    let out = "";
    let at = 0;
    for (const b of [...this.done, this.bytes.subarray(0, this.length)]) {
      if (at + b.length > from) out += utf8.decode(from > at ? b.subarray(from - at) : b);
      at += b.length;
    }
    return out;
  }

  clear(): void {
    this.done = [];
    this.doneLength = 0;
    this.length = 0;
  }
}

/** A JSON string body that needs no unescaping: what the fast path can take byte for byte. */
const PLAIN = /^[^"\\\u0000-\u001f]*$/;
/** The answer key, as a server writes it (json.dumps puts a space after the colon). */
const ANSWER_KEY = /"answer"\s*:\s*"/g;
const PROBE = "difyctl template probe";
/** How every frame the fast path takes begins (Dify writes a space after the colon). */
export const DATA_PREFIX = "data: ";

/**
 * The frame shape of one streaming message: within a message, every `message` frame is the same
 * bytes but for the answer text (event, ids, created_at…). `sep` is what follows one frame's
 * answer up to the next frame's answer: the rest of the JSON, the blank line, and `data: ` and
 * the next JSON up to its answer; `tailLength` of it ends the frame. Learned from a frame that
 * went through JSON.parse, and proven there: the same bytes with another plain answer parse to
 * the same event with that answer (a plain string body cannot change how the rest is read).
 */
interface FrameTemplate {
  head: string;
  tail: string;
  sep: Buffer;
  tailLength: number;
}

/** The frame is the template's with this answer (then there is nothing new to learn). */
function fits(t: FrameTemplate | null, raw: string, answer: string): boolean {
  return t !== null && raw.length === t.head.length + answer.length + t.tail.length && raw.startsWith(t.head) && raw.endsWith(t.tail);
}

function learnTemplate(raw: string, d: Json, answer: string): FrameTemplate | null {
  if (!PLAIN.test(answer) || raw.includes("\n") || raw.includes("\r")) return null;
  const keys = [...raw.matchAll(ANSWER_KEY)];
  // The last key wins in JSON.parse; a nested one is rejected by the probe.
  for (let k = keys.length - 1; k >= 0; k--) {
    const at = keys[k].index! + keys[k][0].length;
    if (!raw.startsWith(answer + '"', at)) continue;
    const head = raw.slice(0, at);
    const tail = raw.slice(at + answer.length);
    let probe: unknown;
    try { probe = JSON.parse(head + PROBE + tail); } catch { continue; }
    const p = obj(probe);
    if (p.answer !== PROBE || p.event !== d.event) continue;
    const tailBytes = encoder.encode(tail + "\n\n");
    const sep = Buffer.concat([tailBytes, encoder.encode(DATA_PREFIX + head)]);
    return { head, tail, sep, tailLength: tailBytes.length };
  }
  return null;
}

export class RunFold {
  private answer = new Utf8Builder();
  private template: FrameTemplate | null = null;
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
   * cost of a long answer; then per-frame calls and line searches): a RawRunHandler (see sse.ts).
   * Takes the frames from b[p] on that match the current template with a plain answer (no
   * escape, no control character, well-formed UTF-8), copying each answer's bytes; one native
   * compare per frame checks the end of one frame and the start of the next. Returns where it
   * stopped: the first frame that needs the full parse is left to it.
   */
  foldFrames(b: Uint8Array, p: number, limit: number): number {
    const t = this.template;
    if (t === null) return p;
    const sep = t.sep;
    const tailLength = t.tailLength;
    const headLength = sep.length - tailLength;
    if (limit - p <= headLength || sep.compare(b, p, p + headLength, tailLength) !== 0) return p;
    const a = this.answer;
    let o = a.bytes;
    let l = a.length;
    let taken = p;
    let v = p + headLength;
    for (;;) {
      if (o.length - l < 4096) {
        a.length = l;
        a.reserve(4096);
        o = a.bytes;
        l = a.length;
      }
      // An answer too long for the block is left to the slow path: no bounds checks in the loop.
      const stop = Math.min(limit, v + o.length - l);
      let high = 0;
      let q = v;
      let c = 0;
      for (; q < stop; q++) {
        c = b[q];
        if (c === 34 || c === 92 || c < 0x20) break;
        high |= c;
        o[l++] = c;
      }
      if (c !== 34 || q >= stop || (high >= 0x80 && !isWellFormedUtf8(b, v, q))) break;
      if (limit - q >= sep.length && sep.compare(b, q, q + sep.length) === 0) {
        a.length = l;
        taken = q + tailLength;
        v = q + sep.length;
        continue;
      }
      if (limit - q >= tailLength && sep.compare(b, q, q + tailLength, 0, tailLength) === 0) {
        a.length = l;
        taken = q + tailLength;
      }
      break;
    }
    return taken;
  }

  /** Answer bytes so far: a mark for answerSince(). */
  get answerBytes(): number {
    return this.answer.total;
  }

  /** The answer text added since the mark. */
  answerSince(mark: number): string {
    return this.answer.text(mark);
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
        // A frame that teaches no new shape (escapes, several lines) leaves the last one in place:
        // a template stays sound whatever other frames look like.
        if (typeof d.answer === "string" && !fits(this.template, ev.raw, a)) this.template = learnTemplate(ev.raw, d, a) ?? this.template;
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

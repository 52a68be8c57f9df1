// Dify run events → one result. Knows the event vocabulary of chat, completion, agent, chatflow
// and workflow apps; knows nothing about HTTP or output.
import { CliError } from "../cli/errors.ts";
import { malformedResponse, MAX_JSON_DEPTH, nestedDeeperThan } from "../http/bounded-json.ts";
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
    if (nestedDeeperThan(e.data)) throw malformedResponse(`an event nested more than ${MAX_JSON_DEPTH} levels deep`);
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

export class RunFold {
  /** The answer's pieces, joined once at the end (a long answer is thousands of small frames). */
  private answer: string[] = [];
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
        if (a) this.answer.push(a);
        return a;
      }
      case "message_replace": {
        this.sawMessage = true;
        const a = typeof d.answer === "string" ? d.answer : "";
        this.answer = a ? [a] : [];
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
    else r.answer = this.answer.join("");
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

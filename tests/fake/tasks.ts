// Workflow runs that outlive one request, as the June server keeps them: Human Input pauses and
// their forms, the resume stream (`GET /apps/<id>/tasks/<run_id>/events`) with its snapshot and
// continue-on-pause semantics, the stop flag (`POST /apps/<id>/tasks/<task_id>/stop`) and the
// slow stream it ends. Live events are fanned out like Redis pub/sub: at most once, so a client
// that subscribes late misses what was published before.

import type { App } from "./fixtures";
import { errorBody, json } from "./http";
import { PING, SSE_HEADERS, sseData } from "./sse";
import { newUuid, sleep, tokenUrlsafe } from "./util";

type Json = Record<string, unknown>;

export interface FormInput { type: "paragraph" | "select" | "file" | "file-list"; output_variable_name: string; [k: string]: unknown }
export interface FormAction { id: string; title: string; button_style: string }

export interface Form {
  id: string;
  /** the standalone web-app recipient's token; null when the node has no web-app delivery */
  token: string | null;
  /** the token a console recipient holds: it exists, but /openapi/v1 answers 404 for it */
  consoleToken: string;
  runId: string;
  appId: string;
  nodeId: string;
  nodeTitle: string;
  content: string;
  inputs: FormInput[];
  actions: FormAction[];
  resolvedDefaults: Json;
  /** epoch ms (server clock) */
  expiresAt: number;
  status: "waiting" | "submitted" | "expired";
  submitted?: { action: string; inputs: Json };
}

export interface WorkflowRun {
  id: string;
  taskId: string;
  app: App;
  /** who started it: account id or SSO email (the events route is theirs only) */
  createdBy: string;
  createdAt: number;
  status: "running" | "paused" | "succeeded" | "stopped" | "failed";
  finishedAt: number | null;
  /** node events so far, for the state snapshot */
  nodes: Json[];
  outputs: Json;
  inputs: Json;
  /** the forms answered so far, by node */
  answers: Record<string, { action: string; inputs: Json }>;
  subscribers: Set<(frame: Json) => void>;
  totalSteps: number;
}

const HOUR = 3_600_000;

export class TaskHub {
  readonly runs = new Map<string, WorkflowRun>();
  readonly forms = new Map<string, Form>();
  readonly stopped = new Set<string>();
  /** every stop request, in order (tests check the task id) */
  readonly stopLog: { appId: string; taskId: string }[] = [];

  constructor(private readonly now: () => number, private readonly resumeDelayMs: () => number) {}

  // ───────────────────────── stop ─────────────────────────

  stop(appId: string, taskId: string): Response {
    // June sets the flag without looking the task up: unknown and finished tasks get 200 too.
    this.stopped.add(taskId);
    this.stopLog.push({ appId, taskId });
    return json(200, { result: "success" });
  }

  /** A workflow that writes a word every `delayMs` for a long time, until its task is stopped. */
  slowRun(app: App, inputs: Json, delayMs: number, signal: AbortSignal): Response {
    const taskId = newUuid();
    const runId = newUuid();
    const created = Math.floor(this.now() / 1000);
    const wf = (event: string, data: Json) => sseData({ event, task_id: taskId, workflow_run_id: runId, data });
    const enc = new TextEncoder();
    let i = 0;
    let done = false;
    return new Response(new ReadableStream<Uint8Array>({
      start: (c) => {
        c.enqueue(enc.encode(PING + wf("workflow_started", { id: runId, workflow_id: app.id, inputs, created_at: created, reason: "initial" })
          + wf("node_started", { id: newUuid(), node_id: "llm", node_type: "llm", title: "Write", index: 1, created_at: created })));
      },
      pull: async (c) => {
        if (done) return;
        await sleep(delayMs);
        if (signal.aborted) { done = true; c.close(); return; }
        if (this.stopped.has(taskId) || i >= 2000) {
          const status = this.stopped.has(taskId) ? "stopped" : "succeeded";
          c.enqueue(enc.encode(wf("workflow_finished", {
            id: runId, workflow_id: app.id, status, outputs: { text: `${i} words` }, error: status === "stopped" ? "Workflow execution stopped by user." : null,
            elapsed_time: i * delayMs / 1000, total_tokens: i, total_steps: 2, created_at: created, finished_at: Math.floor(this.now() / 1000),
          })));
          done = true;
          c.close();
          return;
        }
        c.enqueue(enc.encode(wf("text_chunk", { text: `word${i++} `, from_variable_selector: ["llm", "text"] })));
      },
    }), { headers: SSE_HEADERS });
  }

  // ───────────────────────── human input ─────────────────────────

  /** /run of a pausing workflow: the events up to the first pause, then the stream closes. */
  startPausing(app: App, inputs: Json, createdBy: string): Response {
    const run: WorkflowRun = {
      id: newUuid(), taskId: newUuid(), app, createdBy, createdAt: Math.floor(this.now() / 1000), status: "running", finishedAt: null,
      nodes: [], outputs: {}, inputs, answers: {}, subscribers: new Set(), totalSteps: 0,
    };
    this.runs.set(run.id, run);
    const frames: string[] = [PING];
    const emit = (e: Json) => frames.push(sseData(e));
    emit(this.event(run, "workflow_started", { id: run.id, workflow_id: app.id, inputs, created_at: run.createdAt, reason: "initial" }));
    this.node(run, emit, "start", "start", "Start");
    this.pauseAt(run, emit, app.behaviour === "hitl_console" ? "console" : "manager");
    return new Response(frames.join(""), { headers: SSE_HEADERS });
  }

  private event(run: WorkflowRun, event: string, data: Json): Json {
    return { event, task_id: run.taskId, workflow_run_id: run.id, data };
  }

  private node(run: WorkflowRun, emit: (e: Json) => void, nodeId: string, type: string, title: string, finish = true): void {
    const execId = newUuid();
    const index = ++run.totalSteps;
    const started = this.event(run, "node_started", { id: execId, node_id: nodeId, node_type: type, title, index, predecessor_node_id: null, inputs: null, created_at: run.createdAt });
    run.nodes.push(started);
    emit(started);
    if (!finish) return;
    const finished = this.event(run, "node_finished", {
      id: execId, node_id: nodeId, node_type: type, title, index, predecessor_node_id: null, inputs: null, process_data: null, outputs: null,
      status: "succeeded", error: null, elapsed_time: 0.01, execution_metadata: null, created_at: run.createdAt, finished_at: run.createdAt,
    });
    run.nodes.push(finished);
    emit(finished);
  }

  private newForm(run: WorkflowRun, stage: "manager" | "finance" | "console"): Form {
    const common = { id: newUuid(), runId: run.id, appId: run.app.id, consoleToken: tokenUrlsafe(16), expiresAt: this.now() + 24 * HOUR, status: "waiting" as const };
    if (stage === "console") {
      return {
        ...common, token: null, nodeId: "console_review", nodeTitle: "Console review", content: "Approve this in the Dify console.",
        inputs: [], actions: [{ id: "approve", title: "Approve", button_style: "primary" }], resolvedDefaults: {},
      };
    }
    if (stage === "manager") {
      const amount = run.inputs.amount;
      return {
        ...common, token: tokenUrlsafe(16), nodeId: "manager_approval", nodeTitle: "Manager approval",
        content: `## Expense claim\n\nAmount: **${String(amount)} USD**\n\nPlease approve or reject it.`,
        inputs: [
          { type: "paragraph", output_variable_name: "comment", default: { type: "variable", selector: ["start", "amount"], value: "" } },
          { type: "select", output_variable_name: "category", option_source: { type: "constant", selector: [], value: ["travel", "meals", "other"] } },
        ],
        actions: [{ id: "approve", title: "Approve", button_style: "primary" }, { id: "reject", title: "Reject", button_style: "default" }],
        resolvedDefaults: { comment: `Claim of ${String(amount)} USD` },
      };
    }
    return {
      ...common, token: tokenUrlsafe(16), nodeId: "finance_check", nodeTitle: "Finance check",
      content: "Book the approved claim to a ledger.",
      inputs: [{ type: "paragraph", output_variable_name: "ledger_code", default: { type: "constant", selector: [], value: "GL-6000" } }],
      actions: [{ id: "book", title: "Book it", button_style: "primary" }, { id: "hold", title: "Hold", button_style: "ghost" }],
      resolvedDefaults: {},
    };
  }

  private formEventData(f: Form): Json {
    return {
      form_id: f.id, node_id: f.nodeId, node_title: f.nodeTitle, form_content: f.content, inputs: f.inputs, actions: f.actions,
      display_in_ui: false, form_token: f.token, resolved_default_values: f.resolvedDefaults, expiration_time: Math.floor(f.expiresAt / 1000),
    };
  }

  private pausedEvent(run: WorkflowRun): Json {
    const waiting = [...this.forms.values()].filter((f) => f.runId === run.id && f.status === "waiting");
    return this.event(run, "workflow_paused", {
      workflow_run_id: run.id, paused_nodes: waiting.map((f) => f.nodeId), outputs: {},
      reasons: waiting.map((f) => {
        const d = this.formEventData(f);
        return { TYPE: "human_input_required", form_id: d.form_id, form_content: d.form_content, inputs: d.inputs, actions: d.actions, node_id: d.node_id, node_title: d.node_title, resolved_default_values: d.resolved_default_values, form_token: d.form_token, expiration_time: d.expiration_time };
      }),
      status: "paused", created_at: run.createdAt, elapsed_time: 0.2, total_tokens: 0, total_steps: run.totalSteps,
    });
  }

  private pauseAt(run: WorkflowRun, emit: (e: Json) => void, stage: "manager" | "finance" | "console"): void {
    const form = this.newForm(run, stage);
    this.forms.set(form.token ?? form.consoleToken, form);
    this.node(run, emit, form.nodeId, "human-input", form.nodeTitle, false);
    emit(this.event(run, "human_input_required", this.formEventData(form)));
    run.status = "paused";
    emit(this.pausedEvent(run));
  }

  private formFor(appId: string, token: string): Form | Response {
    const f = this.forms.get(token);
    // Unknown, another app's, or a console recipient's token: all look the same from here.
    if (!f || f.appId !== appId || f.token !== token) return errorBody(404, "Form not found", { code: "not_found" });
    if (f.status === "submitted") return errorBody(412, `This form has already been submitted by another user, form_id=${f.id}`, { code: "human_input_form_submitted" });
    if (f.status === "expired" || this.now() >= f.expiresAt) {
      f.status = "expired";
      return errorBody(412, `This form has expired, form_id=${f.id}`, { code: "human_input_form_expired" });
    }
    return f;
  }

  getForm(appId: string, token: string): Response {
    const f = this.formFor(appId, token);
    if (f instanceof Response) return f;
    // The GET view stringifies default values and does not resolve variable select options.
    const defaults: Json = {};
    for (const [k, v] of Object.entries(f.resolvedDefaults)) defaults[k] = v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
    return json(200, { form_content: f.content, inputs: f.inputs, resolved_default_values: defaults, user_actions: f.actions, expiration_time: Math.floor(f.expiresAt / 1000) });
  }

  submitForm(appId: string, token: string, body: Json | undefined): Response {
    const details: { type: string; loc: string[]; msg: string }[] = [];
    if (body === undefined) details.push({ type: "model_type", loc: [], msg: "Input should be a valid dictionary or instance of HumanInputFormSubmitPayload" });
    else {
      if (!("action" in body)) details.push({ type: "missing", loc: ["action"], msg: "Field required" });
      else if (typeof body.action !== "string") details.push({ type: "string_type", loc: ["action"], msg: "Input should be a valid string" });
      if (!("inputs" in body)) details.push({ type: "missing", loc: ["inputs"], msg: "Field required" });
      else if (!body.inputs || typeof body.inputs !== "object" || Array.isArray(body.inputs)) details.push({ type: "dict_type", loc: ["inputs"], msg: "Input should be a valid dictionary" });
    }
    if (details.length) return errorBody(422, "Request validation failed", { details });
    const f = this.formFor(appId, token);
    if (f instanceof Response) return f;
    const action = body!.action as string;
    const inputs = body!.inputs as Json;
    if (!f.actions.some((a) => a.id === action)) return errorBody(400, `Invalid action: ${action}`, { code: "invalid_form_data" });
    const missing = f.inputs.map((i) => i.output_variable_name).filter((n) => !(n in inputs));
    if (missing.length) return errorBody(400, `Missing required inputs: ${missing.join(", ")}`, { code: "invalid_form_data" });
    for (const i of f.inputs) {
      if (i.type !== "select") continue;
      const opts = ((i.option_source as Json | undefined)?.value ?? []) as unknown[];
      const v = inputs[i.output_variable_name];
      if (!opts.includes(v)) return errorBody(400, `Invalid value for select input '${i.output_variable_name}': ${String(v)}`, { code: "invalid_form_data" });
    }
    f.status = "submitted";
    f.submitted = { action, inputs };
    const run = this.runs.get(f.runId)!;
    run.answers[f.nodeId] = { action, inputs };
    // The Celery worker picks the resume task up a moment later; until then the run reads as paused.
    setTimeout(() => void this.resume(run, f), this.resumeDelayMs());
    return json(200, {});
  }

  private async resume(run: WorkflowRun, form: Form): Promise<void> {
    run.status = "running";
    const emit = (e: Json) => { for (const s of [...run.subscribers]) s(e); };
    const step = async (e: Json) => { emit(e); await sleep(5); };
    await step(this.event(run, "workflow_started", { id: run.id, workflow_id: run.app.id, inputs: run.inputs, created_at: run.createdAt, reason: "resumption" }));
    const action = form.actions.find((a) => a.id === form.submitted!.action)!;
    await step(this.event(run, "human_input_form_filled", {
      node_id: form.nodeId, node_title: form.nodeTitle, rendered_content: form.content, action_id: action.id, action_text: action.title, submitted_data: form.submitted!.inputs,
    }));
    const finished = this.event(run, "node_finished", {
      id: newUuid(), node_id: form.nodeId, node_type: "human-input", title: form.nodeTitle, index: run.totalSteps, predecessor_node_id: null, inputs: null,
      process_data: null, outputs: null, status: "succeeded", error: null, elapsed_time: 0.01, execution_metadata: null, created_at: run.createdAt, finished_at: run.createdAt,
    });
    run.nodes.push(finished);
    await step(finished);
    if (form.nodeId === "manager_approval" && action.id === "approve") {
      const frames: Json[] = [];
      this.pauseAt(run, (e) => frames.push(e), "finance");
      for (const e of frames) await step(e);
      return;
    }
    const m = run.answers.manager_approval;
    const fin = run.answers.finance_check;
    const decision = m?.action === "approve" ? (fin?.action === "book" ? "booked" : "on hold") : form.nodeId === "console_review" ? "approved" : "rejected";
    const text = `Claim ${decision}.`;
    for (const w of text.split(/(?<= )/)) await step(this.event(run, "text_chunk", { text: w, from_variable_selector: ["end", "text"] }));
    run.outputs = { decision, comment: m?.inputs.comment ?? null, category: m?.inputs.category ?? null, ledger_code: fin?.inputs.ledger_code ?? null };
    run.status = "succeeded";
    run.finishedAt = Math.floor(this.now() / 1000);
    emit(this.finishedEvent(run));
  }

  private finishedEvent(run: WorkflowRun, taskId = run.taskId): Json {
    return {
      event: "workflow_finished", task_id: taskId, workflow_run_id: run.id,
      data: {
        id: run.id, workflow_id: run.app.id, status: run.status, outputs: run.outputs, error: null, elapsed_time: 0.5, total_tokens: 0,
        total_steps: run.totalSteps, created_by: {}, created_at: run.createdAt, finished_at: run.finishedAt, files: [],
      },
    };
  }

  // ───────────────────────── resume stream ─────────────────────────

  /** June `workflow_events.py`; the caller has passed the app guard. */
  events(app: App, runId: string, caller: string, q: URLSearchParams, signal: AbortSignal): Response {
    if (app.mode !== "workflow" && app.mode !== "advanced-chat") return errorBody(422, "mode_not_supported_for_event_reconnect");
    const run = this.runs.get(runId.toLowerCase());
    if (!run || run.app.id !== app.id || run.createdBy !== caller) return errorBody(404, "Workflow run not found");
    const flag = (k: string) => (q.get(k) ?? "").toLowerCase() === "true";
    const snapshot = flag("include_state_snapshot");
    const continueOnPause = flag("continue_on_pause");
    const enc = new TextEncoder();
    if (run.finishedAt !== null) {
      // A finished run: its final event only, with the run id where the task id would be.
      return new Response(enc.encode(PING + sseData(this.finishedEvent(run, run.id))), { headers: SSE_HEADERS });
    }
    const terminal = new Set(continueOnPause ? (snapshot ? ["workflow_finished"] : []) : ["workflow_finished", "workflow_paused"]);
    let sub: ((e: Json) => void) | null = null;
    let ping: ReturnType<typeof setInterval> | null = null;
    const cleanup = () => {
      if (sub) run.subscribers.delete(sub);
      if (ping) clearInterval(ping);
      sub = null;
    };
    return new Response(new ReadableStream<Uint8Array>({
      start: (c) => {
        let closed = false;
        const close = () => { if (closed) return; closed = true; cleanup(); try { c.close(); } catch { /* gone */ } };
        const send = (e: Json) => {
          if (closed) return;
          try { c.enqueue(enc.encode(sseData(e))); } catch { close(); return; }
          if (terminal.has(String(e.event))) close();
        };
        c.enqueue(enc.encode(PING));
        // Snapshot and subscription happen at once: nothing published in between is lost.
        if (snapshot) {
          send(this.event(run, "workflow_started", { id: run.id, workflow_id: run.app.id, inputs: run.inputs, created_at: run.createdAt, reason: "initial" }));
          for (const n of run.nodes) send(n);
          if (run.status === "paused") {
            for (const f of this.forms.values()) if (f.runId === run.id && f.status === "waiting") send(this.event(run, "human_input_required", this.formEventData(f)));
            send(this.pausedEvent(run));
          }
        }
        if (closed) return;
        sub = send;
        run.subscribers.add(sub);
        ping = setInterval(() => { try { c.enqueue(enc.encode(PING)); } catch { close(); } }, 10_000);
        signal.addEventListener("abort", close, { once: true });
      },
      cancel: cleanup,
    }), { headers: SSE_HEADERS });
  }
}

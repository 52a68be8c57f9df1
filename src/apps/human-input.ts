// Human-in-the-loop: a workflow's Human Input node pauses the run on a form that a person must
// answer. This module reads the pause from the events, shows or prints the form, checks and
// submits an answer, and opens the stream the resumed run continues on.
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { HttpClient } from "../http/http-client.ts";
import { echoInput, sanitize } from "../ui/sanitize.ts";
import { appError, type Cmds } from "./app-api.ts";
import type { DifyEvent } from "./run-fold.ts";

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

export interface FormInputSpec {
  type: string;
  output_variable_name: string;
  [k: string]: unknown;
}

export interface FormAction { id: string; title: string; button_style?: string }

/** A form the run waits on, as the events describe it. */
export interface PendingForm {
  form_token: string | null;
  form_id?: string;
  node_id?: string;
  node_title: string;
  form_content: string;
  inputs: FormInputSpec[];
  actions: FormAction[];
  resolved_default_values: Json;
  expiration_time: number | null;
}

export interface Pause {
  status: "paused";
  workflow_run_id: string;
  task_id: string;
  forms: PendingForm[];
}

function formFrom(d: Json): PendingForm {
  return {
    form_token: typeof d.form_token === "string" && d.form_token ? d.form_token : null,
    ...(str(d.form_id) ? { form_id: str(d.form_id) } : {}),
    ...(str(d.node_id) ? { node_id: str(d.node_id) } : {}),
    node_title: str(d.node_title) ?? str(d.node_id) ?? "Human input",
    form_content: str(d.form_content) ?? "",
    inputs: (Array.isArray(d.inputs) ? d.inputs : []).filter((i): i is FormInputSpec => isObj(i) && typeof i.output_variable_name === "string" && typeof i.type === "string"),
    actions: (Array.isArray(d.actions) ? d.actions : []).filter((a): a is FormAction => isObj(a) && typeof a.id === "string").map((a) => ({ id: a.id, title: str(a.title) ?? a.id, ...(str(a.button_style) ? { button_style: str(a.button_style) } : {}) })),
    resolved_default_values: isObj(d.resolved_default_values) ? d.resolved_default_values : {},
    expiration_time: typeof d.expiration_time === "number" ? d.expiration_time : null,
  };
}

/**
 * Watches a run's events for a pause. Forms already answered (their token or form id) are left
 * out: a resume stream's state snapshot replays the pause it resumes from.
 */
export class PauseTracker {
  private forms = new Map<string, PendingForm>();
  private runId = "";
  private taskId = "";
  private pausedNow = false;

  constructor(private readonly answered: Set<string> = new Set()) {}

  private isAnswered(f: PendingForm): boolean {
    return (f.form_token !== null && this.answered.has(f.form_token)) || (f.form_id !== undefined && this.answered.has(f.form_id));
  }

  /** Returns "skip" for a replayed pause this client already answered, so nothing acts on it. */
  see(ev: DifyEvent): "skip" | "pause" | void {
    const d = ev.data;
    if (!d) return;
    if (typeof d.task_id === "string" && d.task_id) this.taskId ||= d.task_id;
    if (typeof d.workflow_run_id === "string" && d.workflow_run_id) this.runId ||= d.workflow_run_id;
    if (ev.name === "human_input_required") {
      const f = formFrom(isObj(d.data) ? d.data : {});
      if (this.isAnswered(f)) return "skip";
      this.forms.set(f.form_id ?? f.form_token ?? String(this.forms.size), f);
      return;
    }
    if (ev.name === "workflow_paused") {
      const w = isObj(d.data) ? d.data : {};
      this.runId ||= str(w.workflow_run_id) ?? "";
      for (const r of Array.isArray(w.reasons) ? w.reasons : []) {
        if (!isObj(r) || r.TYPE !== "human_input_required") continue;
        const f = formFrom(r);
        const key = f.form_id ?? f.form_token ?? "";
        if (!this.isAnswered(f) && key && !this.forms.has(key)) this.forms.set(key, f);
      }
      if (this.forms.size === 0) return "skip";
      this.pausedNow = true;
      return "pause";
    }
    if (ev.name === "workflow_started" || ev.name === "human_input_form_filled") this.pausedNow = false;
  }

  get paused(): boolean {
    return this.pausedNow;
  }

  get workflowRunId(): string {
    return this.runId;
  }

  get firstTaskId(): string {
    return this.taskId;
  }

  pause(): Pause {
    return { status: "paused", workflow_run_id: this.runId, task_id: this.taskId, forms: [...this.forms.values()] };
  }
}

/** The JSON an agent relays to a person (`forms[].form_token` answers with `resume app`). */
export function pauseJson(p: Pause): Json {
  return {
    status: "paused", workflow_run_id: p.workflow_run_id, task_id: p.task_id,
    forms: p.forms.map((f) => ({
      form_token: f.form_token, node_title: f.node_title, form_content: f.form_content, inputs: f.inputs, actions: f.actions,
      resolved_default_values: f.resolved_default_values, expiration_time: f.expiration_time,
    })),
  };
}

/** How to answer each form from a shell. */
export function resumeHint(appId: string, p: Pause): string {
  const lines: string[] = [];
  for (const f of p.forms) {
    if (f.form_token === null) {
      lines.push(`the form '${sanitize(f.node_title, { oneLine: true })}' can only be answered in the Dify web app (it has no token for API clients)`);
      continue;
    }
    const action = f.actions[0]?.id ?? "<action>";
    lines.push(`answer '${sanitize(f.node_title, { oneLine: true })}' with: difyctl resume app ${appId} ${f.form_token} --action ${action}${f.inputs.length ? " --inputs '{…}'" : ""} --run ${p.workflow_run_id}`);
  }
  return lines.join("\n");
}

// ─────────────────────────── the answer ───────────────────────────

function optionsOf(i: FormInputSpec): string[] | null {
  if (i.type !== "select") return null;
  const src = isObj(i.option_source) ? i.option_source : {};
  return Array.isArray(src.value) ? src.value.map((v) => String(v)) : null;
}

/** The value an input starts with: a resolved variable default, else a constant default, else "". */
export function defaultValue(i: FormInputSpec, resolved: Json): unknown {
  const name = i.output_variable_name;
  if (name in resolved && resolved[name] !== null && resolved[name] !== undefined) return resolved[name];
  const d = isObj(i.default) ? i.default : null;
  if (d && d.type === "constant" && d.value !== undefined && d.value !== null) return d.value;
  if (i.type === "file-list") return [];
  return "";
}

/**
 * The body of a submission: every input present as a key (the server requires them all),
 * given values first, defaults for the rest. Problems → one usage error, nothing sent.
 */
export function buildSubmission(form: PendingForm, action: string, given: Json): { action: string; inputs: Json } {
  const problems: string[] = [];
  if (!form.actions.some((a) => a.id === action)) {
    problems.push(`'${echoInput(action)}' is not an action of this form (actions: ${form.actions.map((a) => a.id).join(", ") || "none"})`);
  }
  const names = new Set(form.inputs.map((i) => i.output_variable_name));
  for (const k of Object.keys(given)) if (!names.has(k)) problems.push(`'${echoInput(k)}' is not an input of this form`);
  const inputs: Json = {};
  for (const i of form.inputs) {
    const name = i.output_variable_name;
    const v = name in given ? given[name] : defaultValue(i, form.resolved_default_values);
    const opts = optionsOf(i);
    if (opts && opts.length && !opts.includes(String(v))) {
      problems.push(`'${name}' must be one of ${opts.map((o) => JSON.stringify(o)).join(", ")}${name in given ? "" : " (it has no default)"}`);
    }
    if ((i.type === "paragraph" || i.type === "select") && typeof v !== "string") problems.push(`'${name}' must be a string`);
    inputs[name] = v;
  }
  if (problems.length) {
    throw new CliError("usage_invalid_flag", `invalid answer to '${sanitize(form.node_title, { oneLine: true })}': ${problems.join("; ")}`, {
      hint: describeForm(form), details: { problems },
    });
  }
  return { action, inputs };
}

/** One line naming the form's inputs and actions (for hints). */
export function describeForm(f: PendingForm): string {
  const ins = f.inputs.map((i) => {
    const o = optionsOf(i);
    return `${i.output_variable_name} (${i.type}${o ? `: ${o.join("|")}` : ""})`;
  });
  return `actions: ${f.actions.map((a) => a.id).join(", ") || "none"}; inputs: ${ins.join(", ") || "none"}`;
}

/** A form as `GET …/form/human_input/<token>` returns it (its actions are `user_actions`). */
export function formFromGet(token: string, body: unknown): PendingForm {
  const b = isObj(body) ? body : {};
  return formFrom({ ...b, form_token: token, actions: b.user_actions ?? b.actions, node_title: b.node_title ?? "Human input" });
}

/** Form errors → messages that say what happened and what to do. */
export function formError(status: number, body: unknown, appId: string, cmds: Cmds): CliError {
  const b = isObj(body) ? body : {};
  const code = str(b.code) ?? "";
  const message = str(b.message) ?? "";
  const details = { ...(code ? { server_code: code } : {}), ...(message ? { server_message: message } : {}) };
  if (status === 404 && (code === "not_found" || message === "Form not found")) {
    return new CliError("server_4xx_other", "form not found: the token is unknown, belongs to another app, or the form can only be answered in the Dify web app or console", {
      httpStatus: 404, details, hint: `check the app id and the form_token from the paused run; list apps with '${cmds.list}'`,
    });
  }
  if (status === 412 && code === "human_input_form_submitted") {
    return new CliError("server_4xx_other", "this form has already been submitted (by you or someone else); the run has moved on", { httpStatus: 412, details, hint: "nothing to do; see the run in Dify" });
  }
  if (status === 412 && code === "human_input_form_expired") {
    return new CliError("server_4xx_other", "this form has expired: it can no longer be answered", { httpStatus: 412, details, hint: "start the run again to get a new form" });
  }
  if (status === 400 && code === "invalid_form_data") {
    return new CliError("usage_invalid_flag", `the server rejected the answer: ${sanitize(message, { oneLine: true })}`, { httpStatus: 400, details, hint: "fix --action / --inputs and try again" });
  }
  return appError(status, body, appId, cmds);
}

const FORM_4XX = [400, 403, 404, 409, 412, 422];

export async function getForm(http: HttpClient, appId: string, token: string, cmds: Cmds): Promise<PendingForm> {
  const r = await http.get(`/apps/${encodeURIComponent(appId)}/form/human_input/${encodeURIComponent(token)}`, { headers: { "X-Dify-App-Id": appId }, acceptStatus: FORM_4XX });
  if (r.status >= 400) throw formError(r.status, r.body, appId, cmds);
  return formFromGet(token, r.body);
}

export async function submitForm(http: HttpClient, appId: string, token: string, body: { action: string; inputs: Json }, cmds: Cmds): Promise<void> {
  const r = await http.post(`/apps/${encodeURIComponent(appId)}/form/human_input/${encodeURIComponent(token)}`, body, {
    headers: { "X-Dify-App-Id": appId }, acceptStatus: FORM_4XX, retry: false,
  });
  if (r.status >= 400) throw formError(r.status, r.body, appId, cmds);
}

/**
 * The resumed run's events. Opened after the answer was accepted, with the state snapshot: the
 * server replays what happened so far from its database, so an event published between the
 * answer and this request is not lost (live events alone are at-most-once). With
 * continue_on_pause the server never closes this stream itself; the reader stops at the end.
 */
export async function openRunEvents(http: HttpClient, appId: string, runId: string, cmds: Cmds): Promise<Response> {
  const r = await http.request<Response | unknown>("GET", `/apps/${encodeURIComponent(appId)}/tasks/${encodeURIComponent(runId)}/events`, {
    query: { include_state_snapshot: "true", continue_on_pause: "true" },
    headers: { "X-Dify-App-Id": appId, Accept: "text/event-stream" }, raw: true, retry: false, acceptStatus: [400, 403, 404, 422],
  });
  if (r.status === 404) {
    throw new CliError("server_4xx_other", "workflow run not found: the run id is wrong, or the run was started by another user", { httpStatus: 404, hint: "pass the workflow_run_id printed when the run paused (--run)" });
  }
  if (r.status >= 400) throw appError(r.status, r.body, appId, cmds);
  return r.body as Response;
}

// ─────────────────────────── the terminal ───────────────────────────

/** Asks one question on the terminal and returns the line typed (without its newline). */
export type Prompt = (question: string) => Promise<string>;

/** The terminal's line reader; loaded only when a person is asked something. */
export async function terminalPrompt(ctx: Ctx): Promise<{ ask: Prompt; close(): void }> {
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  let closed = false;
  rl.on("close", () => { closed = true; });
  const onAbort = () => rl.close();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  return {
    ask: (q) => new Promise<string>((resolve, reject) => {
      if (closed || ctx.signal.aborted) return reject(new CliError("cancelled", "cancelled"));
      const done = () => reject(new CliError("cancelled", "cancelled"));
      rl.once("close", done);
      rl.question(q, (a) => { rl.off("close", done); resolve(a); });
    }),
    close: () => { ctx.signal.removeEventListener("abort", onAbort); rl.close(); },
  };
}

/** The form as a person reads it: its content, its inputs with their defaults, its actions. */
export function renderForm(f: PendingForm): string {
  let out = `\n── ${sanitize(f.node_title, { oneLine: true })} ──\n`;
  const content = sanitize(f.form_content).trim();
  if (content) out += `${content}\n`;
  if (f.expiration_time) out += `(answer before ${new Date(f.expiration_time * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC)\n`;
  return out;
}

/**
 * Fills a form on the terminal: each input (Enter keeps the default), then the action. File
 * inputs take a path or URL; `uploadFile` turns it into the mapping the server wants.
 */
export async function fillForm(f: PendingForm, ask: Prompt, write: (s: string) => void, uploadFile?: (input: FormInputSpec, value: string) => Promise<unknown>): Promise<{ action: string; inputs: Json }> {
  write(renderForm(f));
  const given: Json = {};
  for (const i of f.inputs) {
    const name = i.output_variable_name;
    const def = defaultValue(i, f.resolved_default_values);
    const opts = optionsOf(i);
    if (opts) {
      write(`${name}:\n${opts.map((o, n) => `  ${n + 1}) ${sanitize(o, { oneLine: true })}`).join("\n")}\n`);
      for (;;) {
        const a = (await ask(`choose 1-${opts.length}${typeof def === "string" && opts.includes(def) ? ` [${opts.indexOf(def) + 1}]` : ""}: `)).trim();
        const n = a === "" && typeof def === "string" && opts.includes(def) ? opts.indexOf(def) + 1 : Number(a);
        if (Number.isInteger(n) && n >= 1 && n <= opts.length) { given[name] = opts[n - 1]; break; }
        const byName = opts.indexOf(a);
        if (byName >= 0) { given[name] = opts[byName]; break; }
        write(`  please enter a number from 1 to ${opts.length}\n`);
      }
      continue;
    }
    if (i.type === "file" || i.type === "file-list") {
      const a = (await ask(`${name} (${i.type}: a path or https:// URL${i.type === "file-list" ? ", several separated by spaces" : ""}; Enter to skip): `)).trim();
      if (!a) { given[name] = i.type === "file-list" ? [] : ""; continue; }
      const values = i.type === "file-list" ? a.split(/\s+/) : [a];
      const mapped = uploadFile ? await Promise.all(values.map((v) => uploadFile(i, v))) : values;
      given[name] = i.type === "file-list" ? mapped : mapped[0];
      continue;
    }
    const shown = typeof def === "string" ? def : JSON.stringify(def);
    const a = await ask(`${name}${shown ? ` [${sanitize(shown, { oneLine: true, max: 60 })}]` : ""}: `);
    given[name] = a === "" ? def : a;
  }
  if (f.actions.length === 0) throw new CliError("unknown", "the form has no actions to choose from");
  write(`actions:\n${f.actions.map((a, n) => `  ${n + 1}) ${sanitize(a.title, { oneLine: true })} (${a.id})`).join("\n")}\n`);
  let action = "";
  for (;;) {
    const a = (await ask(`choose 1-${f.actions.length}: `)).trim();
    const n = Number(a);
    const hit = Number.isInteger(n) && n >= 1 && n <= f.actions.length ? f.actions[n - 1] : f.actions.find((x) => x.id === a);
    if (hit) { action = hit.id; break; }
    write(`  please enter a number from 1 to ${f.actions.length}\n`);
  }
  return buildSubmission(f, action, given);
}

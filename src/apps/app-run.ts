// `run app` and `run permitted-external-app`: check locally what can be checked, start the run,
// then stream: JSON lines (--stream), one folded JSON result (--json), or the human form: the
// answer as it comes (a workflow's outputs at the end; as JSON when piped).
import { checkWorkspaceFlag, openApi, resolveWorkspace } from "../auth/api-session.ts";
import { ACCOUNT_CMDS, describeApp, SSO_CMDS, startRun, type RunBody } from "./app-api.ts";
import { wantsJson } from "./app-list.ts";
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { SubjectType } from "../storage/hosts-file.ts";
import { checkInputs, inputsError, type InputsIO, MAX_INPUTS_BYTES, readInputs, schemaFields } from "./input-schema.ts";
import { type DifyEvent, RunFold, type RunResult, streamLine, toDifyEvent } from "./run-fold.ts";
import { readSse, type SseEvent } from "../http/sse.ts";
import { envTimeoutMs } from "../http/http-client.ts";
import { stdoutClosed } from "../cli/output.ts";
import { cleanText } from "../ui/table.ts";
import { CHAT_MODES } from "./app-modes.ts";
import { readQueryFromStdin } from "./query-input.ts";
import { checkAppRef, resolveApp } from "./resolve-app.ts";
import { startProgress } from "../ui/progress.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** --inputs from a file or from this context's stdin. */
export function inputsIO(ctx: Pick<Ctx, "readStdin">): InputsIO {
  return {
    async readFile(path) {
      const f = Bun.file(path);
      if (f.size > MAX_INPUTS_BYTES) throw Object.assign(new Error("too large"), { code: "EFBIG" });
      return f.text();
    },
    readStdin: () => ctx.readStdin(),
  };
}

export type OutputMode = "stream" | "json" | "tty";

/** Chat apps need a query, workflows take none, conversations exist only in chat apps. */
export function checkRunShape(mode: string, query: string | undefined, conversation: string | undefined, id: string): void {
  const chat = CHAT_MODES.includes(mode);
  if (chat && !query?.trim()) {
    throw new CliError("usage_missing_arg", `app ${id} is a ${mode} app: it needs a query`, { hint: `difyctl run app ${id} "your question"` });
  }
  if (mode === "workflow" && query !== undefined) {
    throw new CliError("usage_invalid_flag", `app ${id} is a workflow: it takes --inputs, not a query`, { hint: `see its inputs with 'difyctl get app ${id}'` });
  }
  if (conversation && !chat) throw new CliError("usage_invalid_flag", `--conversation applies to chat apps only (app ${id} is a ${mode || "non-chat"} app)`);
}

/** The run options as the command table types them (`run app`, `run permitted-external-app`). */
export interface RunOptions { inputs?: string; conversation?: string; stream?: boolean; file?: readonly string[]; think?: boolean; workspace?: string }

export async function runApp(ctx: Ctx, args: string[], o: RunOptions, surface: SubjectType, io: InputsIO = inputsIO(ctx)): Promise<number> {
  const account = surface === "account";
  const command = account ? "run app" : "run permitted-external-app";
  const ref = checkAppRef(args[0]);
  // `-` is the query from stdin (`difyctl run app support - < question.txt`).
  let query = args[1] === "-" ? await readQueryFromStdin(io.readStdin, o.inputs === "-") : args[1];
  let conversation: string | undefined;
  if (o.conversation !== undefined) {
    conversation = String(o.conversation).trim();
    if (!UUID.test(conversation)) throw new CliError("usage_invalid_flag", "--conversation must be a conversation id (a UUID)", { hint: "use the conversation_id of an earlier run" });
  }
  const inputs = await readInputs(o.inputs, io);
  if (o.workspace !== undefined) checkWorkspaceFlag(o.workspace);
  // Files are looked at before anything is sent: a typo in a path costs no request.
  const fileFlags = o.file?.length ? await import("./file-inputs.ts").then(async (f) => ({ f, flags: f.parseFileFlags(o.file!) })) : null;
  const locals = fileFlags ? await fileFlags.f.statLocalFiles(fileFlags.flags, fileFlags.f.realFs) : null;
  // A spinner on a terminal until the answer starts (or anything else is written).
  const progress = startProgress(ctx, "Waiting for the app…");
  try {
    const { session, http } = await openApi(ctx, surface, command);
    const cmds = account ? ACCOUNT_CMDS : SSO_CMDS;
    const { id } = await resolveApp(http, ref, () => account
      ? { path: "/apps", query: { workspace_id: resolveWorkspace(session, o.workspace) }, cmds }
      : { path: "/permitted-external-apps", query: {}, cmds });
    let files: unknown[] = [];
    if (account) {
      // External SSO sessions cannot read describe (403): the server checks their inputs.
      const d = await describeApp(http, id, fileFlags ? ["info", "input_schema", "parameters"] : ["info", "input_schema"]);
      const appMode = typeof d.info?.mode === "string" ? d.info.mode : "";
      // A chat app given no query reads it from a pipe or a file on stdin (`echo hi | difyctl run app support`).
      if (query === undefined && CHAT_MODES.includes(appMode) && o.inputs !== "-" && (await ctx.stdinHasInput())) query = await readQueryFromStdin(io.readStdin, false);
      checkRunShape(appMode, query, conversation, id);
      if (fileFlags) {
        const { f, flags } = fileFlags;
        const plan = f.planFiles(flags, locals!, d.parameters, id, inputs);
        const mapped = await withUploadProgress(ctx, (progress) => f.uploadPlan(http, id, plan, f.realFs, cmds, f.sizeLimits(d.parameters), progress));
        Object.assign(inputs, mapped.inputs);
        files = mapped.files;
      }
      const problems = checkInputs(d.input_schema, inputs);
      if (problems.length) throw inputsError(problems, id, schemaFields(d.input_schema));
    } else if (fileFlags) {
      // Without describe the app's file rules are unknown here: the type comes from the extension.
      const { f, flags } = fileFlags;
      const open = { user_input_form: flags.filter((x) => x.variable).map((x) => ({ "file-list": { variable: x.variable, allowed_file_types: [], allowed_file_extensions: null, allowed_file_upload_methods: [] } })), file_upload: { enabled: true } };
      const plan = f.planFiles(flags, locals!, open, id, inputs);
      for (const p of plan.files) if (p.variable && flags.filter((x) => x.variable === p.variable).length === 1) plan.listVariables.delete(p.variable);
      const mapped = await withUploadProgress(ctx, (progress) => f.uploadPlan(http, id, plan, f.realFs, cmds, {}, progress));
      Object.assign(inputs, mapped.inputs);
      files = mapped.files;
    }
    const body: RunBody = { inputs };
    if (query !== undefined) body.query = query;
    if (conversation) body.conversation_id = conversation;
    if (files.length) body.files = files;
    const mode: OutputMode = o.stream === true ? "stream" : wantsJson(ctx) ? "json" : "tty";
    const res = await startRun(http, id, body, cmds, o.workspace ? { workspace_id: o.workspace.trim() } : undefined);
    const { followRun, promptFor } = await import("./run-session.ts");
    return await followRun(ctx, res, { http, appId: id, cmds, mode, think: o.think === true, prompt: promptFor(ctx, mode) });
  } finally {
    progress.done();
  }
}

/** Runs uploads with a progress line on a terminal's stderr (large files only), cleared after. */
async function withUploadProgress<T>(ctx: Ctx, fn: (progress?: (sent: number, total: number, name: string) => void) => Promise<T>): Promise<T> {
  if (ctx.json || !ctx.isTTY(2)) return fn();
  const { terminalProgress } = await import("./file-inputs.ts");
  const p = terminalProgress((s) => void ctx.err(s));
  try {
    return await fn(p);
  } finally {
    p.done();
  }
}

/** Thrown by a flush when stdout is gone: nobody reads the rest of the stream. */
class StdoutClosed extends Error {}

/** Thrown from an event to stop reading: the run is over for this client (the server may keep the stream open). */
class StreamDone extends Error {}

/**
 * What a caller may add to a run's output (reasoning, pauses, stopping): each hook is optional
 * and the output without hooks is unchanged.
 */
export interface RunHooks {
  /** Sees each event before it is folded: "skip" leaves it out, "end" folds it and stops reading. */
  event?(ev: DifyEvent): "skip" | "end" | void;
  /** The text a terminal (or a folded result) is about to get: may take reasoning out. */
  text?(delta: string): string;
  /** The end of the text (what `text` held back). */
  textEnd?(): string;
  /** Cleans the folded result's strings before they are printed. */
  clean?(s: string): string;
  /** The run paused: decides the exit instead of the "paused" failure; nothing is printed for it here. */
  paused?(): Promise<number>;
}

/**
 * Reads the event stream to its end. Output is written once per network chunk (never per event),
 * which keeps --stream lines live while a firehose costs one write per read.
 */
export async function streamRun(ctx: Ctx, body: ReadableStream<Uint8Array> | null, mode: OutputMode, o: { idleMs?: number; outputClosed?: () => boolean; hooks?: RunHooks } = {}): Promise<number> {
  const outputClosed = o.outputClosed ?? stdoutClosed;
  const hooks = o.hooks ?? {};
  // A pipe or a file gets the human form too, but a workflow's streamed text is left to its outputs (printed as JSON at the end).
  const piped = mode === "tty" && !ctx.isTTY(1);
  const fold = new RunFold();
  let pending = "";
  let shownText = "";
  const onEvent = (e: SseEvent) => {
    const ev = toDifyEvent(e);
    if (!ev) return;
    const seen = hooks.event?.(ev);
    if (seen === "skip") return;
    const delta = fold.push(ev);
    if (mode === "stream") pending += streamLine(ev) + "\n";
    else if (delta) {
      const shown = hooks.text ? hooks.text(delta) : delta;
      if (mode === "tty" && shown && !(piped && ev.name === "text_chunk")) pending += cleanText(shown);
    }
    if (seen === "end") throw new StreamDone();
  };
  const flush = async () => {
    if (!pending) return;
    const text = pending;
    pending = "";
    if (mode === "tty") shownText = (shownText + text).slice(-1);
    await ctx.out(text);
    if (outputClosed()) throw new StdoutClosed();
  };
  try {
    try {
      if (body) await readSse(body, onEvent, { signal: ctx.signal, onChunkDone: mode === "json" ? undefined : flush, idleMs: o.idleMs ?? envTimeoutMs(ctx.env) ?? undefined });
    } catch (e) {
      if (!(e instanceof StreamDone)) throw e;
    }
    const tail = hooks.textEnd?.() ?? "";
    if (mode === "tty" && tail) pending += cleanText(tail);
    if (mode !== "json") await flush();
  } catch (e) {
    // `difyctl run … | head`: the reader has what it wanted; stop quietly, like a SIGPIPE would.
    if (e instanceof StdoutClosed) return 0;
    const err = e instanceof CliError ? e : new CliError("unknown", String(e));
    if (err.code === "cancelled") {
      // Ctrl-C: in JSON mode nothing more is written (stdout holds only whole lines, or nothing).
      if (mode === "tty" && shownText && shownText !== "\n") await ctx.out("\n");
      throw err;
    }
    try {
      await flush();
      await finish(ctx, fold, mode, shownText, hooks.clean);
    } catch { /* stdout is gone too: the error below is what matters */ }
    throw err;
  }
  if (hooks.paused && fold.status === "paused") {
    if (mode === "tty" && shownText && shownText !== "\n") await ctx.out("\n");
    return hooks.paused();
  }
  await finish(ctx, fold, mode, shownText, hooks.clean);
  const failure = fold.failure();
  if (failure) throw failure;
  return 0;
}

/** The end of a run: the folded JSON, or the terminal's closing lines. Partial results included. */
async function finish(ctx: Ctx, fold: RunFold, mode: OutputMode, lastShown: string, clean?: (s: string) => string): Promise<void> {
  if (mode === "stream") return;
  const r = clean ? cleanResult(fold.result(), clean) : fold.result();
  if (mode === "json") {
    await ctx.out(JSON.stringify(r) + "\n");
    return;
  }
  let out = lastShown && lastShown !== "\n" ? "\n" : "";
  if (r.outputs && typeof r.outputs === "object" && !ctx.isTTY(1)) {
    // Piped: a workflow's outputs as JSON (exact: JSON escapes what a terminal would act on).
    out += JSON.stringify(r.outputs, null, 2) + "\n";
  } else if (r.outputs && typeof r.outputs === "object") {
    const streamed = (clean ? clean(fold.streamedText) : fold.streamedText).trim();
    const lines = Object.entries(r.outputs as Record<string, unknown>)
      .filter(([, v]) => !(streamed && typeof v === "string" && v.trim() === streamed))
      .map(([k, v]) => `${cleanText(k)}: ${cleanText(typeof v === "string" ? v : JSON.stringify(v))}`);
    if (lines.length) out += (streamed ? "\n" : "") + lines.join("\n") + "\n";
  } else if (r.answer && !lastShown) {
    out += cleanText(r.answer) + (r.answer.endsWith("\n") ? "" : "\n");
  }
  if (out) await ctx.out(out);
  if (r.conversation_id) await ctx.err(`conversation: ${r.conversation_id} (continue with --conversation ${r.conversation_id})\n`);
}

/** The answer and every output string of a result, cleaned (ids and status untouched). */
function cleanResult(r: RunResult, clean: (s: string) => string): RunResult {
  const deep = (v: unknown): unknown => typeof v === "string" ? clean(v)
    : Array.isArray(v) ? v.map(deep)
    : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)])) : v;
  const out: RunResult = { ...r };
  if (typeof r.answer === "string") out.answer = clean(r.answer);
  if (r.outputs !== undefined) out.outputs = deep(r.outputs);
  return out;
}

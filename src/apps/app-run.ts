// `run app` and `run permitted-external-app`: check locally what can be checked, start the run,
// then stream: JSON lines (--stream), live text (terminal) or one folded JSON result (pipes).
import { openApi } from "../auth/api-session.ts";
import { ACCOUNT_CMDS, checkAppId, describeApp, SSO_CMDS, startRun, type RunBody } from "./app-api.ts";
import { wantsJson } from "./app-list.ts";
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { SubjectType } from "../storage/hosts-file.ts";
import { checkInputs, inputsError, type InputsIO, MAX_INPUTS_BYTES, readInputs, schemaFields } from "./input-schema.ts";
import { RunFold, streamLine, toDifyEvent } from "./run-fold.ts";
import { readSse, type SseEvent } from "../http/sse.ts";
import { stdoutClosed } from "../cli/output.ts";
import { cleanText } from "../ui/table.ts";
import { CHAT_MODES } from "./app-modes.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const fileIO: InputsIO = {
  async readFile(path) {
    const f = Bun.file(path);
    if (f.size > MAX_INPUTS_BYTES) throw Object.assign(new Error("too large"), { code: "EFBIG" });
    return f.text();
  },
  readStdin: () => Bun.stdin.text(),
};

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
export interface RunOptions { inputs?: string; conversation?: string; stream?: boolean }

export async function runApp(ctx: Ctx, args: string[], o: RunOptions, surface: SubjectType, io: InputsIO = fileIO): Promise<number> {
  const account = surface === "account";
  const command = account ? "run app" : "run permitted-external-app";
  const id = checkAppId(args[0]);
  const query = args[1];
  let conversation: string | undefined;
  if (o.conversation !== undefined) {
    conversation = String(o.conversation).trim();
    if (!UUID.test(conversation)) throw new CliError("usage_invalid_flag", "--conversation must be a conversation id (a UUID)", { hint: "use the conversation_id of an earlier run" });
  }
  const inputs = await readInputs(o.inputs, io);
  const { http } = await openApi(ctx, surface, command);
  if (account) {
    // External SSO sessions cannot read describe (403): the server checks their inputs.
    const d = await describeApp(http, id, ["info", "input_schema"]);
    checkRunShape(typeof d.info?.mode === "string" ? d.info.mode : "", query, conversation, id);
    const problems = checkInputs(d.input_schema, inputs);
    if (problems.length) throw inputsError(problems, id, schemaFields(d.input_schema));
  }
  const body: RunBody = { inputs };
  if (query !== undefined) body.query = query;
  if (conversation) body.conversation_id = conversation;
  const mode: OutputMode = o.stream === true ? "stream" : wantsJson(ctx) ? "json" : "tty";
  const res = await startRun(http, id, body, account ? ACCOUNT_CMDS : SSO_CMDS);
  return streamRun(ctx, res.body, mode);
}

/** Thrown by a flush when stdout is gone: nobody reads the rest of the stream. */
class StdoutClosed extends Error {}

/**
 * Reads the event stream to its end. Output is written once per network chunk (never per event),
 * which keeps --stream lines live while a firehose costs one write per read.
 */
export async function streamRun(ctx: Ctx, body: ReadableStream<Uint8Array> | null, mode: OutputMode, o: { idleMs?: number; outputClosed?: () => boolean } = {}): Promise<number> {
  const outputClosed = o.outputClosed ?? stdoutClosed;
  const fold = new RunFold();
  let pending = "";
  let shownText = "";
  const onEvent = (e: SseEvent) => {
    const ev = toDifyEvent(e);
    if (!ev) return;
    const delta = fold.push(ev);
    if (mode === "stream") pending += streamLine(ev) + "\n";
    else if (mode === "tty" && delta) pending += cleanText(delta);
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
    if (body) await readSse(body, onEvent, { signal: ctx.signal, onChunkDone: mode === "json" ? undefined : flush, idleMs: o.idleMs });
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
      await finish(ctx, fold, mode, shownText);
    } catch { /* stdout is gone too: the error below is what matters */ }
    throw err;
  }
  await finish(ctx, fold, mode, shownText);
  const failure = fold.failure();
  if (failure) throw failure;
  return 0;
}

/** The end of a run: the folded JSON, or the terminal's closing lines. Partial results included. */
async function finish(ctx: Ctx, fold: RunFold, mode: OutputMode, lastShown: string): Promise<void> {
  if (mode === "stream") return;
  const r = fold.result();
  if (mode === "json") {
    await ctx.out(JSON.stringify(r) + "\n");
    return;
  }
  let out = lastShown && lastShown !== "\n" ? "\n" : "";
  if (r.outputs && typeof r.outputs === "object") {
    const streamed = fold.streamedText.trim();
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

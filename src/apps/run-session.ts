// Following one run to its end, across pauses: the output of streamRun plus what a real run
// needs around it: reasoning hidden (or shown on stderr with --think), the server-side task
// stopped on Ctrl-C, and a Human Input pause either answered on the terminal (then the resumed
// run is followed) or handed back as JSON with exit code 8 for someone else to answer.
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import type { HttpClient } from "../http/http-client.ts";
import { sanitize } from "../ui/sanitize.ts";
import type { Cmds } from "./app-api.ts";
import { type OutputMode, type RunHooks, streamRun } from "./app-run.ts";
import { fillForm, type FormInputSpec, openRunEvents, type Pause, pauseJson, PauseTracker, type Prompt, renderForm, resumeHint, submitForm, terminalPrompt } from "./human-input.ts";
import { rememberPause } from "./pause-cache.ts";
import { stopTask } from "./stop.ts";
import { stripThink, ThinkFilter } from "./think-filter.ts";

/** Exit code of a run that waits for a person (like `auth login --resume` while sign-in is pending). */
export const EXIT_WAITING = 8;

export interface FollowOptions {
  http: HttpClient;
  appId: string;
  cmds: Cmds;
  mode: OutputMode;
  /** --think: reasoning goes to stderr instead of nowhere */
  think?: boolean;
  /** forms this client already answered (a resume stream's snapshot replays their pause) */
  answered?: Set<string>;
  /** asks a person on the terminal; absent = nobody to ask here */
  prompt?: () => Promise<{ ask: Prompt; close(): void }>;
  /** uploads a file given for a form's file input (path or URL) */
  uploadForForm?: (input: FormInputSpec, value: string) => Promise<unknown>;
  /** Unix seconds (for the pause cache) */
  nowS?: () => number;
}

/** Whether a person can fill a form here: a terminal on both ends and plain output. */
export function canAsk(ctx: Ctx, mode: OutputMode): boolean {
  return mode === "tty" && !ctx.json && ctx.isTTY(0) && ctx.isTTY(2);
}

/** Reasoning on stderr, dim on a terminal (ANSI faint, reset with normal intensity). */
function thoughtWriter(ctx: Ctx): (s: string) => void {
  const dim = ctx.isTTY(2);
  return (s) => {
    const t = sanitize(s);
    if (t) void ctx.err(dim ? `\x1b[2m${t}\x1b[22m` : t);
  };
}

export async function followRun(ctx: Ctx, first: Response, o: FollowOptions): Promise<number> {
  const answered = o.answered ?? new Set<string>();
  let res = first;
  for (;;) {
    const tracker = new PauseTracker(answered);
    let taskId = "";
    const think = new ThinkFilter();
    const showThought = o.think ? thoughtWriter(ctx) : null;
    let thoughtOpen = false;
    const hooks: RunHooks = {
      event(ev) {
        const t = ev.data?.task_id;
        if (typeof t === "string" && t) taskId = t;
        const seen = tracker.see(ev);
        if (seen === "skip") return "skip";
        // A pause, an error or the end: the stream may stay open on the server, stop reading here.
        if (seen === "pause" || ev.name === "workflow_finished" || ev.name === "error") return "end";
      },
      text(delta) {
        const s = think.push(delta);
        if (s.thought && showThought) { showThought(s.thought); thoughtOpen = true; }
        if (s.text && thoughtOpen && showThought) { showThought("\n"); thoughtOpen = false; }
        return s.text;
      },
      textEnd() {
        const s = think.end();
        if (s.thought && showThought) showThought(s.thought + "\n");
        return s.text;
      },
      clean: stripThink,
      paused: async () => EXIT_WAITING,
    };
    let code: number;
    try {
      code = await streamRun(ctx, res.body, o.mode, { hooks });
    } catch (e) {
      if (e instanceof CliError && e.code === "cancelled" && taskId) {
        // Ctrl-C: ask the server to stop generating (and billing) before exiting.
        const stopped = await stopTask(o.http, o.appId, taskId);
        if (!ctx.json) await ctx.err(stopped ? "stopped the run on the server\n" : "could not confirm that the server stopped the run\n");
      }
      throw e;
    }
    if (!tracker.paused || code !== EXIT_WAITING) return code;
    const pause = tracker.pause();
    rememberPause(ctx.env, o.appId, pause.workflow_run_id, pause.forms, o.nowS?.() ?? Math.floor(Date.now() / 1000));
    const answerable = pause.forms.filter((f) => f.form_token !== null);
    if (!o.prompt || answerable.length === 0) return handBack(ctx, o, pause);
    const p = await o.prompt();
    try {
      for (const f of pause.forms) {
        if (f.form_token === null) {
          await ctx.err(`the form '${sanitize(f.node_title, { oneLine: true })}' can only be answered in the Dify web app\n`);
          continue;
        }
        const body = await fillForm(f, p.ask, (s) => void ctx.err(s), o.uploadForForm);
        await submitForm(o.http, o.appId, f.form_token, body, o.cmds);
        answered.add(f.form_token);
        if (f.form_id) answered.add(f.form_id);
      }
    } finally {
      p.close();
    }
    await ctx.err("submitted; following the run…\n");
    res = await openRunEvents(o.http, o.appId, pause.workflow_run_id, o.cmds);
  }
}

/**
 * Nobody to ask here: the pause as JSON for a program (--stream's events already hold it), the
 * forms as text for a person at a terminal, and how to answer them; exit 8.
 */
async function handBack(ctx: Ctx, o: FollowOptions, pause: Pause): Promise<number> {
  if (o.mode === "json") await ctx.out(JSON.stringify(pauseJson(pause)) + "\n");
  if (o.mode === "tty") await ctx.err(pause.forms.map(renderForm).join(""));
  if (!ctx.json) await ctx.err(`the run is waiting for a person (exit ${EXIT_WAITING})\n${resumeHint(o.appId, pause)}\n`);
  return EXIT_WAITING;
}

/** The terminal prompt, when a person can be asked. */
export function promptFor(ctx: Ctx, mode: OutputMode): FollowOptions["prompt"] {
  return canAsk(ctx, mode) ? () => terminalPrompt(ctx) : undefined;
}

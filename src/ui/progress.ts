// A spinner on stderr while a slow request runs, for a person at a terminal. It appears only
// when the work takes longer than PROGRESS_DELAY_MS (a fast answer never flickers), and erases
// itself before anything else is written, so it never mixes with output or errors. Pipes, files
// and agents never see it.
import type { Ctx } from "../cli/context.ts";
import { writeErr } from "../cli/output.ts";
import { type IntervalTimer, Spinner } from "./tty-ui.ts";

export const PROGRESS_DELAY_MS = 200;

/** The timer functions progress uses; tests pass fakes and move time by hand. */
export interface Timers extends IntervalTimer {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_TIMERS: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};

export interface ProgressOptions {
  delayMs?: number;
  timers?: Timers;
  /** Where the spinner is drawn (default: stderr, in order with the other stderr writes). */
  write?: (s: string) => void;
}

export interface Progress {
  /** Erases the spinner (or cancels it before it appeared). Safe to call more than once. */
  done(): void;
}

type ProgressCtx = Pick<Ctx, "env" | "isTTY" | "beforeWrite">;

/** A spinner needs a terminal on stderr that understands cursor movement. */
export function progressShown(ctx: Pick<Ctx, "env" | "isTTY">): boolean {
  return ctx.env.TERM !== "dumb" && ctx.isTTY(2);
}

export function startProgress(ctx: ProgressCtx, label: string, o: ProgressOptions = {}): Progress {
  // One spinner at a time: work nested in a spinner's work keeps the outer one.
  if (!progressShown(ctx) || ctx.beforeWrite) return { done() {} };
  const timers = o.timers ?? REAL_TIMERS;
  const write = o.write ?? ((s: string) => void writeErr(s));
  let spinner: Spinner | null = null;
  let finished = false;
  const done = () => {
    if (finished) return;
    finished = true;
    timers.clearTimeout(timer);
    spinner?.clear();
    if (ctx.beforeWrite === done) ctx.beforeWrite = null;
  };
  const timer = timers.setTimeout(() => {
    if (finished) return;
    spinner = new Spinner(write, () => label, timers);
    spinner.start(true);
  }, o.delayMs ?? PROGRESS_DELAY_MS);
  // The first line anyone writes (a result, a warning, a prompt) ends the wait.
  ctx.beforeWrite = done;
  return { done };
}

/** Runs `work` with a spinner labelled `label` shown if it is slow. */
export async function withProgress<T>(ctx: ProgressCtx, label: string, work: () => Promise<T>, o: ProgressOptions = {}): Promise<T> {
  const p = startProgress(ctx, label, o);
  try {
    return await work();
  } finally {
    p.done();
  }
}

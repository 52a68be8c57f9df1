// `auth login --json`: one JSON object per line on stdout as the sign-in progresses, so an agent
// can relay the code to a person while the process keeps waiting. Every line has an "event" key
// (code, waiting, slow_down, retry, approved, stored, error); the last line of a successful login
// is the result object ({"status":"logged_in",…}). Nothing secret is ever an event field: no
// device code, no token.
import type { Ctx } from "../cli/context.ts";
import type { PollerEvent } from "./device-poller.ts";
import { type CliError, errorEnvelope } from "../cli/errors.ts";

export class LoginEvents {
  constructor(private readonly ctx: Pick<Ctx, "out">) {}

  emit(event: string, fields: Record<string, unknown> = {}): void {
    void this.ctx.out(JSON.stringify({ event, ...fields }) + "\n");
  }

  poller(e: PollerEvent): void {
    if (e.type === "waiting") this.emit("waiting", { interval: e.interval, expires_at: new Date(e.expiresAt).toISOString() });
    else if (e.type === "slow_down") this.emit("slow_down", { interval: e.interval });
    else this.emit("retry", { attempt: e.attempt, delay_ms: e.delayMs, code: e.code });
  }

  /** The same code and (sanitised, redacted) message as the stderr envelope that follows it. */
  error(err: CliError): void {
    const body = (JSON.parse(errorEnvelope(err)) as { error: Record<string, unknown> }).error;
    this.emit("error", { code: body.code, message: body.message, ...(body.hint ? { hint: body.hint } : {}), exit_code: err.exitCode });
  }
}

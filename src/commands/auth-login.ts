import type { Ctx } from "../cli/context.ts";
import type { AuthLoginOptions } from "../cli/command-table.ts";
import { CliError, toCliError } from "../cli/errors.ts";
import { login, type LoginOptions } from "../auth/login-flow.ts";

export async function run(ctx: Ctx, _args: string[], o: AuthLoginOptions): Promise<number> {
  const noWait = !o.wait;
  if (noWait && o.resume) throw new CliError("usage_invalid_flag", "--no-wait and --resume cannot be combined", { hint: "start with --no-wait, then finish with --resume" });
  const opts: LoginOptions = {
    host: o.host,
    noBrowser: !o.browser,
    insecure: o.insecure,
    noKeyring: !o.keyring,
    noWait,
    noQr: !o.qr,
  };
  if (o.resume) {
    const { resumeLogin } = await import("../auth/login-pending.ts");
    return resumeLogin(ctx, opts);
  }
  // --json on a blocking login streams events; the two-step forms print one status object instead.
  const events = ctx.json && !noWait ? new (await import("../auth/login-events.ts")).LoginEvents(ctx) : null;
  try {
    return await login(ctx, { ...opts, events });
  } catch (e) {
    events?.error(toCliError(e));
    throw e;
  }
}

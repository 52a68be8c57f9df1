import type { Ctx, Opts } from "../context.ts";
import { login } from "../login-flow.ts";

export async function run(ctx: Ctx, _args: string[], o: Opts): Promise<number> {
  await login(ctx, {
    host: o.host as string | undefined,
    noBrowser: o.browser === false,
    insecure: o.insecure === true,
    noKeyring: o.keyring === false,
  });
  return 0;
}

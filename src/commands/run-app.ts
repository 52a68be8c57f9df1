import { runApp } from "../apps/app-run.ts";
import type { Ctx, Opts } from "../cli/context.ts";

export function run(ctx: Ctx, args: string[], o: Opts): Promise<number> {
  return runApp(ctx, args, o, "account");
}

import { runApp } from "../apps/app-run.ts";
import type { Ctx } from "../cli/context.ts";
import type { RunAppOptions } from "../cli/command-table.ts";

export function run(ctx: Ctx, args: string[], o: RunAppOptions): Promise<number> {
  return runApp(ctx, args, o, "account");
}

import { CHANNEL, COMMIT, platformName, VERSION } from "../cli/build-info.ts";
import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";

export async function run(ctx: Ctx, _args: string[], _o: JsonOnlyOptions): Promise<number> {
  const info = { version: VERSION, channel: CHANNEL, commit: COMMIT, platform: platformName(), arch: process.arch };
  await ctx.out(ctx.json ? JSON.stringify(info) + "\n" : `difyctl ${VERSION} (${CHANNEL}, ${COMMIT}, ${info.platform}/${info.arch})\n`);
  return 0;
}

import type { Ctx, Opts } from "../cli/context.ts";

export async function run(ctx: Ctx, _args: string[], o: Opts): Promise<number> {
  // A malformed --host is a usage error (exit 2), not a failed check.
  if (o.host !== undefined) (await import("../http/host-url.ts")).normalizeHost(String(o.host), { insecure: true });
  const { runDoctor } = await import("../doctor/doctor.ts");
  return runDoctor(ctx, { host: o.host as string | undefined });
}

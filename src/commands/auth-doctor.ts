import type { Ctx } from "../cli/context.ts";
import type { AuthDoctorOptions } from "../cli/command-table.ts";

export async function run(ctx: Ctx, _args: string[], o: AuthDoctorOptions): Promise<number> {
  // A malformed --host is a usage error (exit 2), not a failed check.
  if (o.host !== undefined) (await import("../http/host-url.ts")).normalizeHost(o.host, { insecure: true });
  const { runDoctor } = await import("../doctor/doctor.ts");
  return runDoctor(ctx, { host: o.host });
}

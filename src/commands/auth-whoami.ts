import type { Ctx } from "../cli/context.ts";
import type { JsonOnlyOptions } from "../cli/command-table.ts";
import { requireSession } from "../auth/session.ts";
import { sanitize, sanitizeDeep } from "../ui/sanitize.ts";

export async function run(ctx: Ctx, _args: string[], _o: JsonOnlyOptions): Promise<number> {
  const s = await requireSession(() => ctx.config, ctx.env);
  // JSON carries the stored values exactly; the human lines get a cleaned copy.
  const m = ctx.json ? s.meta : sanitizeDeep(s.meta);
  if (s.source === "env") {
    const body = { subject_type: s.subjectType, source: "env", host: s.hostRef.host };
    await ctx.out(ctx.json ? JSON.stringify(body) + "\n" : `session from the environment (DIFY_TOKEN, ${s.subjectType === "account" ? "account" : "external SSO"} token for ${sanitize(s.hostRef.host, { oneLine: true })}); identity not known offline\n`);
    return 0;
  }
  if (s.subjectType === "external_sso") {
    const e = m.external_sso!;
    await ctx.out(ctx.json
      ? JSON.stringify({ subject_type: "external_sso", email: e.email, issuer: e.issuer }) + "\n"
      : `${e.email} (external SSO, issuer: ${e.issuer})\n`);
    return 0;
  }
  const a = m.account!;
  await ctx.out(ctx.json ? JSON.stringify({ id: a.id, email: a.email, name: a.name }) + "\n" : `${a.email}${a.name ? ` (${a.name})` : ""}\n`);
  return 0;
}

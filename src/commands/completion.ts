import { type Candidate, complete, formatCandidates, script, SHELLS, type Shell } from "../cli/completion.ts";
import type { Ctx, Env } from "../cli/context.ts";
import type { NoOptions } from "../cli/command-table.ts";
import { configDir } from "../storage/config-dir.ts";
import { ConfigStore } from "../storage/config-store.ts";
import { CliError } from "../cli/errors.ts";
import { echoInput } from "../ui/sanitize.ts";

/**
 * `completion <shell>` prints the script; `completion <shell> -- <words…>` prints the candidates
 * for the last word (what the script runs on <Tab>; handy for checking a completion by hand).
 */
export async function run(ctx: Ctx, args: string[], _o: NoOptions): Promise<number> {
  const shell = args[0] as Shell;
  if (!SHELLS.includes(shell)) {
    throw new CliError("usage_invalid_flag", `unsupported shell '${echoInput(String(args[0]), 40)}'`, { hint: `use one of: ${SHELLS.join(", ")}` });
  }
  if (args.length === 1) {
    await ctx.out(script(shell));
    return 0;
  }
  const words = args.slice(1);
  // Older PowerShell drops empty arguments, so its script sends "" for the empty word.
  if (shell === "powershell" && words[words.length - 1] === '""') words[words.length - 1] = "";
  try {
    await ctx.out(formatCandidates(complete(words, { workspaceIds: () => workspaceIds(ctx.env) }), shell));
  } catch {
    // A broken config file must not spill errors into the user's command line.
  }
  return 0;
}

/** available_workspaces from hosts.yml: local, no network, nothing written. */
function workspaceIds(env: Env): Candidate[] {
  try {
    const meta = new ConfigStore(configDir(env), () => {}).readHosts();
    return (meta.available_workspaces ?? []).map((w) => ({ word: w.id, desc: [w.name, w.role].filter(Boolean).join(", ") }));
  } catch {
    return [];
  }
}

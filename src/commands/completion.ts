import { type Candidate, complete, formatCandidates, script, SHELLS, type Shell } from "../cli/completion.ts";
import type { Ctx, Env } from "../cli/context.ts";
import type { NoOptions } from "../cli/command-table.ts";
import { configDir } from "../storage/config-dir.ts";
import { ConfigStore } from "../storage/config-store.ts";
import { CliError } from "../cli/errors.ts";
import { appScope, cachedApps } from "../apps/app-cache.ts";
import { echoInput, sanitize } from "../ui/sanitize.ts";

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
    await ctx.out(formatCandidates(complete(words, { workspaceIds: () => workspaceIds(ctx.env), apps: (ws) => appCandidates(ctx.env, ws) }), shell));
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

/**
 * The apps the last `get apps` listed for this host and workspace (the one on the command line,
 * else the active one): each id, with its name as the description, and each name that only one
 * app has. From the cache dir only: a <Tab> never waits for the network.
 */
function appCandidates(env: Env, workspace: string | undefined): Candidate[] {
  try {
    const meta = new ConfigStore(configDir(env), () => {}).readHosts();
    if (!meta.current_host) return [];
    const ws = meta.subject_type === "external_sso" ? null : workspace ?? meta.current_workspace_id ?? meta.workspace?.id ?? null;
    if (meta.subject_type !== "external_sso" && !ws) return [];
    const apps = cachedApps(env, appScope(meta.current_host, ws));
    const clean = (v: unknown) => sanitize(v, { oneLine: true });
    const names = new Map<string, number>();
    for (const a of apps) names.set(clean(a.name), (names.get(clean(a.name)) ?? 0) + 1);
    const out: Candidate[] = apps.map((a) => ({ word: clean(a.id), desc: [clean(a.name), a.mode && clean(a.mode)].filter(Boolean).join(", ") }));
    for (const a of apps) {
      const name = clean(a.name);
      if (name && names.get(name) === 1) out.push({ word: name, desc: `${a.mode ? `${clean(a.mode)} app ` : ""}${clean(a.id)}` });
    }
    return out;
  } catch {
    return [];
  }
}

import { type CommandSpec, COMMANDS } from "./cli/command-table.ts";
import { Ctx } from "./cli/context.ts";
import { CliError, renderError, toCliError } from "./cli/errors.ts";
import { flushOutput, jsonRequested, writeErr, writeOut } from "./cli/output.ts";
import { parseFlags, topLevelHelp, groupHelp } from "./cli/parse-flags.ts";
import { VERSION } from "./cli/build-info.ts";

async function main(argv: string[]): Promise<number> {
  const env = process.env as Record<string, string | undefined>;
  // Words select the command; flags are parsed by cac for that command only.
  const words: string[] = [];
  for (const a of argv) {
    if (a.startsWith("-")) break;
    words.push(a);
  }
  const wantsHelp = argv.includes("--help") || argv.includes("-h");
  if (words.length === 0) {
    if (argv[0] === "--version" || argv[0] === "-V") {
      await writeOut(`difyctl ${VERSION}\n`);
      return 0;
    }
    if (argv.length === 0 || wantsHelp) {
      await writeOut(topLevelHelp());
      return 0;
    }
    throw new CliError("usage_invalid_flag", `unknown flag '${argv[0]}'`, { hint: "run 'difyctl --help'" });
  }
  if (words[0] === "help") {
    const rest = words.slice(1);
    const spec = match(rest);
    if (spec) return runSpec(spec.spec, ["--help"], env);
    await writeOut(rest.length ? groupHelp(rest) ?? topLevelHelp() : topLevelHelp());
    return 0;
  }
  const m = match(words);
  if (!m) {
    const group = groupHelp(words);
    if (group && (wantsHelp || isGroupPrefix(words))) {
      await writeOut(group);
      return 0;
    }
    throw new CliError("usage_invalid_flag", `unknown command '${words.join(" ")}'`, { hint: "run 'difyctl --help' to list commands" });
  }
  return runSpec(m.spec, argv.slice(m.length), env);
}

function isGroupPrefix(words: string[]): boolean {
  return COMMANDS.some((c) => c.path.length > words.length && words.every((w, i) => c.path[i] === w));
}

function match(words: string[]): { spec: CommandSpec; length: number } | null {
  let best: { spec: CommandSpec; length: number } | null = null;
  for (const spec of COMMANDS) {
    for (const path of [spec.path, ...(spec.aliases ?? [])]) {
      if (path.length <= words.length && path.every((w, i) => words[i] === w) && (!best || path.length > best.length)) {
        best = { spec, length: path.length };
      }
    }
  }
  return best;
}

async function runSpec(spec: CommandSpec, rest: string[], env: Record<string, string | undefined>): Promise<number> {
  const parsed = parseFlags(spec, rest);
  if (parsed.help) {
    await writeOut(parsed.helpText ?? "");
    return 0;
  }
  const ctx = new Ctx(env, parsed.options);
  const mod = await spec.load();
  const code = await mod.run(ctx, parsed.args, parsed.options);
  return typeof code === "number" ? code : 0;
}

const argv = process.argv.slice(2);
let code: number;
try {
  code = await main(argv);
} catch (e) {
  const err = toCliError(e);
  const json = argv.includes("--json") || jsonRequested(false);
  await writeErr(renderError(err, json));
  code = err.exitCode;
}
await flushOutput();
process.exit(code);

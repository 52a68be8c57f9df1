import { type CommandSpec, COMMANDS } from "./command-table.ts";
import { CliError } from "./errors.ts";
import { echoInput } from "../ui/sanitize.ts";

export interface Parsed { args: string[]; options: Record<string, unknown>; help: boolean; helpText?: string }

const MAX_ARG_LENGTH = 64 * 1024;

interface FlagDef { key: string; takesValue: boolean; negated: boolean; names: string[] }

/** "-v, --verbose", "--host <url>", "--no-browser" → how the parser reads them. */
function flagDefs(spec: CommandSpec): FlagDef[] {
  const defs: FlagDef[] = [{ key: "help", takesValue: false, negated: false, names: ["-h", "--help"] }];
  // Plain string operations, no regular expressions: each one compiled costs start-up (measured).
  for (const [flag] of spec.options ?? []) {
    const names = flag.replaceAll(",", " ").split(" ").filter((p) => p.startsWith("-"));
    const long = names.find((n) => n.startsWith("--")) ?? names[0];
    const negated = long.startsWith("--no-");
    const words = (negated ? long.slice(5) : long.slice(long.startsWith("--") ? 2 : 1)).split("-");
    const key = words.map((w, i) => (i ? w.charAt(0).toUpperCase() + w.slice(1) : w)).join("");
    defs.push({ key, takesValue: flag.includes("<") || flag.includes("["), negated, names });
  }
  return defs;
}

/**
 * Parses the flags of one command from the command table. cac did this job first, but its
 * parse costs ~1 ms per run (measured) of a ~6 ms start-up budget, so this small parser reads
 * the same table: --flag, --no-flag, --opt value, --opt=value, -v, and -- to end flags.
 */
export function parseFlags(spec: CommandSpec, rest: string[]): Parsed {
  const name = `difyctl ${spec.path.join(" ")}`;
  const hint = `run '${name} --help'`;
  const defs = flagDefs(spec);
  const options: Record<string, unknown> = {};
  const args: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a.length > MAX_ARG_LENGTH) throw new CliError("usage_invalid_flag", `an argument is longer than ${MAX_ARG_LENGTH} bytes`);
    if (a === "--") { args.push(...rest.slice(i + 1)); break; }
    if (!a.startsWith("-") || a === "-") { args.push(a); continue; }
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const def = defs.find((d) => d.names.includes(flag));
    if (!def) throw new CliError("usage_invalid_flag", `unknown option '${echoInput(flag)}'`, { hint });
    if (def.key in options) throw new CliError("usage_invalid_flag", `option '${flag}' was given more than once`, { hint });
    if (!def.takesValue) {
      if (eq > 0) throw new CliError("usage_invalid_flag", `option '${flag}' takes no value`, { hint });
      options[def.key] = !def.negated;
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : rest[++i];
    if (value === undefined || value === "" || (eq < 0 && value.startsWith("--"))) {
      throw new CliError("usage_invalid_flag", `option '${flag}' needs a value`, { hint });
    }
    options[def.key] = value;
  }
  if (options.help) return { args: [], options, help: true, helpText: commandHelp(spec) };
  const declared = (spec.args ?? "").split(" ").filter((w) => w.startsWith("<") || w.startsWith("["));
  const required = declared.filter((d) => d.startsWith("<"));
  const variadic = declared.some((d) => d.includes("..."));
  if (args.length < required.length) {
    throw new CliError("usage_missing_arg", `missing required argument ${required[args.length]}`, { hint });
  }
  if (!variadic && args.length > declared.length) {
    throw new CliError("usage_invalid_flag", `unexpected argument '${echoInput(args[declared.length])}'`, { hint });
  }
  return { args, options, help: false };
}

function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`).join("\n");
}

export function commandHelp(spec: CommandSpec): string {
  const name = `difyctl ${spec.path.join(" ")}`;
  const opts: [string, string][] = [...(spec.options ?? []).map(([f, d]) => [f, d] as [string, string]), ["-h, --help", "Show this help"]];
  let out = `${spec.summary}\n\nUsage:\n  ${name}${spec.args ? ` ${spec.args}` : ""} [options]\n`;
  if (spec.aliases?.length) out += `\nAliases:\n${spec.aliases.map((a) => `  difyctl ${a.join(" ")}`).join("\n")}\n`;
  out += `\nOptions:\n${table(opts)}\n`;
  if (spec.examples?.length) out += `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join("\n")}\n`;
  return out;
}

export function topLevelHelp(): string {
  const rows: [string, string][] = COMMANDS.map((c) => [c.path.join(" ") + (c.args ? ` ${c.args}` : ""), c.summary]);
  return `difyctl: the command-line client for Dify

Usage:
  difyctl <command> [options]

Commands:
${table(rows)}

Aliases: 'login' = 'auth login', 'logout' = 'auth logout'.
Run 'difyctl <command> --help' for a command's options.

Environment:
  DIFY_CONFIG_DIR        config directory (default ~/.config/difyctl)
  DIFY_OUTPUT=json       JSON output and one-line JSON errors
  DIFY_TOKEN_STORAGE     auto | keychain | file
  DIFY_DEBUG=1           log HTTP requests to stderr (credentials redacted)
  DIFY_HTTP_TIMEOUT      seconds one HTTP request, or a silent stream, may take (default 30 / 300)

Exit codes: 0 ok, 1 error, 2 usage, 4 auth, 6 version/compat, 7 rate limited, 8 sign-in pending (login --resume), 130 cancelled.
`;
}

/** Help for a command group such as `auth` or `auth devices`, or null if no command starts so. */
export function groupHelp(words: string[]): string | null {
  const subs = COMMANDS.filter((c) => c.path.length > words.length && words.every((w, i) => c.path[i] === w));
  if (!subs.length) return null;
  const rows: [string, string][] = subs.map((c) => [c.path.join(" ") + (c.args ? ` ${c.args}` : ""), c.summary]);
  return `Usage:\n  difyctl ${words.join(" ")} <command> [options]\n\nCommands:\n${table(rows)}\n`;
}

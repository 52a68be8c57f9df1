import cac from "cac";
import { type CommandSpec, COMMANDS } from "./commands.ts";
import { CliError } from "./errors.ts";

export interface Parsed { args: string[]; options: Record<string, unknown>; help: boolean; helpText?: string }

const MAX_ARG_LENGTH = 64 * 1024;

/** cac parses and validates the flags of one command; its help text is the command's help. */
export function parseFlags(spec: CommandSpec, rest: string[]): Parsed {
  const name = `difyctl ${spec.path.join(" ")}`;
  const cli = cac(name);
  const cmd = cli.command(spec.args ? `[...args]` : "", spec.summary);
  cmd.usage(`${spec.args ? spec.args + " " : ""}[options]`);
  for (const [flag, desc, def] of spec.options ?? []) cmd.option(flag, desc, def === undefined ? undefined : { default: def });
  cmd.option("-h, --help", "Show this help");
  for (const a of rest) {
    if (a.length > MAX_ARG_LENGTH) throw new CliError("usage_invalid_flag", `an argument is longer than ${MAX_ARG_LENGTH} bytes`);
  }
  let result: { args: readonly string[]; options: Record<string, unknown> };
  try {
    result = cli.parse(["bun", name, ...rest], { run: false }) as typeof result;
  } catch (e) {
    throw new CliError("usage_invalid_flag", (e as Error).message, { hint: `run '${name} --help'` });
  }
  if (result.options.help) return { args: [], options: result.options, help: true, helpText: commandHelp(spec) };
  try {
    cli.matchedCommand?.checkUnknownOptions();
    cli.matchedCommand?.checkOptionValue();
  } catch (e) {
    throw new CliError("usage_invalid_flag", (e as Error).message.replace(/`/g, "'"), { hint: `run '${name} --help'` });
  }
  const args = result.args.map(String);
  const declared = (spec.args ?? "").match(/<[^>]+>|\[[^\]]+\]/g) ?? [];
  const required = declared.filter((a) => a.startsWith("<"));
  const variadic = declared.some((a) => a.includes("..."));
  if (args.length < required.length) {
    throw new CliError("usage_missing_arg", `missing required argument ${required[args.length]}`, { hint: `run '${name} --help'` });
  }
  if (!variadic && args.length > declared.length) {
    throw new CliError("usage_invalid_flag", `unexpected argument '${args[declared.length].slice(0, 100)}'`, { hint: `run '${name} --help'` });
  }
  // String flags given without a value arrive as `true` from mri; numbers stay strings for the command to check.
  for (const [flag] of spec.options ?? []) {
    const m = flag.match(/--([a-z0-9-]+) <[^>]+>/);
    if (!m) continue;
    const key = m[1].replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const v = result.options[key];
    if (v === true || v === "") throw new CliError("usage_invalid_flag", `option '--${m[1]}' needs a value`, { hint: `run '${name} --help'` });
    if (Array.isArray(v)) throw new CliError("usage_invalid_flag", `option '--${m[1]}' was given more than once`);
    if (v !== undefined) result.options[key] = String(v);
  }
  return { args, options: result.options, help: false };
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

Exit codes: 0 ok, 1 error, 2 usage, 4 auth, 6 version/compat, 7 rate limited, 130 cancelled.
`;
}

/** Help for a command group such as `auth` or `auth devices`, or null if no command starts so. */
export function groupHelp(words: string[]): string | null {
  const subs = COMMANDS.filter((c) => c.path.length > words.length && words.every((w, i) => c.path[i] === w));
  if (!subs.length) return null;
  const rows: [string, string][] = subs.map((c) => [c.path.join(" ") + (c.args ? ` ${c.args}` : ""), c.summary]);
  return `Usage:\n  difyctl ${words.join(" ")} <command> [options]\n\nCommands:\n${table(rows)}\n`;
}

// Help text, rendered from the command table and the error table: nothing here is typed twice.
// Loaded only when help is shown.
import {
  COMMANDS, type Command, childWords, defaultOf, ENVIRONMENT, flagsOf, GLOBAL_OPTIONS, GROUPS, HELP_COMMAND, type OptionSpec,
  pathsOf, SECTIONS, type Section, TOP_EXAMPLES, usageArgs, VERSION_OPTION,
} from "./command-table.ts";
import { EXIT_STATUSES } from "./errors.ts";

function table(rows: [string, string][]): string {
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([a, b]) => (b ? `  ${a.padEnd(w)}  ${b}` : `  ${a}`)).join("\n");
}

function optionText(o: OptionSpec): string {
  const notes: string[] = [];
  if (o.type === "enum") notes.push(`one of: ${o.values.join(", ")}`);
  if (o.type === "number" && o.max !== undefined) notes.push(`max ${o.max}`);
  const d = o.type === "boolean" ? undefined : defaultOf(o);
  if (d !== undefined) notes.push(`default ${d}`);
  if (o.env) notes.push(`or ${o.env}`);
  return o.description + (notes.length ? ` (${notes.join("; ")})` : "");
}

function aliasNote(c: Command): string {
  return c.aliases?.length ? ` (alias: ${c.aliases.map((a) => a.join(" ")).join(", ")})` : "";
}

function commandRow(c: Command): [string, string] {
  const args = usageArgs(c);
  return [c.path.join(" ") + (args ? ` ${args}` : ""), c.summary + aliasNote(c)];
}

export function commandHelp(c: Command): string {
  const name = `difyctl ${c.path.join(" ")}`;
  const args = usageArgs(c);
  const rows: [string, string][] = flagsOf(c).map((f) => [
    `${f.short ? `${f.short}, ` : "    "}${f.long}${f.takesValue ? ` <${(f.option as { placeholder: string }).placeholder}>` : ""}`,
    optionText(f.option),
  ]);
  let out = `${c.summary}\n\nUsage:\n  ${name}${args ? ` ${args}` : ""} [options]\n`;
  const aliases = pathsOf(c).slice(1);
  if (aliases.length) out += `\nAliases:\n${aliases.map((a) => `  difyctl ${a.join(" ")}`).join("\n")}\n`;
  out += `\nOptions:\n${table(rows)}\n`;
  if (c.examples?.length) out += `\nExamples:\n${c.examples.map((e) => `  ${e}`).join("\n")}\n`;
  return out;
}

export function topLevelHelp(): string {
  let out = "difyctl: the command-line client for Dify\n\nUsage:\n  difyctl <command> [options]\n";
  const rows: [string, string][] = [];
  const headings = new Set<number>();
  for (const s of Object.keys(SECTIONS) as Section[]) {
    headings.add(rows.length);
    rows.push([`${SECTIONS[s]}:`, ""]);
    // Names only: each command's arguments are in its own help.
    for (const c of COMMANDS) if (c.section === s) rows.push([c.path.join(" "), c.summary + aliasNote(c)]);
    if (s === "other") rows.push([HELP_COMMAND.word, HELP_COMMAND.summary]);
  }
  // One column width across the sections, so the summaries line up.
  const w = Math.max(...rows.filter((_, i) => !headings.has(i)).map((r) => r[0].length));
  out += rows.map(([a, b], i) => (headings.has(i) ? `\n${a}` : `  ${a.padEnd(w)}  ${b}`)).join("\n") + "\n";
  out += `\nExamples:\n${TOP_EXAMPLES.map((e) => `  ${e}`).join("\n")}\n`;
  const globals = [...GLOBAL_OPTIONS, VERSION_OPTION].map((o): [string, string] => [`${o.short ? `-${o.short}, ` : ""}--${o.long}`, optionText(o)]);
  out += `\nGlobal options (before or after the command words):\n${table(globals)}\n`;
  out += `\nEnvironment:\n${table(ENVIRONMENT.map((e) => [e.name, e.description]))}\n`;
  out += `\nExit codes:\n${table(Object.entries(EXIT_STATUSES).map(([k, v]) => [k, v]))}\n`;
  out += "\nRun 'difyctl <command> --help' for a command's options.\n";
  return out;
}

/** Help for a command group such as `auth` or `auth devices`, or null if no command starts so. */
export function groupHelp(words: readonly string[]): string | null {
  const subs = COMMANDS.filter((c) => c.path.length > words.length && words.every((w, i) => c.path[i] === w));
  if (!subs.length) return null;
  const group = words.join(" ");
  const next = childWords(words).map((c) => c.word);
  let out = GROUPS[group] ? `${GROUPS[group]}\n\n` : "";
  out += `Usage:\n  difyctl ${group} <command> [options]\n\nCommands:\n${table(subs.map(commandRow))}\n`;
  out += `\nRun 'difyctl ${group} <command> --help' for a command's options`;
  out += next.length ? `, e.g. 'difyctl ${group} ${next[0]} --help'.\n` : ".\n";
  return out;
}

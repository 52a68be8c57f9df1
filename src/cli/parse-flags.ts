import { argLabel, type Command, defaultOf, type Flag, flagsOf, type OptionSpec, type ParsedOptions } from "./command-table.ts";
import { CliError } from "./errors.ts";
import { closest, didYouMean } from "./suggest.ts";
import { echoInput } from "../ui/sanitize.ts";

type OptionValue = ParsedOptions[string];
export interface Parsed { args: string[]; options: ParsedOptions; help: boolean }

const MAX_ARG_LENGTH = 64 * 1024;

/**
 * Reads one command's argv (the words after the command path) against its entry in the command
 * table: `--flag`, `--no-flag`, `--opt value`, `--opt=value`, `-v`, bundled short booleans (`-vh`),
 * `-n5`, and `--` to end the flags. Values are checked by type (enum, whole number), defaults
 * applied, arguments counted.
 *
 * A hand parser rather than `node:util` parseArgs: parseArgs would still need this layer for
 * types, defaults, repeated flags and suggestions, and importing it costs start-up that every
 * agent call pays (`npm run bench` measures both). No regular expressions: each one compiled on
 * the start-up path costs time too.
 */
export function parseFlags(cmd: Command, argv: readonly string[]): Parsed {
  const name = `difyctl ${cmd.path.join(" ")}`;
  const hint = `run '${name} --help'`;
  const flags = flagsOf(cmd);
  const given: Record<string, OptionValue> = {};
  const args: string[] = [];

  const set = (f: Flag, spelled: string, value: string | undefined) => {
    if (f.option.type === "string" && f.option.repeatable && value !== undefined) {
      const list = (given[f.key] ?? []) as string[];
      given[f.key] = [...list, value];
      return;
    }
    if (f.key in given) throw new CliError("usage_invalid_flag", `option '${spelled}' was given more than once`, { hint });
    given[f.key] = value === undefined ? !f.long.startsWith("--no-") : typed(f, value, hint);
  };

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.length > MAX_ARG_LENGTH) throw new CliError("usage_invalid_flag", `an argument is longer than ${MAX_ARG_LENGTH} bytes`);
    if (a === "--") { args.push(...argv.slice(i + 1)); break; }
    if (a.charCodeAt(0) !== 45 /* - */ || a === "-") { args.push(a); continue; }
    if (cmd.args?.[args.length]?.dashOk && !spellsOptions(a, flags)) { args.push(a); continue; }

    if (a.charCodeAt(1) === 45) {
      // --long, --long=value, --long value
      const eq = a.indexOf("=");
      const spelled = eq > 0 ? a.slice(0, eq) : a;
      const f = flags.find((x) => x.long === spelled);
      if (!f) throw unknownOption(spelled, flags, name);
      if (!f.takesValue) {
        if (eq > 0) throw new CliError("usage_invalid_flag", `option '${spelled}' takes no value`, { hint });
        set(f, spelled, undefined);
        continue;
      }
      const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || value === "" || (eq < 0 && value.startsWith("--"))) {
        throw new CliError("usage_invalid_flag", `option '${spelled}' needs a value`, { hint });
      }
      set(f, spelled, value);
      continue;
    }

    // -v, -vh (bundled booleans), -n5 / -n 5 (a value after a short option)
    for (let j = 1; j < a.length; j++) {
      const spelled = `-${a[j]}`;
      const f = flags.find((x) => x.short === spelled);
      if (!f) throw unknownOption(j === 1 ? a : spelled, flags, name);
      if (!f.takesValue) { set(f, spelled, undefined); continue; }
      const value = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
      if (value === undefined || value === "" || (j + 1 >= a.length && value.startsWith("--"))) {
        throw new CliError("usage_invalid_flag", `option '${spelled}' needs a value`, { hint });
      }
      set(f, spelled, value);
      break;
    }
  }

  const help = given.help === true;
  delete given.help;
  const options: ParsedOptions = {};
  for (const key in cmd.options) {
    const v = key in given ? given[key] : defaultOf(cmd.options[key]);
    if (v !== undefined) options[key] = v;
  }
  if (help) return { args: [], options, help };

  const declared = cmd.args ?? [];
  const required = declared.filter((d) => d.required);
  if (args.length < required.length) {
    throw new CliError("usage_missing_arg", `missing required argument ${argLabel(required[args.length])}`, { hint });
  }
  if (!declared.some((d) => d.variadic) && args.length > declared.length) {
    throw new CliError("usage_invalid_flag", `unexpected argument '${echoInput(args[declared.length])}'`, { hint });
  }
  return { args, options, help };
}

/** Whether a dash-led word reads as this command's options: a known --long (=value), or known short flags. */
function spellsOptions(a: string, flags: Flag[]): boolean {
  if (a.charCodeAt(1) === 45) {
    const eq = a.indexOf("=");
    return flags.some((f) => f.long === (eq > 0 ? a.slice(0, eq) : a));
  }
  for (let j = 1; j < a.length; j++) {
    const f = flags.find((x) => x.short === `-${a[j]}`);
    if (!f) return false;
    if (f.takesValue) return true;
  }
  return true;
}

function typed(f: Flag, value: string, hint: string): OptionValue {
  const o: OptionSpec = f.option;
  if (o.type === "enum") {
    if (o.values.includes(value)) return value;
    const near = closest(value, o.values);
    throw new CliError("usage_invalid_flag", `${f.long} must be one of ${o.values.join(", ")} (got '${echoInput(value, 40)}')`, {
      hint: near.length ? didYouMean(near) : hint,
    });
  }
  if (o.type === "number") {
    const min = o.min ?? 0;
    const range = o.max !== undefined ? ` from ${min} to ${o.max}` : o.min !== undefined ? ` of at least ${min}` : "";
    let n = value.length > 0 && value.length <= 15 ? 0 : NaN;
    for (let k = 0; k < value.length && !Number.isNaN(n); k++) {
      const c = value.charCodeAt(k) - 48;
      n = c >= 0 && c <= 9 ? n * 10 + c : NaN;
    }
    if (!(n >= min && (o.max === undefined || n <= o.max))) {
      throw new CliError("usage_invalid_flag", `${f.long} must be a whole number${range} (got '${echoInput(value, 20)}')`, { hint });
    }
    return n;
  }
  return value;
}

function unknownOption(spelled: string, flags: Flag[], name: string): CliError {
  // `--browser` for `--no-browser` (and the reverse) is the likeliest slip, though three edits away.
  const flip = spelled.startsWith("--no-") ? `--${spelled.slice(5)}` : `--no-${spelled.slice(2)}`;
  const near = !spelled.startsWith("--") ? [] : flags.some((f) => f.long === flip) ? [flip] : closest(spelled, flags.map((f) => f.long));
  return new CliError("usage_invalid_flag", `unknown option '${echoInput(spelled)}'`, {
    hint: near.length ? `${didYouMean(near)} (run '${name} --help' for its options)` : `run '${name} --help'`,
    ...(near.length ? { details: { suggestions: near } } : {}),
  });
}

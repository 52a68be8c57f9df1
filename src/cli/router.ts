// The router: argv to a command module, help or an error, as the compiled binary runs it. main.ts
// calls it with the process's environment and the real effects; an in-process test calls it with
// a temp config dir, captured output and a fake terminal, and gets the same exit code and stderr.
import { childWords, type Command, findCommand, flagsOf, GLOBAL_FLAGS, HELP_COMMAND, isGroup, type ParsedOptions, splitCommandWords, VERSION_OPTION } from "./command-table.ts";
import { Ctx, type Effects, type Env } from "./context.ts";
import { CliError, renderError, toCliError } from "./errors.ts";
import { jsonRequested, writeErr, writeOut } from "./output.ts";
import { parseFlags } from "./parse-flags.ts";
import { closest, didYouMean } from "./suggest.ts";
import { VERSION } from "./build-info.ts";
import { boldHeadings, markError, styleFor } from "../ui/colour.ts";
import { echoInput, sanitize } from "../ui/sanitize.ts";

const help = () => import("./help.ts");

async function route(argv: readonly string[], env: Env, fx: Effects): Promise<number> {
  if (argv.length === 1 && (argv[0] === `--${VERSION_OPTION.long}` || argv[0] === `-${VERSION_OPTION.short}`)) {
    await (fx.stdout ?? writeOut)(`difyctl ${VERSION}\n`);
    return 0;
  }
  // The command words, with global flags allowed before and among them (`difyctl --json auth
  // status`, `difyctl auth --json status`); the rest is the command's own argv, and the global
  // flags (which take no value, so moving them changes nothing else) join it in front.
  const { words, globals, rest } = splitCommandWords(argv);

  if (words.length === 0) {
    if (rest.length === 0) {
      await writeHelp(fx, (await help()).topLevelHelp(), env);
      return 0;
    }
    if (rest[0] === `--${VERSION_OPTION.long}` || rest[0] === `-${VERSION_OPTION.short}`) {
      // With other flags (`difyctl --json --version`) it is the version command.
      return runCommand(findCommand(["version"])!.cmd, [...globals, ...rest.slice(1)], env, fx);
    }
    throw optionBeforeCommand(rest);
  }
  if (words[0] === HELP_COMMAND.word) {
    const target = words.slice(1);
    const h = await help();
    if (!target.length) {
      await writeHelp(fx, h.topLevelHelp(), env);
      return 0;
    }
    const found = findCommand(target);
    if (found && found.length === target.length) {
      await writeHelp(fx, h.commandHelp(found.cmd), env);
      return 0;
    }
    const group = h.groupHelp(target);
    if (group) {
      await writeHelp(fx, group, env);
      return 0;
    }
    throw unknownCommand(target, "help ");
  }
  const found = findCommand(words);
  if (!found) {
    if (isGroup(words)) {
      // `difyctl auth`, `difyctl get --help`: the group's own help.
      await writeHelp(fx, (await help()).groupHelp(words)!, env);
      return 0;
    }
    throw unknownCommand(words, "");
  }
  return runCommand(found.cmd, [...globals, ...words.slice(found.length), ...rest], env, fx);
}

/** A flag before the command words that is not a global one (`difyctl --verbose auth status`). */
function optionBeforeCommand(argv: readonly string[]): CliError {
  const flag = argv[0];
  const message = `unknown option '${echoInput(flag)}'`;
  const words: string[] = [];
  for (let i = 1; i < argv.length && !argv[i].startsWith("-"); i++) words.push(argv[i]);
  const next = findCommand(words);
  const name = flag.split("=")[0];
  if (next && flagsOf(next.cmd).some((f) => f.long === name || f.short === name)) {
    const fixed = `difyctl ${next.cmd.path.join(" ")} ${flag}`;
    return new CliError("usage_invalid_flag", message, { hint: `a command's options go after it: '${echoInput(fixed)}'` });
  }
  const near = flag.startsWith("--") ? closest(name, [...GLOBAL_FLAGS.filter((f) => f.startsWith("--")), `--${VERSION_OPTION.long}`]) : [];
  return new CliError("usage_invalid_flag", message, { hint: near.length ? didYouMean(near) : "run 'difyctl --help' to list commands and global options" });
}

/**
 * An unknown word: the closest known ones at the level where it went wrong (`auth stauts` →
 * `auth status`, `get ap` → `get app`, `get apps`).
 */
function unknownCommand(words: string[], prefix: string): CliError {
  const shown = echoInput(words.join(" "));
  const longest = findCommand(words);
  if (longest) {
    // A whole command followed by more words (`help auth status extra`).
    const near = [`difyctl ${prefix}${longest.cmd.path.join(" ")}`];
    return new CliError("usage_unknown_command", `unknown command '${shown}'`, { hint: didYouMean(near), details: { suggestions: near } });
  }
  let known = 0;
  while (known < words.length - 1 && isGroup(words.slice(0, known + 1))) known++;
  const parent = words.slice(0, known);
  const candidates = childWords(parent).map((c) => c.word);
  if (known === 0 && !prefix) candidates.push(HELP_COMMAND.word);
  const near = closest(words[known], candidates).map((w) => `difyctl ${prefix}${[...parent, w].join(" ")}`);
  const list = parent.length ? `difyctl ${parent.join(" ")} --help` : "difyctl --help";
  return new CliError("usage_unknown_command", `unknown command '${echoInput(words.slice(0, known + 1).join(" "))}'`, {
    hint: near.length ? didYouMean(near) : `run '${list}' to list commands`,
    ...(near.length ? { details: { suggestions: near } } : {}),
  });
}

/** Help on a terminal with colour gets bold section headings. */
function writeHelp(fx: Effects, text: string, env: Env): Promise<unknown> {
  return (fx.stdout ?? writeOut)(boldHeadings(styleFor(new Ctx(env, {}, fx), 1), text));
}

async function runCommand(cmd: Command, argv: string[], env: Env, fx: Effects): Promise<number> {
  const parsed = parseFlags(cmd, argv);
  if (parsed.help) {
    await writeHelp(fx, (await help()).commandHelp(cmd), env);
    return 0;
  }
  if (typeof parsed.options.jq === "string") return runWithJq(cmd, parsed.args, parsed.options, parsed.options.jq, env, fx);
  const ctx = new Ctx(env, parsed.options, fx);
  const mod = await cmd.load();
  const code = await mod.run(ctx, parsed.args, parsed.options);
  return typeof code === "number" ? code : 0;
}

/**
 * `--jq`: the command runs as with --json and its stdout goes through jq. The jq module (and its
 * WebAssembly) loads only here; the expression is compiled before the command does anything.
 */
async function runWithJq(cmd: Command, args: string[], options: ParsedOptions, expr: string, env: Env, fx: Effects): Promise<number> {
  const { checkJq, createJqFilter } = await import("./jq.ts");
  await checkJq(expr);
  const out = fx.stdout ?? writeOut;
  const tty = new Ctx(env, {}, fx).isTTY(1);
  // Raw strings reach a terminal: they are cleaned like any server text. A pipe gets them exact.
  const filter = await createJqFilter(expr, { pretty: tty, ...(tty ? { clean: (s: string) => sanitize(s) } : {}) });
  const opts = { ...options, json: true };
  const ctx = new Ctx(env, opts, { ...fx, stdout: (text) => { const piece = filter.push(text); return piece ? out(piece) : Promise.resolve(); } });
  const mod = await cmd.load();
  const code = await mod.run(ctx, args, opts);
  const rest = filter.end();
  if (rest) await out(rest);
  return typeof code === "number" ? code : 0;
}

/**
 * Runs one difyctl invocation and returns its exit code; an error is rendered on stderr as the
 * binary renders it (one JSON line with --json or DIFY_OUTPUT=json, else `error:`/`hint:` lines).
 */
export async function runCli(argv: readonly string[], env: Env, fx: Effects = {}): Promise<number> {
  try {
    return await route(argv, env, fx);
  } catch (e) {
    const err = toCliError(e);
    const json = argv.includes("--json") || jsonRequested(false, env);
    const rendered = renderError(err, json);
    // A person at a terminal gets a red X; JSON and piped errors stay as they are.
    await (fx.stderr ?? writeErr)(json ? rendered : markError(styleFor(new Ctx(env, {}, fx), 2), rendered));
    return err.exitCode;
  }
}

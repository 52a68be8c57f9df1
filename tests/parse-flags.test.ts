// The flag parser, the "did you mean" suggestions and the help text, all read from the command
// table; then the router through the compiled binary (global flags, unknown commands, help).
import { describe, expect, test } from "bun:test";
import {
  argLabel, type Command, COMMANDS, defineCommand, ENVIRONMENT, findCommand, flagsOf, GLOBAL_FLAGS, GROUPS, isGroup, type OptionMap, usageArgs,
} from "../src/cli/command-table.ts";
import { CliError, EXIT_CODES, EXIT_STATUSES } from "../src/cli/errors.ts";
import { commandHelp, groupHelp, topLevelHelp } from "../src/cli/help.ts";
import { parseFlags } from "../src/cli/parse-flags.ts";
import { closest, editDistance } from "../src/cli/suggest.ts";
import { APP_MODES } from "../src/apps/app-modes.ts";
import { baseEnv, envelope, run, tempDir } from "./helpers.ts";

const cmd = (path: string) => findCommand(path.split(" "))!.cmd;

/** A command made up for the parser alone: a short option with a value, two short booleans, a bare number. */
const TOY: Command = defineCommand({
  path: ["toy"], section: "other", summary: "toy",
  args: [{ name: "first", required: true }, { name: "rest", variadic: true }],
  options: {
    quiet: { long: "quiet", short: "q", type: "boolean", description: "q" },
    verbose: { long: "verbose", short: "v", type: "boolean", description: "v" },
    count: { long: "count", short: "n", type: "number", placeholder: "n", description: "n" },
    color: { long: "no-color", type: "boolean", description: "c" },
    level: { long: "level", type: "enum", placeholder: "l", values: ["low", "high"], default: "low", description: "l" },
  } satisfies OptionMap,
  load: async () => ({ run: async () => 0 }),
});

type Case = { name: string; cmd: Command; argv: string[] } & (
  | { args: string[]; options: Record<string, unknown>; help?: boolean }
  | { code: string; message: RegExp; hint?: RegExp }
);

const CASES: Case[] = [
  // Defaults are applied: booleans false (true for a `no-` flag), --limit 200, nothing else set.
  { name: "defaults", cmd: cmd("get apps"), argv: [], args: [], options: { limit: 200, json: false } },
  { name: "login defaults", cmd: cmd("auth login"), argv: [],
    args: [], options: { browser: true, insecure: false, keyring: true, wait: true, resume: false, qr: true, json: false } },
  { name: "--no-x turns a default-on boolean off", cmd: cmd("auth login"), argv: ["--no-browser", "--no-qr"],
    args: [], options: { browser: false, qr: false, keyring: true } },
  { name: "--opt value and --opt=value", cmd: cmd("get apps"), argv: ["--mode", "workflow", "--name=a=b", "--limit", "7"],
    args: [], options: { mode: "workflow", name: "a=b", limit: 7 } },
  { name: "every app mode is accepted", cmd: cmd("get apps"), argv: ["--mode", APP_MODES[APP_MODES.length - 1]], args: [], options: { mode: APP_MODES[APP_MODES.length - 1] } },
  { name: "positionals around flags", cmd: cmd("run app"), argv: ["id-1", "--stream", "hello world"], args: ["id-1", "hello world"], options: { stream: true } },
  { name: "-- ends the flags", cmd: cmd("run app"), argv: ["id-1", "--", "--json"], args: ["id-1", "--json"], options: { json: false } },
  { name: "a lone - is an argument", cmd: cmd("run app"), argv: ["id-1", "-", "--inputs", "-"], args: ["id-1", "-"], options: { inputs: "-" } },
  { name: "a value may start with one dash", cmd: cmd("get apps"), argv: ["--name", "-x"], args: [], options: { name: "-x" } },
  { name: "a form token may start with a dash", cmd: cmd("resume app"), argv: ["app-1", "-vp-mfE2gaK-tWPdFQUcUA", "--action", "approve"],
    args: ["app-1", "-vp-mfE2gaK-tWPdFQUcUA"], options: { action: "approve" } },
  { name: "a dash-led token after its flags", cmd: cmd("resume app"), argv: ["--action=ok", "app-1", "--x9"], args: ["app-1", "--x9"], options: { action: "ok" } },
  { name: "in the token's place, a real option is still an option", cmd: cmd("resume app"), argv: ["app-1", "--json", "-tok"], args: ["app-1", "-tok"], options: { json: true } },
  { name: "short flag", cmd: cmd("auth status"), argv: ["-v"], args: [], options: { verbose: true, verify: false } },
  { name: "bundled short booleans", cmd: TOY, argv: ["-vq", "a"], args: ["a"], options: { verbose: true, quiet: true } },
  { name: "short value attached", cmd: TOY, argv: ["-vn5", "a"], args: ["a"], options: { verbose: true, count: 5 } },
  { name: "short value separate", cmd: TOY, argv: ["-n", "12", "a", "b", "c"], args: ["a", "b", "c"], options: { count: 12 } },
  { name: "enum default", cmd: TOY, argv: ["a"], args: ["a"], options: { level: "low", color: true } },
  { name: "-h anywhere asks for help and skips argument checks", cmd: cmd("get app"), argv: ["-h"], args: [], options: {}, help: true },
  { name: "-vh bundles help", cmd: cmd("auth status"), argv: ["-vh"], args: [], options: { verbose: true }, help: true },

  { name: "unknown long option, with a suggestion", cmd: cmd("get apps"), argv: ["--limt", "5"],
    code: "usage_invalid_flag", message: /^unknown option '--limt'$/, hint: /did you mean '--limit'\?/ },
  { name: "unknown short option", cmd: cmd("auth status"), argv: ["-Z"], code: "usage_invalid_flag", message: /^unknown option '-Z'$/ },
  { name: "unknown letter in a bundle", cmd: TOY, argv: ["-vz", "a"], code: "usage_invalid_flag", message: /unknown option '-z'/ },
  { name: "a -- flag that only exists on another command", cmd: cmd("auth status"), argv: ["--host", "x"], code: "usage_invalid_flag", message: /unknown option/ },
  { name: "--no- form of a flag that has none", cmd: cmd("auth status"), argv: ["--no-verify"], code: "usage_invalid_flag", message: /unknown option/ },
  { name: "the positive form of a no- flag", cmd: cmd("auth login"), argv: ["--browser"], code: "usage_invalid_flag", message: /unknown option/, hint: /--no-browser/ },
  { name: "a flag twice", cmd: cmd("auth status"), argv: ["--json", "--json"], code: "usage_invalid_flag", message: /more than once/ },
  { name: "short and long of one flag", cmd: cmd("auth status"), argv: ["-v", "--verbose"], code: "usage_invalid_flag", message: /more than once/ },
  { name: "a boolean given a value", cmd: cmd("auth status"), argv: ["--json=1"], code: "usage_invalid_flag", message: /takes no value/ },
  { name: "a value missing at the end", cmd: cmd("get apps"), argv: ["--name"], code: "usage_invalid_flag", message: /needs a value/ },
  { name: "a value that is another flag", cmd: cmd("get apps"), argv: ["--workspace", "--json"], code: "usage_invalid_flag", message: /needs a value/ },
  { name: "an empty value", cmd: cmd("get apps"), argv: ["--name="], code: "usage_invalid_flag", message: /needs a value/ },
  { name: "enum outside its values, with a suggestion", cmd: cmd("get apps"), argv: ["--mode", "workflw"],
    code: "usage_invalid_flag", message: /--mode must be one of chat, .*rag-pipeline/, hint: /did you mean 'workflow'\?/ },
  { name: "number below its minimum", cmd: cmd("get apps"), argv: ["--limit", "0"], code: "usage_invalid_flag", message: /--limit must be a whole number from 1 to 5000/ },
  { name: "number above its maximum", cmd: cmd("get apps"), argv: ["--limit=5001"], code: "usage_invalid_flag", message: /from 1 to 5000/ },
  { name: "not a whole number", cmd: cmd("get apps"), argv: ["--limit", "1.5"], code: "usage_invalid_flag", message: /whole number/ },
  { name: "negative number", cmd: cmd("get apps"), argv: ["--limit", "-3"], code: "usage_invalid_flag", message: /whole number/ },
  { name: "huge number", cmd: TOY, argv: ["a", "-n", "9".repeat(40)], code: "usage_invalid_flag", message: /whole number/ },
  { name: "missing required argument", cmd: cmd("get app"), argv: [], code: "usage_missing_arg", message: /^missing required argument <[a-z][a-z-]*>$/ },
  { name: "extra argument", cmd: cmd("auth whoami"), argv: ["extra"], code: "usage_invalid_flag", message: /unexpected argument 'extra'/ },
  { name: "control characters are not echoed", cmd: cmd("auth whoami"), argv: ["\u001b[2J"], code: "usage_invalid_flag", message: /^unexpected argument '\?\[2J'$/ },
  { name: "an argument over 64 KiB", cmd: cmd("run app"), argv: ["x".repeat(70_000)], code: "usage_invalid_flag", message: /longer than/ },
];

describe("parseFlags (table-driven)", () => {
  for (const c of CASES) {
    test(c.name, () => {
      if ("code" in c) {
        let err: unknown;
        try { parseFlags(c.cmd, c.argv); } catch (e) { err = e; }
        expect(err).toBeInstanceOf(CliError);
        const e = err as CliError;
        expect(e.code).toBe(c.code as CliError["code"]);
        expect(e.exitCode).toBe(2);
        expect(e.message).toMatch(c.message);
        if (c.hint) expect(e.hint ?? "").toMatch(c.hint);
        return;
      }
      const p = parseFlags(c.cmd, c.argv);
      expect(p.args).toEqual(c.args);
      expect(p.options).toMatchObject(c.options);
      expect(p.help).toBe(c.help ?? false);
    });
  }

  test("every option of every command ends up in the options object (given or default) and nothing else does", () => {
    for (const c of COMMANDS) {
      const p = parseFlags(c, [...(c.args ?? []).filter((a) => a.required).map(() => "x")]);
      for (const key of Object.keys(p.options)) expect(Object.keys(c.options)).toContain(key);
      for (const [key, o] of Object.entries(c.options)) {
        if (o.type === "boolean") expect(p.options[key]).toBe(o.long.startsWith("no-"));
        else if (o.default !== undefined) expect(p.options[key]).toBe(o.default);
        else expect(key in p.options).toBe(false);
      }
    }
  });
});

describe("did you mean", () => {
  test("edit distance counts a swap as one edit", () => {
    for (const [a, b, d] of [["stauts", "status", 1], ["ap", "app", 1], ["ap", "apps", 2], ["limt", "limit", 1], ["", "abc", 3], ["abc", "abc", 0], ["kitten", "sitting", 3]] as const) {
      expect(editDistance(a, b)).toBe(d);
      expect(editDistance(b, a)).toBe(d);
    }
  });
  test("closest: near words and words it starts, closest first, at most three; nothing for far words", () => {
    expect(closest("stauts", ["login", "logout", "status", "doctor", "whoami", "use", "devices"])).toEqual(["status"]);
    expect(closest("ap", ["apps", "app", "permitted-external-apps", "permitted-external-app"])).toEqual(["app", "apps"]);
    expect(closest("--limt", ["--workspace", "--mode", "--name", "--limit", "--json", "--help"])).toEqual(["--limit"]);
    expect(closest("nope", ["auth", "get", "run", "login", "logout", "completion", "version", "help"])).toEqual([]);
    expect(closest("ls", ["use", "list"])).toEqual([]);
    expect(closest("x", ["a", "b", "c", "d", "e"]).length).toBeLessThanOrEqual(3);
    expect(closest("", ["a"])).toEqual([]);
  });
});

describe("the table itself", () => {
  test("flags are unique per command, short names one letter, value options have a placeholder", () => {
    for (const c of COMMANDS) {
      const names = flagsOf(c).flatMap((f) => [f.long, ...(f.short ? [f.short] : [])]);
      expect(new Set(names).size).toBe(names.length);
      for (const f of flagsOf(c)) {
        expect(f.long).toMatch(/^--[a-z][a-z0-9-]*$/);
        if (f.short) expect(f.short).toMatch(/^-[a-zA-Z]$/);
        if (f.takesValue) expect((f.option as { placeholder?: string }).placeholder).toBeTruthy();
      }
    }
  });
  test("arguments: required ones first, a variadic one last", () => {
    for (const c of COMMANDS) {
      const a = c.args ?? [];
      const firstOptional = a.findIndex((x) => !x.required);
      if (firstOptional >= 0) expect(a.slice(firstOptional).every((x) => !x.required)).toBe(true);
      a.forEach((x, i) => { if (x.variadic) expect(i).toBe(a.length - 1); });
      expect(a.map(argLabel).join(" ")).not.toContain("<>");
    }
  });
  test("every group has a description; every option's env variable is listed in the environment table", () => {
    const groups = new Set(COMMANDS.flatMap((c) => c.path.slice(0, -1).map((_, i) => c.path.slice(0, i + 1).join(" "))));
    for (const g of groups) expect(GROUPS[g]).toBeTruthy();
    const listed = ENVIRONMENT.map((e) => e.name).join(" ");
    for (const c of COMMANDS) for (const o of Object.values(c.options)) if (o.env) expect(listed).toContain(o.env.split("=")[0]);
  });
  test("--mode lists every app mode, in help and in the parser", () => {
    const help = commandHelp(cmd("get apps"));
    for (const m of APP_MODES) expect(help).toContain(m);
    expect(commandHelp(cmd("get permitted-external-apps"))).toContain(APP_MODES.join(", "));
  });
  test("global flags are options of the commands that take them", () => {
    expect(GLOBAL_FLAGS).toEqual(["--json", "--help", "-h"]);
    expect(isGroup(["auth"])).toBe(true);
    expect(isGroup(["auth", "status"])).toBe(false);
  });
});

describe("help text comes from the tables", () => {
  test("top level: sections, every command, aliases, examples, environment, every exit status", () => {
    const h = topLevelHelp();
    for (const s of ["Sign-in and sessions:", "Apps:", "Other:", "Examples:", "Environment:", "Exit codes:"]) expect(h).toContain(s);
    expect(h.indexOf("Sign-in and sessions:")).toBeLessThan(h.indexOf("Apps:"));
    expect(h.indexOf("Apps:")).toBeLessThan(h.indexOf("Other:"));
    for (const c of COMMANDS) expect(h).toContain(c.summary);
    expect(h).toContain("(alias: login)");
    for (const e of ENVIRONMENT) expect(h).toContain(e.name);
    for (const status of new Set([0, 8, ...Object.values(EXIT_CODES)])) {
      expect(h).toMatch(new RegExp(`\\n  ${status} +${EXIT_STATUSES[status as keyof typeof EXIT_STATUSES].replace(/[()]/g, ".")}`));
    }
  });
  test("a command: usage with its arguments, every flag with its default, aliases", () => {
    const h = commandHelp(cmd("run app"));
    expect(h).toContain(`difyctl run app ${usageArgs(cmd("run app"))} [options]`);
    expect(usageArgs(cmd("run app"))).toMatch(/^<[a-z-]+> \[[a-z-]+\]$/);
    for (const f of flagsOf(cmd("run app"))) expect(h).toContain(f.long);
    expect(commandHelp(cmd("get apps"))).toMatch(/--limit <n> +At most this many apps \(max 5000; default 200\)/);
    expect(commandHelp(cmd("auth status"))).toMatch(/-v, --verbose/);
    expect(commandHelp(cmd("auth login"))).toMatch(/Aliases:\n  difyctl login\n/);
    expect(commandHelp(cmd("auth login"))).toContain("DIFY_TOKEN_STORAGE=file");
  });
  test("a group: its description, its commands, a pointer to <command> --help", () => {
    const h = groupHelp(["get"])!;
    expect(h.startsWith(GROUPS.get)).toBe(true);
    expect(h).toContain("difyctl get <command> [options]");
    expect(h).toContain(`get app ${usageArgs(cmd("get app"))}`);
    expect(h).toContain("Run 'difyctl get <command> --help'");
    expect(groupHelp(["nope"])).toBeNull();
  });
});

describe("router (compiled binary)", () => {
  const env = baseEnv(tempDir());

  test("unknown commands: usage_unknown_command, exit 2, the closest commands in the hint and the envelope", async () => {
    const cases: [string[], string[]][] = [
      [["auth", "stauts"], ["difyctl auth status"]],
      [["get", "ap"], ["difyctl get app", "difyctl get apps"]],
      [["logn"], ["difyctl login"]],
      [["auth", "devices", "lst"], ["difyctl auth devices list"]],
      [["help", "auth", "stauts"], ["difyctl help auth status"]],
    ];
    for (const [args, want] of cases) {
      const r = await run([...args, "--json"], { env });
      expect(r.code).toBe(2);
      const e = envelope(r.stderr) as ReturnType<typeof envelope> & { details?: { suggestions?: string[] } };
      expect(e.code).toBe("usage_unknown_command");
      expect(e.details?.suggestions).toEqual(want);
      for (const w of want) expect(e.hint).toContain(`'${w}'`);
      const text = await run(args, { env });
      expect(text.stderr).toContain(`hint: did you mean '${want[0]}'`);
    }
  });

  test("help <unknown> is a usage error, not the top-level help", async () => {
    const r = await run(["help", "nope"], { env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("unknown command 'nope'");
    const j = await run(["help", "stauts", "--json"], { env: { ...env, DIFY_OUTPUT: "json" } });
    expect(envelope(j.stderr).code).toBe("usage_unknown_command");
  });

  test("unknown option: the wording and the suggestion, before or after the command", async () => {
    const r = await run(["auth", "status", "--verfy"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown option '--verfy'");
    expect(r.stderr).toContain("did you mean '--verify'?");
    const before = await run(["--verbose", "auth", "status"], { env });
    expect(before.code).toBe(2);
    expect(before.stderr).toContain("unknown option '--verbose'");
    expect(before.stderr).toContain("'difyctl auth status --verbose'");
    const global = await run(["--jsn", "auth", "status"], { env });
    expect(global.stderr).toContain("did you mean '--json'?");
  });

  test("global flags before the command words", async () => {
    const a = await run(["--json", "auth", "status"], { env });
    expect(a.code).toBe(4);
    expect(JSON.parse(a.stdout)).toEqual({ host: null, logged_in: false });
    const among = await run(["auth", "--json", "status"], { env });
    expect(among.code).toBe(4);
    expect(JSON.parse(among.stdout)).toEqual({ host: null, logged_in: false });
    const h = await run(["--help", "auth", "status"], { env });
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("difyctl auth status [options]");
    // A command without --json refuses it wherever it is given.
    const c = await run(["--json", "completion", "bash"], { env });
    expect(c.code).toBe(2);
    expect(envelope(c.stderr).code).toBe("usage_invalid_flag");
    const v = await run(["--json", "--version"], { env });
    expect(JSON.parse(v.stdout).version).toMatch(/^\d+\.\d+\.\d+/);
  });

  test("group help: a description and a pointer to <command> --help; exit 0", async () => {
    for (const args of [["get"], ["get", "--help"], ["help", "get"]]) {
      const r = await run(args, { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(GROUPS.get);
      expect(r.stdout).toContain("Run 'difyctl get <command> --help'");
    }
  });

  test("top-level help groups the commands", async () => {
    const r = await run(["--help"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Sign-in and sessions:");
    expect(r.stdout).toContain("Exit codes:");
  });
});

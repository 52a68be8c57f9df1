// The one command table. Every command is one entry here plus one module in src/commands/; the
// parser, help, completion and the fuzz tests all read these entries, so a flag exists once.
// Command modules load lazily: a command pays start-up only for what it uses.
import { APP_MODES, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from "../apps/app-modes.ts";
import type { Ctx } from "./context.ts";

// ------------------------------------------------------------------ option and argument specs

/** What a value is: completion offers candidates by it, the fuzz tests pick a valid sample by it. */
export type ValueKind = "url" | "workspace-id" | "app-id" | "conversation-id" | "device" | "shell" | "query" | "inputs" | "text";

interface OptionBase {
  /**
   * The flag as typed, without the dashes. A boolean spelled `no-x` is on by default and the flag
   * turns it off: `--no-browser` sets `browser` to false.
   */
  long: string;
  /** One letter for `-x`; short booleans may be bundled (`-vh`). */
  short?: string;
  description: string;
  /** The environment variable (and value) with the same effect, shown in help. */
  env?: string;
}
export interface BooleanOption extends OptionBase { type: "boolean" }
export interface StringOption extends OptionBase {
  type: "string"; placeholder: string; kind?: ValueKind; default?: string;
  /** May be given several times; the command gets every value, in order. */
  repeatable?: boolean;
}
export interface NumberOption extends OptionBase { type: "number"; placeholder: string; default?: number; min?: number; max?: number }
export interface EnumOption<V extends string = string> extends OptionBase { type: "enum"; placeholder: string; values: readonly V[]; default?: V }
export type OptionSpec = BooleanOption | StringOption | NumberOption | EnumOption;
export type OptionMap = { readonly [key: string]: OptionSpec };

/** A positional argument: `<name>` when required, `[name]` when not, `[name...]` for the rest. */
export interface ArgSpec {
  name: string; required?: boolean; variadic?: boolean; kind?: ValueKind;
  /**
   * A server-made random token that may begin with "-" (a form token): a dash-led word in this
   * argument's place that is not one of the command's options is taken as the argument.
   */
  dashOk?: boolean;
}

type ValueOf<S> = S extends BooleanOption ? boolean : S extends NumberOption ? number : S extends EnumOption<infer V> ? V : S extends { repeatable: true } ? string[] : string;
/** Booleans always have a value (their default); other options only when given or defaulted. */
type AlwaysSet<S> = S extends BooleanOption ? true : S extends { default: unknown } ? true : false;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** The typed options object a command's `run` receives, derived from its option specs. */
export type OptionsOf<M extends OptionMap> = Simplify<
  { -readonly [K in keyof M as AlwaysSet<M[K]> extends true ? K : never]: ValueOf<M[K]> } &
  { -readonly [K in keyof M as AlwaysSet<M[K]> extends true ? never : K]?: ValueOf<M[K]> }
>;

/** What a command module exports. `run` is a property so its options type is checked strictly. */
export interface CommandModule<O> {
  run: (ctx: Ctx, args: string[], opts: O) => Promise<number | void>;
}

/** Where a command is listed in the top-level help. */
export type Section = "sessions" | "apps" | "other";

interface CommandInfo<M extends OptionMap> {
  path: readonly string[];
  aliases?: readonly (readonly string[])[];
  section: Section;
  summary: string;
  args?: readonly ArgSpec[];
  options: M;
  examples?: readonly string[];
}

/** A table entry as written: its module's `run` must take exactly `OptionsOf<typeof options>`. */
export interface CommandDef<M extends OptionMap> extends CommandInfo<M> {
  load: () => Promise<CommandModule<OptionsOf<M>>>;
}

/** The options object the parser builds: one value per option key. */
export type ParsedOptions = Record<string, string | number | boolean | string[]>;

/** A table entry as the router, help and completion see it. */
export interface Command extends CommandInfo<OptionMap> {
  load: () => Promise<CommandModule<ParsedOptions>>;
}

/**
 * Checks an entry against its module, then erases its options type for the table. The one cast
 * is sound because the parser builds the options object from this same entry's specs.
 */
export function defineCommand<const M extends OptionMap>(c: CommandDef<M>): Command {
  return c as unknown as Command;
}

// ------------------------------------------------------------------ shared options

const JSON_OPTION = { long: "json", type: "boolean", description: "Print JSON", env: "DIFY_OUTPUT=json" } as const satisfies BooleanOption;
/** Every command that prints JSON takes --jq (it implies --json). */
const JQ_OPTION = {
  long: "jq", type: "string", placeholder: "expr", kind: "text", description: "Filter the JSON output with a jq expression (implies --json; strings print raw)",
} as const satisfies StringOption;
const WORKSPACE_OPTION = {
  long: "workspace", type: "string", placeholder: "id", kind: "workspace-id", description: "Workspace id (default: the active workspace)",
} as const satisfies StringOption;
const LIST_OPTIONS = {
  mode: { long: "mode", type: "enum", placeholder: "mode", values: APP_MODES, description: "Only apps of this mode" },
  name: { long: "name", type: "string", placeholder: "text", kind: "text", description: "Only apps whose name contains this text" },
  limit: { long: "limit", type: "number", placeholder: "n", default: DEFAULT_LIST_LIMIT, min: 1, max: MAX_LIST_LIMIT, description: "At most this many apps" },
  json: JSON_OPTION,
  jq: JQ_OPTION,
} as const satisfies OptionMap;
const RUN_OPTIONS = {
  inputs: { long: "inputs", type: "string", placeholder: "json", kind: "inputs", description: "App inputs: a JSON object, @file.json, or - to read stdin" },
  conversation: { long: "conversation", type: "string", placeholder: "id", kind: "conversation-id", description: "Continue this conversation (chat apps)" },
  stream: { long: "stream", type: "boolean", description: "Print every event as one JSON line as it arrives" },
  file: {
    long: "file", type: "string", placeholder: "var=@path", kind: "text", repeatable: true,
    description: "A file input: <var>=@path uploads a local file, <var>=https://… passes a URL; @path alone attaches to a chat (repeatable)",
  },
  think: { long: "think", type: "boolean", description: "Show the model's <think> reasoning on stderr (hidden by default)" },
  json: JSON_OPTION,
  jq: JQ_OPTION,
} as const satisfies OptionMap;
const RUN_APP_OPTIONS = {
  ...RUN_OPTIONS,
  workspace: { ...WORKSPACE_OPTION, description: "Run it only if the app is in this workspace (the server checks)" },
} as const satisfies OptionMap;
const RESUME_OPTIONS = {
  action: { long: "action", type: "string", placeholder: "id", kind: "text", description: "The form's action to take (its button), e.g. approve" },
  inputs: { long: "inputs", type: "string", placeholder: "json", kind: "inputs", description: "The form's inputs: a JSON object, @file.json, or - to read stdin (defaults fill the rest)" },
  file: { long: "file", type: "string", placeholder: "var=@path", kind: "text", repeatable: true, description: "A file input of the form: <var>=@path or <var>=https://… (repeatable)" },
  run: { long: "run", type: "string", placeholder: "workflow-run-id", kind: "text", description: "The paused run's workflow_run_id (default: remembered when the run paused here)" },
  stream: { long: "stream", type: "boolean", description: "Print every event as one JSON line as it arrives" },
  think: { long: "think", type: "boolean", description: "Show the model's <think> reasoning on stderr (hidden by default)" },
  json: JSON_OPTION,
  jq: JQ_OPTION,
} as const satisfies OptionMap;
const GET_APP_OPTIONS = {
  workspace: { ...WORKSPACE_OPTION, description: "Show it only if the app is in this workspace" },
  json: JSON_OPTION,
  jq: JQ_OPTION,
} as const satisfies OptionMap;
// An app is named by its id or its name; the query may be "-" (read from stdin).
const RUN_ARGS: readonly ArgSpec[] = [{ name: "app", required: true, kind: "app-id" }, { name: "query", kind: "query" }];
const RUN_EXAMPLES = (cmd: string) => [
  `difyctl ${cmd} <chat-app-id> "How do I reset my password?"`,
  `difyctl ${cmd} <workflow-id> --inputs '{"text":"…"}' --json`,
  `difyctl ${cmd} <app-id> --inputs @inputs.json --stream`,
  `difyctl ${cmd} "Support Chat" - < question.txt > answer.txt`,
];
const JSON_ONLY = { json: JSON_OPTION, jq: JQ_OPTION } as const satisfies OptionMap;

/** Every command's -h/--help, handled by the router rather than the command. */
export const HELP_OPTION = { long: "help", short: "h", type: "boolean", description: "Show this help" } as const satisfies BooleanOption;
/** `difyctl --version`: only as the first word (the cheapest path through start-up). */
export const VERSION_OPTION = { long: "version", short: "V", type: "boolean", description: "Show the version (as the first word)" } as const satisfies BooleanOption;
/**
 * Options accepted before the command words too (`difyctl --json auth status`); they then apply to
 * the command as if given after it, so a command without --json still refuses it.
 */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [JSON_OPTION, HELP_OPTION];
export const GLOBAL_FLAGS: readonly string[] = GLOBAL_OPTIONS.flatMap((o) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])]);

/**
 * The command words at the front of `argv`, with global flags allowed before and among them
 * (`difyctl --json auth status`, `difyctl auth --json status`): the words, the global flags set
 * aside, and the rest from the first other flag on. Global flags take no value, so moving them
 * changes nothing else. The router and completion both read argv this way.
 */
export function splitCommandWords(argv: readonly string[]): { words: string[]; globals: string[]; rest: string[] } {
  const words: string[] = [];
  const globals: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    if (GLOBAL_FLAGS.includes(argv[i])) globals.push(argv[i]);
    else if (argv[i].startsWith("-")) break;
    else words.push(argv[i]);
  }
  return { words, globals, rest: argv.slice(i) };
}

// ------------------------------------------------------------------ options per command

const LOGIN_OPTIONS = {
  host: { long: "host", type: "string", placeholder: "url", kind: "url", description: "Dify host (skips the prompt)" },
  browser: { long: "no-browser", type: "boolean", description: "Do not open a browser" },
  insecure: { long: "insecure", type: "boolean", description: "Allow a plain-text http:// host (local development only)" },
  keyring: { long: "no-keyring", type: "boolean", description: "Store the token in tokens.yml instead of the OS keychain", env: "DIFY_TOKEN_STORAGE=file" },
  wait: { long: "no-wait", type: "boolean", description: "Start the sign-in, save it and exit; finish it later with --resume" },
  resume: { long: "resume", type: "boolean", description: "Poll a sign-in started with --no-wait once: exit 0 when done, 8 while still pending" },
  qr: { long: "no-qr", type: "boolean", description: "Do not draw the QR code in the terminal" },
  json: { ...JSON_OPTION, description: "Print JSON: one event per line (code, waiting, slow_down, approved, stored, error), then the result" },
  jq: JQ_OPTION,
} as const satisfies OptionMap;
const STATUS_OPTIONS = {
  verbose: { long: "verbose", short: "v", type: "boolean", description: "Show more detail" },
  verify: { long: "verify", type: "boolean", description: "Also prove the session works with one request to the server (exit 4 if it does not)" },
  json: JSON_OPTION,
  jq: JQ_OPTION,
} as const satisfies OptionMap;
const DOCTOR_OPTIONS = {
  host: { long: "host", type: "string", placeholder: "url", kind: "url", description: "Check this server instead of the signed-in one" },
  json: JSON_OPTION,
  jq: JQ_OPTION,
} as const satisfies OptionMap;
const REVOKE_OPTIONS = {
  all: { long: "all", type: "boolean", description: "Revoke every session except this device's" },
  yes: { long: "yes", type: "boolean", description: "Do not ask for confirmation (required with --all when not in a terminal)" },
  json: JSON_OPTION,
  jq: JQ_OPTION,
} as const satisfies OptionMap;
const GET_APPS_OPTIONS = { workspace: WORKSPACE_OPTION, ...LIST_OPTIONS } as const satisfies OptionMap;

export type JsonOnlyOptions = OptionsOf<typeof JSON_ONLY>;
export type AuthLoginOptions = OptionsOf<typeof LOGIN_OPTIONS>;
export type AuthStatusOptions = OptionsOf<typeof STATUS_OPTIONS>;
export type AuthDoctorOptions = OptionsOf<typeof DOCTOR_OPTIONS>;
export type DevicesRevokeOptions = OptionsOf<typeof REVOKE_OPTIONS>;
export type GetAppsOptions = OptionsOf<typeof GET_APPS_OPTIONS>;
export type ListAppsOptions = OptionsOf<typeof LIST_OPTIONS>;
export type RunAppOptions = OptionsOf<typeof RUN_APP_OPTIONS>;
export type RunPermittedAppOptions = OptionsOf<typeof RUN_OPTIONS>;
export type ResumeAppOptions = OptionsOf<typeof RESUME_OPTIONS>;
export type GetAppOptions = OptionsOf<typeof GET_APP_OPTIONS>;
export type NoOptions = OptionsOf<{}>;

// ------------------------------------------------------------------ the table

export const COMMANDS: readonly Command[] = [
  defineCommand({
    path: ["auth", "login"], aliases: [["login"]], section: "sessions", summary: "Sign in with the OAuth device flow",
    options: LOGIN_OPTIONS,
    examples: [
      "difyctl auth login --host https://dify.example.com",
      "difyctl auth login --host https://dify.example.com --no-browser",
      "difyctl auth login --host https://dify.example.com --no-wait --json   # prints user_code + URL, exits",
      "difyctl auth login --resume --json                                    # exit 8 = still pending",
    ],
    load: () => import("../commands/auth-login.ts"),
  }),
  defineCommand({
    path: ["auth", "logout"], aliases: [["logout"]], section: "sessions", summary: "Revoke the session on the server and remove it locally",
    options: JSON_ONLY, load: () => import("../commands/auth-logout.ts"),
  }),
  defineCommand({
    path: ["auth", "status"], section: "sessions", summary: "Show who is signed in (offline unless --verify)",
    options: STATUS_OPTIONS, load: () => import("../commands/auth-status.ts"),
  }),
  defineCommand({
    path: ["auth", "doctor"], section: "sessions", summary: "Check the config dir, token storage, keychain, server and clock (read-only)",
    options: DOCTOR_OPTIONS, load: () => import("../commands/auth-doctor.ts"),
  }),
  defineCommand({
    path: ["auth", "whoami"], section: "sessions", summary: "Show the signed-in identity (offline)",
    options: JSON_ONLY, load: () => import("../commands/auth-whoami.ts"),
  }),
  defineCommand({
    path: ["auth", "use"], section: "sessions", summary: "Switch the active workspace (account sessions)",
    args: [{ name: "workspace-id-or-name", kind: "workspace-id" }],
    options: JSON_ONLY,
    examples: ["difyctl auth use b0000000-0000-4000-8000-000000000002", 'difyctl auth use "Side Project"', "difyctl auth use        # on a terminal: pick from a list"],
    load: () => import("../commands/auth-use.ts"),
  }),
  defineCommand({
    path: ["auth", "devices", "list"], section: "sessions", summary: "List the signed-in sessions on every device",
    options: JSON_ONLY, load: () => import("../commands/auth-devices-list.ts"),
  }),
  defineCommand({
    path: ["auth", "devices", "revoke"], section: "sessions", summary: "Revoke a session by device label or id, or all other sessions",
    args: [{ name: "device-label-or-id", kind: "device" }],
    options: REVOKE_OPTIONS,
    examples: ['difyctl auth devices revoke "difyctl on old-thinkpad"', "difyctl auth devices revoke --all --yes"],
    load: () => import("../commands/auth-devices-revoke.ts"),
  }),
  defineCommand({
    path: ["get", "apps"], section: "apps", summary: "List the apps of a workspace (account sessions)",
    options: GET_APPS_OPTIONS, examples: ["difyctl get apps", "difyctl get apps --mode workflow --json"],
    load: () => import("../commands/get-apps.ts"),
  }),
  defineCommand({
    path: ["get", "app"], section: "apps", summary: "Show one app: mode, description and input fields",
    args: [{ name: "app", required: true, kind: "app-id" }],
    options: GET_APP_OPTIONS, examples: ["difyctl get app 3f9c0e7a-…", 'difyctl get app "Support Chat"'], load: () => import("../commands/get-app.ts"),
  }),
  defineCommand({
    path: ["run", "app"], section: "apps", summary: "Run an app and print its answer or outputs", args: RUN_ARGS,
    options: RUN_APP_OPTIONS, examples: [...RUN_EXAMPLES("run app"), "difyctl run app <workflow-id> --file doc=@report.pdf --file images=@a.png --file images=https://example.com/b.png"],
    load: () => import("../commands/run-app.ts"),
  }),
  defineCommand({
    path: ["resume", "app"], section: "apps", summary: "Answer a paused run's human-input form and follow the run",
    args: [{ name: "app", required: true, kind: "app-id" }, { name: "form-token", required: true, kind: "text", dashOk: true }],
    options: RESUME_OPTIONS,
    examples: [
      "difyctl resume app \"Expense Approval\" <form_token> --action approve",
      "difyctl resume app <app-id> <form_token> --action approve --inputs '{\"comment\":\"ok\"}' --run <workflow_run_id> --json",
    ],
    load: () => import("../commands/resume-app.ts"),
  }),
  defineCommand({
    path: ["get", "workspaces"], section: "apps", summary: "List the workspaces of this account (account sessions)",
    options: JSON_ONLY, examples: ["difyctl get workspaces", "difyctl get workspaces --jq '.[] | select(.status != \"archive\") | .id'"],
    load: () => import("../commands/get-workspaces.ts"),
  }),
  defineCommand({
    path: ["get", "permitted-external-apps"], section: "apps", summary: "List the apps your external SSO identity may run",
    options: LIST_OPTIONS, load: () => import("../commands/get-permitted-external-apps.ts"),
  }),
  defineCommand({
    path: ["get", "permitted-external-app"], section: "apps", summary: "Show one app permitted to your external SSO identity",
    args: [{ name: "app", required: true, kind: "app-id" }],
    options: JSON_ONLY, load: () => import("../commands/get-permitted-external-app.ts"),
  }),
  defineCommand({
    path: ["run", "permitted-external-app"], section: "apps", summary: "Run an app permitted to your external SSO identity", args: RUN_ARGS,
    options: RUN_OPTIONS, examples: RUN_EXAMPLES("run permitted-external-app"), load: () => import("../commands/run-permitted-external-app.ts"),
  }),
  defineCommand({
    path: ["completion"], section: "other", summary: "Print a shell completion script (bash, zsh, fish, powershell)",
    args: [{ name: "shell", required: true, kind: "shell" }, { name: "words", variadic: true, kind: "text" }],
    options: {},
    examples: [
      "source <(difyctl completion bash)            # add to ~/.bashrc",
      "difyctl completion zsh > \"${fpath[1]}/_difyctl\"",
      "difyctl completion fish > ~/.config/fish/completions/difyctl.fish",
      "difyctl completion powershell | Out-String | Invoke-Expression",
      "difyctl completion bash -- auth dev          # what the script asks: prints 'devices'",
    ],
    load: () => import("../commands/completion.ts"),
  }),
  defineCommand({
    path: ["version"], section: "other", summary: "Show the difyctl version",
    options: JSON_ONLY, load: () => import("../commands/version.ts"),
  }),
];

/** The router's own `help` word: listed with the commands, completed like one. */
export const HELP_COMMAND = { word: "help", args: "[command]", summary: "Show help for a command" };

/** Headings of the top-level help, in order. */
export const SECTIONS: Record<Section, string> = { sessions: "Sign-in and sessions", apps: "Apps", other: "Other" };

/** What each command group is for, shown by its help (`difyctl get`). */
export const GROUPS: Record<string, string> = {
  "auth": "Sign in and out, inspect the session, switch workspace, manage this account's devices",
  "auth devices": "The sessions signed in to this account on every device",
  "get": "Show apps: the workspace's apps for an account session, the permitted ones for an external SSO identity",
  "run": "Run an app and print its answer, its outputs or its event stream",
  "resume": "Answer the form a paused run waits on, and follow the run",
};

export const TOP_EXAMPLES: readonly string[] = [
  "difyctl auth login --host https://dify.example.com",
  "difyctl get apps --mode workflow",
  "difyctl run app <app-id> \"How do I reset my password?\"",
  "difyctl --json auth status",
];

/** Environment variables, shown in the top-level help. */
export const ENVIRONMENT: readonly { name: string; description: string }[] = [
  { name: "DIFY_CONFIG_DIR", description: "config directory (default ~/.config/difyctl)" },
  { name: "DIFY_OUTPUT=json", description: "JSON output and one-line JSON errors" },
  { name: "DIFY_TOKEN_STORAGE", description: "auto | keychain | file" },
  { name: "DIFY_TOKEN, DIFY_HOST, DIFY_WORKSPACE_ID", description: "a session from the environment; nothing is read or written on disk" },
  { name: "DIFY_DEBUG=1", description: "log HTTP requests to stderr (credentials redacted)" },
  { name: "DIFY_HTTP_TIMEOUT", description: "seconds one HTTP request, or a silent stream, may take (default 30 / 300)" },
];

// ------------------------------------------------------------------ derived views

/** One spelling of an option as the user types it, with the key its value goes to. */
export interface Flag {
  key: string;
  option: OptionSpec;
  /** "--host", "--no-browser" */
  long: string;
  /** "-v", if the option has a short name */
  short?: string;
  takesValue: boolean;
}

/** The flags of a command: its options, then -h/--help. */
export function flagsOf(cmd: Command): Flag[] {
  const out: Flag[] = [];
  for (const key in cmd.options) out.push(flag(key, cmd.options[key]));
  out.push(flag("help", HELP_OPTION));
  return out;
}

function flag(key: string, option: OptionSpec): Flag {
  return { key, option, long: `--${option.long}`, short: option.short && `-${option.short}`, takesValue: option.type !== "boolean" };
}

/** The value an option has when it is not given. */
export function defaultOf(o: OptionSpec): string | number | boolean | undefined {
  return o.type === "boolean" ? o.long.startsWith("no-") : o.default;
}

/** `<id>`, `[query]`, `[words...]` */
export function argLabel(a: ArgSpec): string {
  return a.variadic ? `[${a.name}...]` : a.required ? `<${a.name}>` : `[${a.name}]`;
}

export function usageArgs(cmd: Command): string {
  return (cmd.args ?? []).map(argLabel).join(" ");
}

/** Every path a command answers to, the canonical one first. */
export function pathsOf(cmd: Command): readonly (readonly string[])[] {
  return [cmd.path, ...(cmd.aliases ?? [])];
}

const startsWith = (path: readonly string[], words: readonly string[]) => words.every((w, i) => path[i] === w);

/** The command whose path (or alias) is the longest prefix of `words`, and that path's length. */
export function findCommand(words: readonly string[]): { cmd: Command; length: number } | null {
  let best: { cmd: Command; length: number } | null = null;
  for (const cmd of COMMANDS) {
    for (const path of pathsOf(cmd)) {
      if (path.length <= words.length && startsWith(words, path) && (!best || path.length > best.length)) best = { cmd, length: path.length };
    }
  }
  return best;
}

/** Whether `words` name a group of commands (`auth`, `auth devices`, `get`). */
export function isGroup(words: readonly string[]): boolean {
  return words.length > 0 && COMMANDS.some((c) => c.path.length > words.length && startsWith(c.path, words));
}

/** The words that may follow `prefix`: subcommands and subgroups (and aliases, at the top). */
export function childWords(prefix: readonly string[]): { word: string; cmd?: Command }[] {
  const seen = new Map<string, { word: string; cmd?: Command }>();
  for (const cmd of COMMANDS) {
    for (const path of pathsOf(cmd)) {
      if (path.length <= prefix.length || !startsWith(path, prefix)) continue;
      const word = path[prefix.length];
      if (!seen.has(word)) seen.set(word, { word, cmd: path.length === prefix.length + 1 ? cmd : undefined });
    }
  }
  return [...seen.values()];
}

import type { Ctx, Opts } from "./context.ts";

export interface CommandModule {
  run(ctx: Ctx, args: string[], opts: Opts): Promise<number | void>;
}

/** [flag spec as cac reads it, description, default] */
export type OptionSpec = [string, string, unknown?];

export interface CommandSpec {
  path: string[];
  aliases?: string[][];
  summary: string;
  /** cac argument syntax, e.g. "<workspace-id>" or "<id> [query]". */
  args?: string;
  options?: OptionSpec[];
  examples?: string[];
  load: () => Promise<CommandModule>;
}

const JSON_OPT: OptionSpec = ["--json", "Print JSON"];
const WORKSPACE_OPT: OptionSpec = ["--workspace <id>", "Workspace id (default: the active workspace)"];
const RUN_INPUTS_OPT: OptionSpec = ["--inputs <json>", "App inputs: a JSON object, @file.json, or - to read stdin"];
const RUN_STREAM_OPT: OptionSpec = ["--stream", "Print every event as one JSON line as it arrives"];
const RUN_EXAMPLES = (cmd: string) => [
  `difyctl ${cmd} <chat-app-id> "How do I reset my password?"`,
  `difyctl ${cmd} <workflow-id> --inputs '{"text":"…"}' --json`,
  `difyctl ${cmd} <app-id> --inputs @inputs.json --stream`,
];

// The one command table. Modules load lazily so a command pays only for what it uses.
export const COMMANDS: CommandSpec[] = [
  {
    path: ["auth", "login"], aliases: [["login"]], summary: "Sign in with the OAuth device flow",
    options: [
      ["--host <url>", "Dify host (skips the prompt)"],
      ["--no-browser", "Do not open a browser"],
      ["--insecure", "Allow a plain-text http:// host (local development only)"],
      ["--no-keyring", "Store the token in tokens.yml instead of the OS keychain"],
      ["--no-wait", "Start the sign-in, save it and exit; finish it later with --resume"],
      ["--resume", "Poll a sign-in started with --no-wait once: exit 0 when done, 8 while still pending"],
      ["--no-qr", "Do not draw the QR code in the terminal"],
      ["--json", "Print JSON: one event per line (code, waiting, slow_down, approved, stored, error), then the result"],
    ],
    examples: [
      "difyctl auth login --host https://dify.example.com",
      "difyctl auth login --host https://dify.example.com --no-browser",
      "difyctl auth login --host https://dify.example.com --no-wait --json   # prints user_code + URL, exits",
      "difyctl auth login --resume --json                                    # exit 8 = still pending",
    ],
    load: () => import("../commands/auth-login.ts"),
  },
  {
    path: ["auth", "logout"], aliases: [["logout"]], summary: "Revoke the session on the server and remove it locally",
    options: [JSON_OPT], load: () => import("../commands/auth-logout.ts"),
  },
  {
    path: ["auth", "status"], summary: "Show who is signed in (offline unless --verify)",
    options: [
      ["-v, --verbose", "Show more detail"],
      ["--verify", "Also prove the session works with one request to the server (exit 4 if it does not)"],
      JSON_OPT,
    ],
    load: () => import("../commands/auth-status.ts"),
  },
  {
    path: ["auth", "doctor"], summary: "Check the config dir, token storage, keychain, server and clock (read-only)",
    options: [
      ["--host <url>", "Check this server instead of the signed-in one"],
      JSON_OPT,
    ],
    load: () => import("../commands/auth-doctor.ts"),
  },
  {
    path: ["auth", "whoami"], summary: "Show the signed-in identity (offline)",
    options: [JSON_OPT], load: () => import("../commands/auth-whoami.ts"),
  },
  {
    path: ["auth", "use"], summary: "Switch the active workspace (account sessions)", args: "<workspace-id>",
    options: [JSON_OPT], examples: ["difyctl auth use b0000000-0000-4000-8000-000000000002"],
    load: () => import("../commands/auth-use.ts"),
  },
  {
    path: ["auth", "devices", "list"], summary: "List the signed-in sessions on every device",
    options: [JSON_OPT], load: () => import("../commands/auth-devices-list.ts"),
  },
  {
    path: ["auth", "devices", "revoke"], summary: "Revoke a session by device label or id, or all other sessions", args: "[device-label-or-id]",
    options: [
      ["--all", "Revoke every session except this device's"],
      ["--yes", "Do not ask for confirmation (required with --all when not in a terminal)"],
      JSON_OPT,
    ],
    examples: ['difyctl auth devices revoke "difyctl on old-thinkpad"', "difyctl auth devices revoke --all --yes"],
    load: () => import("../commands/auth-devices-revoke.ts"),
  },
  {
    path: ["get", "apps"], summary: "List the apps of a workspace (account sessions)",
    options: [WORKSPACE_OPT, ["--mode <mode>", "Only apps of this mode (chat, agent-chat, advanced-chat, completion, workflow)"],
      ["--name <text>", "Only apps whose name contains this text"], ["--limit <n>", "At most this many apps (default 200, max 5000)"], JSON_OPT],
    examples: ["difyctl get apps", "difyctl get apps --mode workflow --json"],
    load: () => import("../commands/get-apps.ts"),
  },
  {
    path: ["get", "app"], summary: "Show one app: mode, description and input fields", args: "<id>",
    options: [JSON_OPT], examples: ["difyctl get app 3f9c0e7a-…"], load: () => import("../commands/get-app.ts"),
  },
  {
    path: ["run", "app"], summary: "Run an app and print its answer or outputs", args: "<id> [query]",
    options: [RUN_INPUTS_OPT, ["--conversation <id>", "Continue this conversation (chat apps)"], RUN_STREAM_OPT, JSON_OPT],
    examples: RUN_EXAMPLES("run app"), load: () => import("../commands/run-app.ts"),
  },
  {
    path: ["get", "permitted-external-apps"], summary: "List the apps your external SSO identity may run",
    options: [["--mode <mode>", "Only apps of this mode"], ["--name <text>", "Only apps whose name contains this text"],
      ["--limit <n>", "At most this many apps (default 200, max 5000)"], JSON_OPT],
    load: () => import("../commands/get-permitted-external-apps.ts"),
  },
  {
    path: ["get", "permitted-external-app"], summary: "Show one app permitted to your external SSO identity", args: "<id>",
    options: [JSON_OPT], load: () => import("../commands/get-permitted-external-app.ts"),
  },
  {
    path: ["run", "permitted-external-app"], summary: "Run an app permitted to your external SSO identity", args: "<id> [query]",
    options: [RUN_INPUTS_OPT, ["--conversation <id>", "Continue this conversation (chat apps)"], RUN_STREAM_OPT, JSON_OPT],
    examples: RUN_EXAMPLES("run permitted-external-app"), load: () => import("../commands/run-permitted-external-app.ts"),
  },
  {
    path: ["completion"], summary: "Print a shell completion script (bash, zsh, fish, powershell)", args: "<shell> [words...]",
    examples: [
      "source <(difyctl completion bash)            # add to ~/.bashrc",
      "difyctl completion zsh > \"${fpath[1]}/_difyctl\"",
      "difyctl completion fish > ~/.config/fish/completions/difyctl.fish",
      "difyctl completion powershell | Out-String | Invoke-Expression",
      "difyctl completion bash -- auth dev          # what the script asks: prints 'devices'",
    ],
    load: () => import("../commands/completion.ts"),
  },
  {
    path: ["version"], summary: "Show the difyctl version",
    options: [JSON_OPT], load: () => import("../commands/version.ts"),
  },
];


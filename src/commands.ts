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

// The one command table. Modules load lazily so a command pays only for what it uses.
export const COMMANDS: CommandSpec[] = [
  {
    path: ["auth", "login"], aliases: [["login"]], summary: "Sign in with the OAuth device flow",
    options: [
      ["--host <url>", "Dify host (skips the prompt)"],
      ["--no-browser", "Do not open a browser"],
      ["--insecure", "Allow a plain-text http:// host (local development only)"],
      ["--no-keyring", "Store the token in tokens.yml instead of the OS keychain"],
      JSON_OPT,
    ],
    examples: ["difyctl auth login --host https://dify.example.com", "difyctl auth login --host https://dify.example.com --no-browser"],
    load: () => import("./commands/auth-login.ts"),
  },
  {
    path: ["auth", "logout"], aliases: [["logout"]], summary: "Revoke the session on the server and remove it locally",
    options: [JSON_OPT], load: () => import("./commands/auth-logout.ts"),
  },
  {
    path: ["auth", "status"], summary: "Show who is signed in (offline)",
    options: [["-v, --verbose", "Show more detail"], JSON_OPT], load: () => import("./commands/auth-status.ts"),
  },
  {
    path: ["auth", "whoami"], summary: "Show the signed-in identity (offline)",
    options: [JSON_OPT], load: () => import("./commands/auth-whoami.ts"),
  },
  {
    path: ["version"], summary: "Show the difyctl version",
    options: [JSON_OPT], load: () => import("./commands/version.ts"),
  },
];

export { JSON_OPT, WORKSPACE_OPT };

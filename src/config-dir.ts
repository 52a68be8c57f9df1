import { CliError } from "./errors.ts";

type Env = Record<string, string | undefined>;

function join(...parts: string[]): string {
  const sep = process.platform === "win32" ? "\\" : "/";
  return parts.join(sep);
}

/** DIFY_CONFIG_DIR, else $XDG_CONFIG_HOME/difyctl, else ~/.config/difyctl; %AppData%\difyctl on Windows. */
export function configDir(env: Env = process.env, platform: string = process.platform): string {
  if (env.DIFY_CONFIG_DIR) return env.DIFY_CONFIG_DIR;
  if (platform === "win32") {
    if (!env.APPDATA) throw new CliError("config_invalid_value", "cannot locate the config directory: %AppData% is not set", { hint: "set DIFY_CONFIG_DIR" });
    return join(env.APPDATA, "difyctl");
  }
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "difyctl");
  if (!env.HOME) throw new CliError("config_invalid_value", "cannot locate the config directory: $HOME is not set", { hint: "set DIFY_CONFIG_DIR" });
  return join(env.HOME, ".config", "difyctl");
}

/** DIFY_CACHE_DIR, else XDG cache, ~/Library/Caches on macOS, %LocalAppData% on Windows. */
export function cacheDir(env: Env = process.env, platform: string = process.platform): string {
  if (env.DIFY_CACHE_DIR) return env.DIFY_CACHE_DIR;
  if (platform === "win32") return join(env.LOCALAPPDATA || env.APPDATA || ".", "difyctl", "cache");
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "difyctl");
  const home = env.HOME || ".";
  if (platform === "darwin") return join(home, "Library", "Caches", "difyctl");
  return join(home, ".cache", "difyctl");
}

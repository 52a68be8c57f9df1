import { CliError } from "../cli/errors.ts";

type Env = Record<string, string | undefined>;

function joinFor(platform: string, ...parts: string[]): string {
  return parts.join(platform === "win32" ? "\\" : "/");
}

/** DIFY_CONFIG_DIR, else $XDG_CONFIG_HOME/difyctl, else ~/.config/difyctl; %AppData%\difyctl on Windows. */
export function configDir(env: Env = process.env, platform: string = process.platform): string {
  if (env.DIFY_CONFIG_DIR) return env.DIFY_CONFIG_DIR;
  if (platform === "win32") {
    if (!env.APPDATA) throw new CliError("config_invalid_value", "cannot locate the config directory: %AppData% is not set", { hint: "set DIFY_CONFIG_DIR" });
    return joinFor(platform, env.APPDATA, "difyctl");
  }
  if (env.XDG_CONFIG_HOME) return joinFor(platform, env.XDG_CONFIG_HOME, "difyctl");
  if (!env.HOME) throw new CliError("config_invalid_value", "cannot locate the config directory: $HOME is not set", { hint: "set DIFY_CONFIG_DIR" });
  return joinFor(platform, env.HOME, ".config", "difyctl");
}

/** DIFY_CACHE_DIR, else XDG cache, ~/Library/Caches on macOS, %LocalAppData% on Windows. */
export function cacheDir(env: Env = process.env, platform: string = process.platform): string {
  if (env.DIFY_CACHE_DIR) return env.DIFY_CACHE_DIR;
  if (platform === "win32") return joinFor(platform, env.LOCALAPPDATA || env.APPDATA || ".", "difyctl", "cache");
  if (env.XDG_CACHE_HOME) return joinFor(platform, env.XDG_CACHE_HOME, "difyctl");
  const home = env.HOME || ".";
  if (platform === "darwin") return joinFor(platform, home, "Library", "Caches", "difyctl");
  return joinFor(platform, home, ".cache", "difyctl");
}

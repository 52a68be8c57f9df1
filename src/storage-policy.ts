import { CliError } from "./errors.ts";
import type { TokenStorage } from "./hosts-file.ts";

type Env = Record<string, string | undefined>;

export type StoragePolicy = "auto" | "keychain" | "file";

/** DIFY_TOKEN_STORAGE=auto|keychain|file, DIFY_CREDENTIAL_STORAGE=file and --no-keyring. */
export function storagePolicy(env: Env, noKeyring: boolean): StoragePolicy {
  const v = (env.DIFY_TOKEN_STORAGE ?? "").trim().toLowerCase();
  if (v && v !== "auto" && v !== "keychain" && v !== "file") {
    throw new CliError("config_invalid_value", `DIFY_TOKEN_STORAGE must be auto, keychain or file (got '${v.slice(0, 40)}')`);
  }
  const cred = (env.DIFY_CREDENTIAL_STORAGE ?? "").trim().toLowerCase();
  if (cred && cred !== "file") {
    throw new CliError("config_invalid_value", `DIFY_CREDENTIAL_STORAGE accepts only 'file' (got '${cred.slice(0, 40)}')`);
  }
  if (noKeyring || cred === "file" || v === "file") {
    if (v === "keychain") throw new CliError("usage_invalid_flag", "DIFY_TOKEN_STORAGE=keychain conflicts with --no-keyring / DIFY_CREDENTIAL_STORAGE=file");
    return "file";
  }
  return (v || "auto") as StoragePolicy;
}

export interface StorageChoice { kind: TokenStorage; notices: string[] }

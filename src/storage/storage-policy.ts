import { CliError } from "../cli/errors.ts";
import type { TokenStorage } from "./hosts-file.ts";
import { describeFailure, failureHint, loadAdvice } from "./keychain-store.ts";
import type { ProbeOutcome } from "./keychain-probe.ts";

type Env = Record<string, string | undefined>;

export type StoragePolicy = "auto" | "keychain" | "file";

/** DIFY_TOKEN_STORAGE=auto|keychain|file, DIFY_CREDENTIAL_STORAGE=file and --no-keyring. Login only. */
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

/**
 * The probe's outcome under the policy. No service → file, silently but for one `info:` line;
 * a service that fails → file plus a warning; keychain required → exit 4 (before
 * the device flow starts, so no code is shown for a login that cannot be saved).
 */
export function decideStorage(policy: Exclude<StoragePolicy, "file">, outcome: ProbeOutcome, tokensPath: string): StorageChoice {
  if (outcome.ok) return { kind: "keychain", notices: [] };
  const f = outcome.failure;
  if (policy === "keychain") {
    throw new CliError("keyring_unavailable", `DIFY_TOKEN_STORAGE=keychain but ${describeFailure(f)}`, {
      hint: failureHint(f, "or use DIFY_TOKEN_STORAGE=file (or unset it) to store the token in a file"),
      details: { keyring: f.kind },
    });
  }
  if (f.kind === "absent") return { kind: "file", notices: [`info: OS keychain unavailable; token will be stored in ${tokensPath} (0600).`] };
  const advice = f.kind === "load" ? ` To use the keychain, ${loadAdvice(f.reason)}.`
    : f.kind === "locked" ? " To use it, unlock it and log in again." : "";
  return { kind: "file", notices: [`warning: ${describeFailure(f)}; token will be stored in ${tokensPath} (0600).${advice}`] };
}

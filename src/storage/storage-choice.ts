import { type ConfigStore, TOKENS_FILE } from "./config-store.ts";
import type { Ctx } from "../cli/context.ts";
import { decideStorage, type StorageChoice, storagePolicy } from "./storage-policy.ts";

/** Decides where the new token goes, probing the keychain (login only; the result is recorded). */
export async function chooseStorage(ctx: Ctx, config: ConfigStore, host: string, noKeyring: boolean): Promise<StorageChoice> {
  const policy = storagePolicy(ctx.env, noKeyring);
  if (policy === "file") return { kind: "file", notices: [] };
  const [{ probeKeychain }, { defaultKeyring }] = await Promise.all([import("./keychain-probe.ts"), import("./keychain-store.ts")]);
  const outcome = await probeKeychain(defaultKeyring(), host);
  if (!outcome.ok) ctx.debug(`debug: keychain probe: ${outcome.failure.kind}: ${outcome.failure.reason}`);
  return decideStorage(policy, outcome, config.path(TOKENS_FILE));
}

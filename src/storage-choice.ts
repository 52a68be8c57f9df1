import type { ConfigStore } from "./config-store.ts";
import type { Ctx } from "./context.ts";
import { type StorageChoice, storagePolicy } from "./storage-policy.ts";

/** Decides where the new token goes (probing the keychain at login only). */
export async function chooseStorage(ctx: Ctx, config: ConfigStore, host: string, noKeyring: boolean): Promise<StorageChoice> {
  const policy = storagePolicy(ctx.env, noKeyring);
  if (policy === "file") return { kind: "file", notices: [] };
  const { probeKeychain } = await import("./keychain-probe.ts");
  return probeKeychain(policy, host, config.path("tokens.yml"));
}

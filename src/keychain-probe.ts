import { CliError } from "./errors.ts";
import type { StorageChoice, StoragePolicy } from "./storage-policy.ts";
import { KEYCHAIN_SERVICE } from "./keychain-store.ts";

/** Set → Get → Delete of `difyctl-probe:<host>`; run at login only. */
export async function probeKeychain(policy: StoragePolicy, host: string, tokensPath: string): Promise<StorageChoice> {
  let failure = "";
  try {
    const { Entry } = await import("@napi-rs/keyring");
    const opts = process.platform === "linux" ? { linux: { store: "secret-service" } } : undefined;
    const e = new (Entry as unknown as new (s: string, a: string, o?: unknown) => { setPassword(p: string): void; getPassword(): string | null; deletePassword(): boolean })(KEYCHAIN_SERVICE, `difyctl-probe:${host}`, opts);
    const nonce = `probe-${Date.now()}`;
    e.setPassword(nonce);
    const back = e.getPassword();
    e.deletePassword();
    if (back !== nonce) failure = "read-back mismatch";
  } catch (err) {
    failure = String((err as Error).message ?? err).split("\n")[0].slice(0, 160);
  }
  if (!failure) return { kind: "keychain", notices: [] };
  if (policy === "keychain") {
    throw new CliError("keyring_unavailable", `DIFY_TOKEN_STORAGE=keychain but the OS keychain is unusable (${failure})`, {
      hint: "unlock the keychain or start a Secret Service, or use DIFY_TOKEN_STORAGE=file",
    });
  }
  return { kind: "file", notices: [`info: OS keychain unavailable; token will be stored in ${tokensPath} (0600).`] };
}

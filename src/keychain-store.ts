import { CliError } from "./errors.ts";
import type { StoredCredential, TokenStore } from "./token-store.ts";

export const KEYCHAIN_SERVICE = "difyctl";

type EntryCtor = new (service: string, account: string, opts?: unknown) => {
  getPassword(): string | null | undefined;
  setPassword(p: string): void;
  deletePassword(): boolean;
};

async function loadEntry(): Promise<EntryCtor> {
  try {
    const mod = await import("@napi-rs/keyring");
    return mod.Entry as unknown as EntryCtor;
  } catch (e) {
    throw new CliError("keyring_unavailable", `the OS keychain library could not load (${String((e as Error).message).split("\n")[0].slice(0, 160)})`, {
      hint: "if $TMPDIR is mounted noexec, set TMPDIR to an executable directory; or use DIFY_TOKEN_STORAGE=file",
    });
  }
}

function entryOptions(): unknown {
  // Pin the Secret Service on Linux: the library's default silently falls back to kernel keyutils.
  return process.platform === "linux" ? { linux: { store: "secret-service" } } : undefined;
}

export class KeychainTokenStore implements TokenStore {
  readonly kind = "keychain" as const;

  private async entry(host: string) {
    const Entry = await loadEntry();
    try {
      return new Entry(KEYCHAIN_SERVICE, host, entryOptions());
    } catch (e) {
      throw new CliError("keyring_unavailable", `the OS keychain is unavailable (${String((e as Error).message).slice(0, 160)})`, { hint: "unlock the keychain and retry, or use DIFY_TOKEN_STORAGE=file" });
    }
  }

  async get(host: string, tokenId: string): Promise<StoredCredential | null> {
    const e = await this.entry(host);
    let raw: string | null | undefined;
    try { raw = e.getPassword(); } catch (err) {
      throw new CliError("keyring_unavailable", `cannot read the OS keychain (${String((err as Error).message).slice(0, 160)})`, { hint: "unlock the keychain and retry" });
    }
    if (!raw) return null;
    try {
      const blob = JSON.parse(raw) as StoredCredential;
      if (typeof blob.bearer !== "string" || blob.token_id !== tokenId) return null;
      return blob;
    } catch { return null; }
  }

  async put(host: string, cred: StoredCredential): Promise<void> {
    const e = await this.entry(host);
    try { e.setPassword(JSON.stringify(cred)); } catch (err) {
      throw new CliError("keyring_unavailable", `cannot write to the OS keychain (${String((err as Error).message).slice(0, 160)})`, { hint: "unlock the keychain, or use --no-keyring" });
    }
  }

  async prune(host: string, keep: { host: string; tokenId: string } | null): Promise<void> {
    if (keep && keep.host === host) return;
    const e = await this.entry(host);
    try { e.deletePassword(); } catch { /* nothing stored */ }
  }
}

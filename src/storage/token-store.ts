import type { ConfigStore } from "./config-store.ts";
import type { TokenStorage } from "./hosts-file.ts";

/** The credential blob kept in the keychain; the file store keeps the same fields. */
export interface StoredCredential {
  bearer: string;
  source: "oauth";
  token_id: string;
  expires_at: string | null;
}

/**
 * Where the bearer lives. hosts.yml is the commit point of every change: `put` runs before the
 * metadata names the new token, `prune` after it, so a crash in between keeps the old session.
 */
export interface TokenStore {
  readonly kind: TokenStorage;
  get(host: string, tokenId: string): Promise<StoredCredential | null>;
  put(host: string, cred: StoredCredential): Promise<void>;
  /** With `keep`: drop every other credential of this store. Without: drop `host`'s credentials. */
  prune(host: string, keep: { host: string; tokenId: string } | null): Promise<void>;
}

export class FileTokenStore implements TokenStore {
  readonly kind = "file" as const;
  constructor(private readonly config: ConfigStore) {}

  async get(host: string, tokenId: string): Promise<StoredCredential | null> {
    const e = (await this.config.readTokensAsync()).tokens[tokenId];
    if (!e || e.host !== host) return null;
    return { bearer: e.bearer, source: "oauth", token_id: tokenId, expires_at: e.expires_at };
  }

  async put(host: string, cred: StoredCredential): Promise<void> {
    const t = this.config.readTokens();
    t.tokens[cred.token_id] = { host, bearer: cred.bearer, expires_at: cred.expires_at };
    this.config.writeTokens(t);
  }

  /** With `keep`: only that entry survives (single active session). Without: `host`'s entries go. */
  async prune(host: string, keep: { host: string; tokenId: string } | null): Promise<void> {
    const t = this.config.readTokens();
    const kept: typeof t.tokens = {};
    for (const [id, e] of Object.entries(t.tokens)) {
      const survives = keep ? id === keep.tokenId && e.host === keep.host : e.host !== host;
      if (survives) kept[id] = e;
    }
    if (Object.keys(kept).length === Object.keys(t.tokens).length) return;
    this.config.writeTokens({ tokens: kept });
  }
}

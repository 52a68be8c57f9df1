// Device-flow state (the server's Redis keys) and the oauth_access_tokens table.

import type { Account, SsoSubject } from "./fixtures";
import { newUuid, sha256Hex, tokenUrlsafe } from "./util";

export const ACCOUNT_ISSUER = "dify:account";

export type DeviceStatus = "pending" | "approved" | "denied";

export interface DeviceState {
  deviceCode: string;
  userCode: string;
  clientId: string;
  deviceLabel: string;
  status: DeviceStatus;
  createdAt: number;
  createdIp: string;
  expiresAt: number;
  subjectEmail: string | null;
  accountId: string | null;
  subjectIssuer: string | null;
  tokenId: string | null;
  pollPayload: Record<string, unknown> | null;
}

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

/** In-memory TTL store standing in for Redis. All reads take `now` from the injected clock. */
export class DeviceStore {
  private states = new Map<string, DeviceState>();
  private userCodes = new Map<string, Expiring<string>>();
  private lastPoll = new Map<string, Expiring<number>>();
  /** polls seen per device code (for autoApprove / autoDeny afterPolls) */
  readonly pollCounts = new Map<string, number>();

  getState(dc: string, now: number): DeviceState | undefined {
    const s = this.states.get(dc);
    if (s && s.expiresAt <= now) {
      this.states.delete(dc);
      return undefined;
    }
    return s;
  }

  allStates(now: number): DeviceState[] {
    return [...this.states.keys()].map((k) => this.getState(k, now)).filter((s): s is DeviceState => !!s);
  }

  /** SET user_code:{uc} dc NX EX ttl */
  claimUserCode(uc: string, dc: string, ttlMs: number, now: number): boolean {
    const e = this.userCodes.get(uc);
    if (e && e.expiresAt > now) return false;
    this.userCodes.set(uc, { value: dc, expiresAt: now + ttlMs });
    return true;
  }

  deviceCodeFor(uc: string, now: number): string | undefined {
    const e = this.userCodes.get(uc);
    if (!e) return undefined;
    if (e.expiresAt <= now) {
      this.userCodes.delete(uc);
      return undefined;
    }
    return e.value;
  }

  putState(s: DeviceState): void {
    this.states.set(s.deviceCode, s);
  }

  /** Read and overwrite last_poll; returns the previous value (if still live). */
  recordPoll(dc: string, now: number, ttlMs: number): number | undefined {
    const prev = this.lastPoll.get(dc);
    this.lastPoll.set(dc, { value: now, expiresAt: now + ttlMs });
    return prev && prev.expiresAt > now ? prev.value : undefined;
  }

  /** The Lua consume: GET, check status is not pending, DEL both keys. Synchronous = atomic. */
  consume(dc: string, now: number): DeviceState | undefined {
    const s = this.getState(dc, now);
    if (!s || s.status === "pending") return undefined;
    this.states.delete(dc);
    this.userCodes.delete(s.userCode);
    return s;
  }

  bumpPolls(dc: string): number {
    const n = (this.pollCounts.get(dc) ?? 0) + 1;
    this.pollCounts.set(dc, n);
    return n;
  }
}

export interface TokenRow {
  id: string;
  subjectEmail: string;
  subjectIssuer: string;
  accountId: string | null;
  clientId: string;
  deviceLabel: string;
  prefix: "dfoa_" | "dfoe_";
  /** sha256 hex of the full token; null once revoked/hard-expired. Plaintext is never stored. */
  tokenHash: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number;
  revokedAt: number | null;
  /** insertion sequence, used as a tie-breaker for ordering */
  seq: number;
}

export type Subject = { kind: "account"; account: Account } | { kind: "sso"; sso: SsoSubject };

export class TokenStore {
  readonly rows: TokenRow[] = [];
  private seq = 0;

  /**
   * Mint a token for `subject` and apply rotation on (subject_email, subject_issuer, client_id,
   * device_label). june: revoke the prior live row and insert a new one (new id);
   * v1.0: update the prior row in place (same id).
   */
  mint(
    subject: Subject,
    clientId: string,
    deviceLabel: string,
    now: number,
    ttlMs: number,
    rotation: "june" | "v1.0",
  ): { token: string; row: TokenRow } {
    const prefix = subject.kind === "account" ? "dfoa_" : "dfoe_";
    const token = prefix + tokenUrlsafe(32);
    const tokenHash = sha256Hex(token);
    const email = subject.kind === "account" ? subject.account.email : subject.sso.email;
    const issuer = subject.kind === "account" ? ACCOUNT_ISSUER : subject.sso.issuer;
    const accountId = subject.kind === "account" ? subject.account.id : null;
    const prior = this.rows.find(
      (r) =>
        r.revokedAt === null &&
        r.subjectEmail === email &&
        r.subjectIssuer === issuer &&
        r.clientId === clientId &&
        r.deviceLabel === deviceLabel,
    );
    if (prior && rotation === "v1.0") {
      Object.assign(prior, { tokenHash, prefix, accountId, expiresAt: now + ttlMs, createdAt: now, lastUsedAt: null, seq: ++this.seq });
      return { token, row: prior };
    }
    if (prior) prior.revokedAt = now; // june: token_hash kept, row no longer live
    const row: TokenRow = {
      id: newUuid(),
      subjectEmail: email,
      subjectIssuer: issuer,
      accountId,
      clientId,
      deviceLabel,
      prefix,
      tokenHash,
      createdAt: now,
      lastUsedAt: null,
      expiresAt: now + ttlMs,
      revokedAt: null,
      seq: ++this.seq,
    };
    this.rows.push(row);
    return { token, row };
  }

  /** `token_hash = ? AND revoked_at IS NULL` */
  findLiveByHash(hash: string): TokenRow | undefined {
    return this.rows.find((r) => r.tokenHash === hash && r.revokedAt === null);
  }

  byId(id: string): TokenRow | undefined {
    return this.rows.find((r) => r.id === id);
  }

  revoke(row: TokenRow, now: number): void {
    if (row.revokedAt === null) row.revokedAt = now;
    row.tokenHash = null;
  }
}

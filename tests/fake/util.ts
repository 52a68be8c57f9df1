// Small helpers shared by the fake Dify server modules.

export const USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXY3456789";
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Python `secrets.token_urlsafe(n)`: n random bytes, base64url without padding. */
export function tokenUrlsafe(nBytes: number): string {
  const bytes = new Uint8Array(nBytes);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString("base64url");
}

export function sha256Hex(s: string): string {
  return new Bun.CryptoHasher("sha256").update(s).digest("hex");
}

/** `XXXX-XXXX` from the 30-character alphabet (rejection sampling, no modulo bias). */
export function newUserCode(): string {
  const out: string[] = [];
  const buf = new Uint8Array(1);
  while (out.length < 8) {
    crypto.getRandomValues(buf);
    const b = buf[0]!;
    if (b >= 240) continue; // 240 = 8 * 30
    out.push(USER_CODE_ALPHABET[b % 30]!);
  }
  return `${out.slice(0, 4).join("")}-${out.slice(4).join("")}`;
}

export function isUuid(s: unknown): boolean {
  return typeof s === "string" && UUID_RE.test(s);
}

export function newUuid(): string {
  return Bun.randomUUIDv7();
}

/**
 * Python `datetime.isoformat()` for an aware UTC datetime: microsecond precision, fraction
 * omitted when it is zero. `suffix` "+00:00" (poll payload) or "Z" (sessions list).
 */
export function pyIso(ms: number, suffix: "+00:00" | "Z" = "+00:00"): string {
  const whole = Math.floor(ms);
  const base = new Date(whole).toISOString().slice(0, 19);
  const micro = (((whole % 1000) + 1000) % 1000) * 1000;
  const frac = micro === 0 ? "" : `.${String(micro).padStart(6, "0")}`;
  return `${base}${frac}${suffix}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Clock {
  private offset = 0;
  constructor(private readonly base: () => number = Date.now) {}
  /** Milliseconds since the epoch as the server sees them (real time + offset). */
  now(): number {
    return this.base() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
  /** Jump to an absolute epoch-ms value (real time keeps flowing from there). */
  set(ms: number): void {
    this.offset = ms - this.base();
  }
}

/** Sliding-window limiter (libs/helper.py::RateLimiter): refused calls are not counted. */
export class SlidingWindowLimiter {
  private hits = new Map<string, number[]>();
  hit(key: string, limit: number, windowMs: number, now: number): { ok: true } | { ok: false; retryAfterSec: number } {
    if (!(limit > 0)) return { ok: true };
    const arr = (this.hits.get(key) ?? []).filter((t) => t > now - windowMs);
    if (arr.length >= limit) {
      this.hits.set(key, arr);
      const retryAfterSec = Math.max(1, Math.ceil((arr[0]! + windowMs - now) / 1000));
      return { ok: false, retryAfterSec };
    }
    arr.push(now);
    this.hits.set(key, arr);
    return { ok: true };
  }
  reset(): void {
    this.hits.clear();
  }
}

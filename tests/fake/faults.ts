// Fault injection: rules consumed in order before normal routing.

export type FaultRespond =
  | { status: number; body?: unknown; headers?: Record<string, string>; rawBody?: string }
  /** destroy the connection without sending a byte */
  | "drop"
  /** never respond (until the client aborts or the server closes) */
  | "hang"
  /** wait, then route the request normally */
  | { delayMs: number }
  /** 200 text/event-stream made of these raw chunks; `thenDrop` resets the socket after the last one */
  | { sse: string[]; chunkDelayMs?: number; status?: number; headers?: Record<string, string>; thenDrop?: boolean };

export interface FaultMatch {
  method?: string;
  /**
   * String: prefix of the path. RegExp: tested against the path. Both are tried against the full
   * path (`/openapi/v1/oauth/device/token`) and the path without `/openapi/v1`
   * (`/oauth/device/token`).
   */
  path?: string | RegExp;
  /** Substring of the request body: picks one client's requests, e.g. the polls of one device code. */
  bodyIncludes?: string;
}

export interface FaultRule {
  match?: FaultMatch;
  /** how many requests this rule answers; default 1; Infinity or -1 = forever */
  times?: number;
  respond: FaultRespond;
}

interface LiveRule {
  rule: FaultRule;
  remaining: number;
}

const API_PREFIX = "/openapi/v1";

function pathMatches(p: string | RegExp | undefined, path: string): boolean {
  if (p === undefined) return true;
  const short = path.startsWith(API_PREFIX) ? path.slice(API_PREFIX.length) || "/" : null;
  if (typeof p === "string") return path.startsWith(p) || (short !== null && short.startsWith(p));
  p.lastIndex = 0;
  if (p.test(path)) return true;
  p.lastIndex = 0;
  return short !== null && p.test(short);
}

export class FaultQueue {
  /** Mimic the June bug: an unknown-prefix / revoked / unknown bearer gives 500 instead of 401. */
  invalidBearer500 = false;
  private live: LiveRule[] = [];

  add(rule: FaultRule): this {
    const t = rule.times;
    const remaining = t === undefined ? 1 : t < 0 ? Infinity : t;
    if (remaining > 0) this.live.push({ rule, remaining });
    return this;
  }

  /** Alias of add(). */
  push(rule: FaultRule): this {
    return this.add(rule);
  }

  clear(): void {
    this.live = [];
    this.invalidBearer500 = false;
  }

  /** Rules still armed, in order, with how many uses they have left. */
  list(): { rule: FaultRule; remaining: number }[] {
    return this.live.map((l) => ({ rule: l.rule, remaining: l.remaining }));
  }

  get size(): number {
    return this.live.length;
  }

  /** Consume and return the first matching rule's response, or null. */
  take(method: string, path: string, body = ""): FaultRespond | null {
    for (let i = 0; i < this.live.length; i++) {
      const l = this.live[i]!;
      const m = l.rule.match ?? {};
      if (m.method && m.method.toUpperCase() !== method.toUpperCase()) continue;
      if (!pathMatches(m.path, path)) continue;
      if (m.bodyIncludes !== undefined && !body.includes(m.bodyIncludes)) continue;
      l.remaining -= 1;
      if (l.remaining <= 0) this.live.splice(i, 1);
      return l.rule.respond;
    }
    return null;
  }
}

/** Build a rule from JSON (the /__test__/fault HTTP route): `pathRegex` becomes a RegExp. */
export function ruleFromJson(raw: unknown): FaultRule {
  const r = (raw && typeof raw === "object" && "rule" in (raw as object) ? (raw as { rule: unknown }).rule : raw) as Record<string, unknown>;
  if (!r || typeof r !== "object" || !("respond" in r)) throw new Error("fault rule needs `respond`");
  const m = (r.match ?? {}) as Record<string, unknown>;
  const match: FaultMatch = {};
  if (typeof m.method === "string") match.method = m.method;
  if (typeof m.pathRegex === "string") match.path = new RegExp(m.pathRegex);
  else if (typeof m.path === "string") match.path = m.path;
  if (typeof m.bodyIncludes === "string") match.bodyIncludes = m.bodyIncludes;
  return { match, times: typeof r.times === "number" ? r.times : undefined, respond: r.respond as FaultRespond };
}

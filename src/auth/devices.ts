// Pure logic of `auth devices`: reading the sessions pages, resolving a target, and the table.
import { CliError } from "../cli/errors.ts";
import { relativeTime, shortDate } from "../ui/relative-time.ts";
import { sanitize } from "../ui/sanitize.ts";
import { type Column, renderColumns, type TableLayout } from "../ui/table.ts";

/** One row of GET /account/sessions. */
export interface DeviceSession {
  id: string;
  prefix: string | null;
  client_id: string | null;
  device_label: string;
  created_at: string | null;
  last_used_at: string | null;
  expires_at: string | null;
}

export interface SessionsPage { rows: DeviceSession[]; hasMore: boolean }

const strOrNull = (v: unknown): string | null => (typeof v === "string" ? v : null);

export function parseSessionsPage(body: unknown, limit: number): SessionsPage {
  const o = body as Record<string, unknown> | null;
  // A row that is not an object (null, a number) is a broken answer, not one to skip quietly.
  if (!o || typeof o !== "object" || !Array.isArray(o.data) || !o.data.every((r) => typeof r === "object" && r !== null && !Array.isArray(r))) {
    throw new CliError("unknown", "the server's session list is not in the expected format", { hint: "check that the host is a Dify server" });
  }
  const rows: DeviceSession[] = [];
  for (const r of o.data as unknown[]) {
    const x = r as Record<string, unknown> | null;
    // A row without an id can be neither marked current nor revoked.
    if (!x || typeof x !== "object" || typeof x.id !== "string" || !x.id) continue;
    rows.push({
      id: x.id, prefix: strOrNull(x.prefix), client_id: strOrNull(x.client_id), device_label: strOrNull(x.device_label) ?? "",
      created_at: strOrNull(x.created_at), last_used_at: strOrNull(x.last_used_at), expires_at: strOrNull(x.expires_at),
    });
  }
  const hasMore = typeof o.has_more === "boolean" ? o.has_more : (o.data as unknown[]).length >= limit;
  return { rows, hasMore: hasMore && (o.data as unknown[]).length > 0 };
}

/** Labels come from other machines' hostnames: no control or bidi characters reach the terminal. */
export function safeLabel(label: string): string {
  const clean = sanitize(label, { replacement: "?" }).replace(/[\t\n]/g, "?");
  return clean === "" ? "(no label)" : clean;
}

export type Resolution =
  | { kind: "one"; session: DeviceSession }
  | { kind: "ambiguous"; candidates: DeviceSession[] }
  | { kind: "none" };

/** Exact device_label → id → unique case-insensitive substring of the label. */
export function resolveDevice(sessions: DeviceSession[], target: string): Resolution {
  const exact = sessions.filter((s) => s.device_label === target);
  if (exact.length === 1) return { kind: "one", session: exact[0] };
  // Two live sessions can share a label (another client_id): only the id can tell them apart.
  if (exact.length > 1) return { kind: "ambiguous", candidates: exact };
  const t = target.trim().toLowerCase();
  if (!t) return { kind: "none" };
  const byId = sessions.find((s) => s.id.toLowerCase() === t);
  if (byId) return { kind: "one", session: byId };
  const sub = sessions.filter((s) => s.device_label.toLowerCase().includes(t));
  if (sub.length === 1) return { kind: "one", session: sub[0] };
  if (sub.length > 1) return { kind: "ambiguous", candidates: sub };
  return { kind: "none" };
}

const MAX_LISTED = 10;

/** `"difyctl on a" (id), …` for an error message; long lists are cut. */
export function describeCandidates(list: DeviceSession[]): string {
  const shown = list.slice(0, MAX_LISTED).map((s) => `"${safeLabel(s.device_label)}" (${s.id})`);
  if (list.length > MAX_LISTED) shown.push(`and ${list.length - MAX_LISTED} more`);
  return shown.join(", ");
}

export function resolutionError(target: string, r: Resolution, all: DeviceSession[]): CliError {
  const shown = safeLabel(target).slice(0, 100);
  const candidates = r.kind === "ambiguous" ? r.candidates : all;
  const details = { candidates: candidates.slice(0, 50).map((s) => ({ id: s.id, device_label: s.device_label })) };
  if (r.kind === "ambiguous") {
    return new CliError("usage_invalid_flag", `'${shown}' matches ${r.candidates.length} sessions: ${describeCandidates(r.candidates)}`, {
      hint: "pass the exact device label or the session id", details,
    });
  }
  const list = all.length ? `; sessions: ${describeCandidates(all)}` : "; there are no active sessions";
  return new CliError("usage_invalid_flag", `no session matches '${shown}'${list}`, {
    hint: "run 'difyctl auth devices list' to see device labels and ids", details,
  });
}

export interface TableOptions {
  currentId: string | null;
  /** The clock: LAST USED is relative to it ("5m ago"). */
  now: number;
  /** A terminal (fitted to its width) or a pipe (tab-separated); default: an unbounded terminal. */
  layout?: TableLayout;
}

// DEVICE gives way first on a narrow terminal, then CREATED goes; the id stays whole (revoke takes it).
const DEVICE_COLUMNS: Column[] = [
  { header: "DEVICE", shrink: true, min: 12 },
  { header: "ID" },
  { header: "CREATED", drop: 1 },
  { header: "LAST USED" },
  { header: "CURRENT" },
];

export function devicesTable(sessions: DeviceSession[], o: TableOptions): string {
  const rows = sessions.map((s) => [
    safeLabel(s.device_label),
    s.id,
    shortDate(s.created_at),
    relativeTime(s.last_used_at, o.now),
    o.currentId !== null && s.id === o.currentId ? "*" : "",
  ]);
  return renderColumns(DEVICE_COLUMNS, rows, o.layout ?? { tty: true, width: Infinity });
}

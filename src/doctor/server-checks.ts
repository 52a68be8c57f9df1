// The doctor's checks of the server: reachable as a Dify API, in a supported version, and a
// clock in step with it (certificate checks and expiry times depend on it). Unauthenticated GETs only.
import type { Ctx } from "../cli/context.ts";
import { CliError } from "../cli/errors.ts";
import { type HostRef, hostRefFromStored, normalizeHost } from "../http/host-url.ts";
import { envSession } from "../auth/session.ts";
import type { Check, Env, Status } from "./check.ts";
import type { LocalState } from "./local-checks.ts";

export function targetHost(env: Env, flag: string | undefined, local: LocalState): HostRef | null {
  if (flag) return normalizeHost(flag, { insecure: true });
  try { const es = envSession(env); if (es) return es.hostRef; } catch { /* reported by env */ }
  const m = local.meta ?? {};
  if (m.current_host) return hostRefFromStored(m.current_host, m.scheme);
  if (m.last_host) return hostRefFromStored(m.last_host, m.scheme);
  return null;
}

export function skewCheck(serverDate: string | null, sentAt: number, receivedAt: number): Check {
  const title = "clock";
  const parsed = serverDate ? Date.parse(serverDate) : NaN;
  if (Number.isNaN(parsed)) return { id: "clock", title, status: "warn", message: "the server sent no usable Date header; clock skew unknown" };
  // The Date header has 1 s resolution: up to a second of difference is noise.
  const skewMs = Math.round((sentAt + receivedAt) / 2) - parsed;
  const abs = Math.max(0, Math.abs(skewMs) - 1000);
  const s = Math.round(skewMs / 1000);
  const human = Math.abs(s) >= 120 ? `${Math.round(Math.abs(s) / 60)} min` : `${Math.abs(s)} s`;
  const data = { skew_seconds: s };
  const dir = skewMs > 0 ? "ahead of" : "behind";
  if (abs <= 30_000) return { id: "clock", title, status: "pass", message: `in step with the server (${s === 0 ? "< 1 s" : `${human} ${dir}`})`, data };
  const status: Status = abs <= 10 * 60_000 ? "warn" : "fail";
  return {
    id: "clock", title, status, message: `this machine's clock is ${human} ${dir} the server's; certificate checks and expiry times go wrong`,
    hint: "turn on time sync (e.g. 'timedatectl set-ntp true') or fix the clock", data,
  };
}

export async function checkServer(ctx: Pick<Ctx, "http">, ref: HostRef | null, signal: AbortSignal | undefined): Promise<Check[]> {
  if (!ref) {
    return [{ id: "server", title: "server", status: "warn", message: "no host to check (not logged in)", hint: "pass --host https://your-dify-host" }];
  }
  const http = ctx.http({ baseUrl: ref.baseUrl, timeoutMs: 5000, signal });
  const out: Check[] = [];
  const sent = Date.now();
  let res;
  try {
    res = await http.get<Record<string, unknown>>("/_health", { retry: false, acceptStatus: [400, 401, 403, 404, 405] });
  } catch (e) {
    const ce = e instanceof CliError ? e : new CliError("unknown", String(e));
    out.push({ id: "server", title: "server", status: "fail", message: `${ref.baseUrl}: ${ce.message}`, hint: ce.hint ?? "check the host URL and the network", data: { host: ref.host, error: ce.code } });
    return out;
  }
  const received = Date.now();
  const data = { host: ref.host, http_status: res.status, latency_ms: received - sent };
  if (res.status !== 200) {
    out.push({ id: "server", title: "server", status: "fail", message: `${ref.baseUrl} answers, but not as a Dify API (GET /openapi/v1/_health → HTTP ${res.status})`, hint: "use the API address of your Dify deployment for --host", data });
  } else {
    out.push({ id: "server", title: "server", status: ref.scheme === "http" ? "warn" : "pass", message: `${ref.baseUrl} is reachable (${received - sent} ms)${ref.scheme === "http" ? "; plain http: tokens travel unencrypted" : ""}`, hint: ref.scheme === "http" ? "use https:// outside local development" : undefined, data });
  }
  out.push(skewCheck(res.headers.get("date"), sent, received));
  try {
    const v = await http.get<Record<string, unknown>>("/_version", { retry: false, acceptStatus: [404] });
    if (v.status === 404) {
      out.push({ id: "server_version", title: "server version", status: "warn", message: "the server has no /_version (an older Dify); compatibility unknown", hint: "upgrade the Dify server" });
    } else {
      const version = typeof v.body?.version === "string" ? v.body.version : "";
      const edition = typeof v.body?.edition === "string" ? ` (${v.body.edition})` : "";
      const { inSupportedRange, describeRange } = await import("../http/compat.ts");
      const ok = version ? inSupportedRange(version) : null;
      const vdata = { version: version || null, edition: v.body?.edition ?? null, supported_range: describeRange() };
      if (ok === true) out.push({ id: "server_version", title: "server version", status: "pass", message: `Dify ${version}${edition}`, data: vdata });
      else if (ok === false) out.push({ id: "server_version", title: "server version", status: "fail", message: `Dify ${version}${edition} is outside the supported range ${describeRange()}`, hint: "upgrade the server or difyctl", data: vdata });
      else out.push({ id: "server_version", title: "server version", status: "warn", message: `unreadable version '${version.slice(0, 40)}'`, data: vdata });
    }
  } catch (e) {
    out.push({ id: "server_version", title: "server version", status: "warn", message: `GET /_version failed: ${(e as Error).message}` });
  }
  return out;
}

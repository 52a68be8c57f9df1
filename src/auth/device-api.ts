import { CliError } from "../cli/errors.ts";
import { deviceExpiresIn, deviceInterval, type PollOutcome } from "./device-poller.ts";
import { type HttpClient, parseErrorBody } from "../http/http-client.ts";
import { echoInput } from "../ui/sanitize.ts";

export const CLIENT_ID = "difyctl";

export interface DeviceCode {
  device_code: string;
  user_code: string;
  verification_uri: string;
  expires_in: number;
  interval: number;
}

/** Answers that mean the device flow is not served here: no such route, no such method, not implemented. */
const NO_DEVICE_FLOW_STATUS = [404, 405, 501];

/**
 * The host answered the device flow, but not as Dify does: a web page, a 404 or a 501. Most often
 * the URL points at something else (a marketing site, a proxy's error page, another service).
 */
export function notDifyServer(http: HttpClient, path: string, status: number, html = false): CliError {
  const host = (() => { try { return new URL(http.baseUrl).host; } catch { return "the host"; } })();
  return new CliError("unsupported_endpoint", `${host} does not look like a Dify server: it does not implement the OAuth device flow (POST ${path} answered ${html ? "with a web page" : `HTTP ${status}`})`, {
    hint: "check the host URL: it is the address of your Dify server (where its web console is); a Dify too old for difyctl has no device flow either",
    httpStatus: status,
  });
}

/** POST /oauth/device/code, with the server's failure modes (no device flow, rate limit, refusal) mapped to CLI errors. */
export async function requestDeviceCode(http: HttpClient, deviceLabel: string, signal?: AbortSignal): Promise<DeviceCode> {
  const path = "/openapi/v1/oauth/device/code";
  const res = await http.post<Record<string, unknown>>("/oauth/device/code", { client_id: CLIENT_ID, device_label: deviceLabel }, {
    retry: false, acceptStatus: [400, 429, ...NO_DEVICE_FLOW_STATUS], signal,
  }).catch((e) => {
    // A 2xx that is not JSON: a web page answering every path.
    if (e instanceof CliError && e.code === "unknown" && e.httpStatus !== undefined && e.httpStatus < 300) throw notDifyServer(http, path, e.httpStatus, true);
    throw e;
  });
  if (NO_DEVICE_FLOW_STATUS.includes(res.status)) throw notDifyServer(http, path, res.status);
  if (res.status === 429) {
    throw new CliError("rate_limited", "too many sign-in attempts from this address", { hint: "wait a while (the server allows 60 an hour) and try again", httpStatus: 429 });
  }
  const b = res.body ?? {};
  if (res.status === 400) {
    const code = typeof b.error === "string" ? b.error : typeof b.code === "string" ? b.code : "bad_request";
    throw new CliError("server_4xx_other", `the server refused to start the sign-in (${sanitizeCode(code)})`, { httpStatus: 400 });
  }
  const str = (k: string) => (typeof b[k] === "string" && (b[k] as string).length > 0 && (b[k] as string).length < 4096 ? (b[k] as string) : null);
  const device_code = str("device_code");
  const user_code = str("user_code");
  const verification_uri = str("verification_uri");
  const missing = [!device_code && "device_code", !user_code && "user_code", !verification_uri && "verification_uri"].filter(Boolean);
  if (missing.length) {
    throw new CliError("unknown", `the server's device-code response is missing ${missing.join(", ")}`, { hint: "check that --host points at a Dify server" });
  }
  if (!/^[A-Za-z0-9-]{1,32}$/.test(user_code!)) throw new CliError("unknown", "the server sent a malformed user code");
  return {
    device_code: device_code!, user_code: user_code!, verification_uri: verification_uri!,
    expires_in: deviceExpiresIn(b.expires_in), interval: deviceInterval(b.interval),
  };
}

/**
 * The device page with the code filled in: Dify sends no `verification_uri_complete`, and its
 * page pre-fills the code from `?user_code=`. What is opened, shown as a QR code and relayed.
 */
export function completeUrl(verificationUri: string | URL, userCode: string): string {
  const u = new URL(verificationUri.toString());
  u.searchParams.set("user_code", userCode);
  return u.toString();
}

function sanitizeCode(s: string): string {
  return echoInput(s, 64);
}

/** POST /oauth/device/token once. Transport and 5xx failures throw (the poller retries them). */
export async function pollDeviceToken(http: HttpClient, deviceCode: string, signal?: AbortSignal): Promise<PollOutcome> {
  const res = await http.post<Record<string, unknown>>("/oauth/device/token", { device_code: deviceCode, client_id: CLIENT_ID }, {
    retry: false, acceptStatus: [400, 403, 409, 422, ...NO_DEVICE_FLOW_STATUS], signal,
  });
  const b = (res.body ?? {}) as Record<string, unknown>;
  if (NO_DEVICE_FLOW_STATUS.includes(res.status)) throw notDifyServer(http, "/openapi/v1/oauth/device/token", res.status);
  if (res.status === 200) {
    if (typeof b.token !== "string" || !b.token) throw new CliError("unknown", "the server approved the sign-in but sent no token", { httpStatus: 200 });
    return { kind: "token", payload: b };
  }
  const err = typeof b.error === "string" ? b.error : null;
  switch (err) {
    case "authorization_pending": return { kind: "pending" };
    case "slow_down": return { kind: "slow_down", interval: typeof b.interval === "number" ? b.interval : undefined };
    case "expired_token": return { kind: "expired" };
    case "access_denied": return { kind: "denied" };
    case null: {
      const se = parseErrorBody(JSON.stringify(b));
      return { kind: "unknown_error", error: sanitizeCode(se.code ?? `HTTP ${res.status}`) };
    }
    default: return { kind: "unknown_error", error: sanitizeCode(err) };
  }
}

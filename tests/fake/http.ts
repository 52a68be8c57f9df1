// Response builders for the four error-body families the real server uses.

export const ANTI_FRAMING: Record<string, string> = {
  "X-Frame-Options": "DENY",
  "Content-Security-Policy": "frame-ancestors 'none'",
};

export interface ValidationDetail {
  type: string;
  loc: (string | number)[];
  msg: string;
}

const DEFAULT_CODES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "request_entity_too_large",
  415: "unsupported_media_type",
  422: "invalid_param",
  429: "too_many_requests",
  500: "internal_server_error",
  502: "bad_gateway",
};

export const NOT_FOUND_MESSAGE =
  "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";
export const TOO_MANY_REQUESTS_MESSAGE =
  "This user has exceeded an allotted request count. Try again later.";

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

/** RFC-style device-flow error: `{"error": code}` and nothing else. */
export function rfcError(status: number, code: string): Response {
  return json(status, { error: code });
}

/** June `ErrorBody` (#37285). 5xx messages are replaced; 401 gets WWW-Authenticate. */
export function errorBody(
  status: number,
  message?: string,
  extra: { code?: string; hint?: string; details?: ValidationDetail[]; headers?: Record<string, string> } = {},
): Response {
  const code = extra.code ?? DEFAULT_CODES[status] ?? "unknown";
  const body: Record<string, unknown> = {
    code,
    message: status >= 500 ? "Internal Server Error" : (message ?? code),
    status,
  };
  if (extra.hint != null) body.hint = extra.hint;
  if (extra.details != null) body.details = extra.details;
  const headers: Record<string, string> = { ...(extra.headers ?? {}) };
  if (status === 401) headers["WWW-Authenticate"] = 'Bearer realm="api"';
  return json(status, body, headers);
}

export function validationFailed(details: ValidationDetail[]): Response {
  return errorBody(422, "Request validation failed", { details });
}

/** Flask-Login unauthorized handler (browser approve/deny without a console cookie). */
export function flaskLoginUnauthorized(): Response {
  return json(401, { code: "unauthorized", message: "Unauthorized." });
}

export function withHeaders(res: Response, headers: Record<string, string>): Response {
  for (const [k, v] of Object.entries(headers)) {
    if (!res.headers.has(k)) res.headers.set(k, v);
  }
  return res;
}

/** A response whose body errors before the first byte: the socket is reset with nothing sent. */
export function dropResponse(): Response {
  return new Response(
    new ReadableStream({
      pull(c) {
        c.error(undefined);
      },
    }),
  );
}

/**
 * Flask `request.get_json(silent=True) or {}`: only JSON content types are parsed; a parse
 * failure or a falsy value becomes {}. Returns `undefined` when the JSON is a non-object truthy
 * value (e.g. [1]) so callers can fail validation.
 */
export function flaskJson(contentType: string | null, text: string): Record<string, unknown> | undefined {
  const mime = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const isJson = mime === "application/json" || (mime.startsWith("application/") && mime.endsWith("+json"));
  if (!isJson) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return {};
  }
  if (!v) return {};
  if (typeof v !== "object" || Array.isArray(v)) return undefined;
  return v as Record<string, unknown>;
}

/** Pydantic-ish validation of required string fields. */
export function requireStrings(
  body: Record<string, unknown> | undefined,
  fields: string[],
): ValidationDetail[] {
  if (body === undefined) return [{ type: "model_type", loc: [], msg: "Input should be a valid dictionary" }];
  const out: ValidationDetail[] = [];
  for (const f of fields) {
    if (!(f in body)) out.push({ type: "missing", loc: [f], msg: "Field required" });
    else if (typeof body[f] !== "string") out.push({ type: "string_type", loc: [f], msg: "Input should be a valid string" });
  }
  return out;
}

/** The `str(ValidationError)` text pydantic puts in 400 bad_request messages. */
export function pydanticMessage(model: string, details: ValidationDetail[]): string {
  const lines = [`${details.length} validation error${details.length === 1 ? "" : "s"} for ${model}`];
  for (const d of details) lines.push(d.loc.join("."), `  ${d.msg} [type=${d.type}]`);
  return lines.join("\n");
}

/** Parse an int the way pydantic lax mode parses a query string. */
export function parseQueryInt(
  q: URLSearchParams,
  name: string,
  dflt: number,
  min: number,
  max: number | null,
  details: ValidationDetail[],
): number {
  const raw = q.get(name);
  if (raw === null) return dflt;
  const t = raw.trim();
  if (!/^[+-]?\d+$/.test(t)) {
    details.push({ type: "int_parsing", loc: [name], msg: "Input should be a valid integer, unable to parse string as an integer" });
    return dflt;
  }
  const n = Number(t);
  if (n < min) {
    details.push({ type: "greater_than_equal", loc: [name], msg: `Input should be greater than or equal to ${min}` });
  } else if (max !== null && n > max) {
    details.push({ type: "less_than_equal", loc: [name], msg: `Input should be less than or equal to ${max}` });
  }
  return n;
}

export function forbidExtra(q: URLSearchParams, allowed: string[], details: ValidationDetail[]): void {
  const seen = new Set<string>();
  for (const k of q.keys()) {
    if (seen.has(k)) continue;
    seen.add(k);
    if (!allowed.includes(k)) details.push({ type: "extra_forbidden", loc: [k], msg: "Extra inputs are not permitted" });
  }
}

export function clientIp(req: Request, socketIp: string | undefined): string {
  const cf = req.headers.get("cf-connecting-ip");
  if (cf) return cf.trim();
  const xff = req.headers.get("x-forwarded-for");
  if (xff) {
    const first = xff.split(",")[0]!.trim();
    if (first) return first;
  }
  return socketIp ?? "unknown";
}

export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    try {
      out[k] = decodeURIComponent(v);
    } catch {
      out[k] = v;
    }
  }
  return out;
}

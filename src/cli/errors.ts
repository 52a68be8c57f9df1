import { redact } from "../ui/redact.ts";
import { sanitize } from "../ui/sanitize.ts";

// The one table of error codes → process exit codes. The JSON error envelope carries the code,
// the process exits with its status, and help lists the statuses from here.
export const EXIT_CODES = {
  not_logged_in: 4,
  auth_expired: 4,
  expired_token: 4,
  access_denied: 4,
  keyring_unavailable: 4,
  invalid_token_prefix: 4,
  usage_invalid_flag: 2,
  usage_missing_arg: 2,
  usage_unknown_command: 2,
  wrong_surface: 2,
  config_invalid_value: 2,
  version_skew: 6,
  unsupported_endpoint: 6,
  config_schema_unsupported: 6,
  rate_limited: 7,
  /** Another `auth login` holds this config directory (auth/login-lock.ts). */
  login_in_progress: 1,
  network_timeout: 1,
  network_dns: 1,
  network_connection: 1,
  /** The TLS handshake failed: a certificate this machine does not trust, or no TLS on the port. */
  network_tls: 1,
  server_5xx: 1,
  server_4xx_other: 1,
  unknown: 1,
  cancelled: 130,
} as const;

export type ErrorCode = keyof typeof EXIT_CODES;

/**
 * What each exit status means, for help. Keyed by every status in EXIT_CODES (the type makes a
 * new status without a line here a compile error), plus success and "waiting for a person".
 */
export const EXIT_STATUSES: Record<0 | 8 | (typeof EXIT_CODES)[ErrorCode], string> = {
  0: "success",
  1: "error (network, server, unexpected)",
  2: "usage: unknown command or option, missing or bad argument, wrong session kind",
  4: "not signed in, session expired or revoked, keychain unavailable",
  6: "server version or feature not supported",
  7: "rate limited",
  8: "waiting for a person: auth login --resume while sign-in is pending, or a run paused on a human-input form (resume app)",
  130: "cancelled (Ctrl-C)",
};

export interface CliErrorOptions {
  hint?: string;
  httpStatus?: number;
  /** Extra machine-readable fields for the JSON envelope (never secrets). */
  details?: Record<string, unknown>;
}

export class CliError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly httpStatus?: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, opts: CliErrorOptions = {}) {
    super(message);
    this.name = "CliError";
    this.code = code;
    this.hint = opts.hint;
    this.httpStatus = opts.httpStatus;
    this.details = opts.details;
  }

  get exitCode(): number {
    return exitCodeFor(this.code);
  }
}

export function exitCodeFor(code: string): number {
  return (EXIT_CODES as Record<string, number>)[code] ?? 1;
}

/** Anything thrown becomes a CliError; unexpected errors keep a one-line message, never a stack. */
export function toCliError(e: unknown): CliError {
  if (e instanceof CliError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const firstLine = (msg.split("\n")[0] || "unexpected error").slice(0, 500);
  return new CliError("unknown", `unexpected error: ${firstLine}`);
}

function oneLine(s: string): string {
  // Control characters from a hostile server or input never reach the terminal raw.
  return sanitize(redact(s), { oneLine: true, replacement: "?" });
}

export function errorEnvelope(err: CliError): string {
  const body: Record<string, unknown> = { code: err.code, message: oneLine(err.message) };
  if (err.hint) body.hint = oneLine(err.hint);
  if (err.httpStatus !== undefined) body.http_status = err.httpStatus;
  if (err.details) body.details = JSON.parse(redact(JSON.stringify(err.details)));
  return JSON.stringify({ error: body });
}

/** Text for stderr: one JSON line in JSON mode, else `error:` / `hint:` lines. */
export function renderError(err: CliError, json: boolean): string {
  if (json) return errorEnvelope(err) + "\n";
  let out = `error: ${oneLine(err.message)}\n`;
  if (err.hint) out += `hint: ${oneLine(err.hint)}\n`;
  return out;
}

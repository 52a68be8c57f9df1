import { CliError } from "../cli/errors.ts";

export const DEFAULT_HOST_SUGGESTION = "https://cloud.dify.ai";

export interface HostRef {
  /** scheme://host[:port][/path], no trailing slash: what requests are built on. */
  baseUrl: string;
  /** host[:port][/path] without scheme: the hosts.yml `current_host` and the keychain account. */
  host: string;
  scheme: "http" | "https";
}

function usage(message: string, hint?: string): CliError {
  return new CliError("usage_invalid_flag", message, { hint });
}

/** Normalises what a user typed (`dify.internal`, `https://dify.internal/`) into a HostRef. */
export function normalizeHost(input: string, opts: { insecure?: boolean } = {}): HostRef {
  const raw = input.trim();
  if (!raw) throw usage("host is empty", "pass --host https://your-dify-host");
  if (raw.length > 2048) throw usage("host is too long");
  if (/[\u0000-\u0020\u007f-\u009f]/.test(raw)) throw usage("host contains spaces or control characters");
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let u: URL;
  try { u = new URL(withScheme); } catch { throw usage(`not a valid host URL: ${raw.slice(0, 200)}`); }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme !== "https" && scheme !== "http") throw usage(`unsupported URL scheme '${scheme}'; use https://`);
  if (!u.hostname) throw usage(`not a valid host URL: ${raw.slice(0, 200)}`);
  if (u.username || u.password) throw usage("the host URL must not contain credentials", "remove the user:password@ part");
  if (u.hash || withScheme.includes("#")) throw usage("the host URL must not contain a #fragment");
  if (u.search) throw usage("the host URL must not contain a ?query");
  if (scheme === "http" && !opts.insecure) {
    throw usage(`refusing plain-text http:// host ${u.host}`, "use https://, or pass --insecure for local development only");
  }
  const path = u.pathname.replace(/\/+$/, "");
  const host = `${u.host}${path}`.toLowerCase();
  return { baseUrl: `${scheme}://${host}`, host, scheme };
}

/** Rebuilds the HostRef from stored metadata. */
export function hostRefFromStored(host: string, scheme: "http" | "https" = "https"): HostRef {
  return { baseUrl: `${scheme}://${host}`, host, scheme };
}

/** The device page URL is shown to the user and opened: it must be https (or http with --insecure) with a host. */
export function validateVerificationUri(uri: unknown, insecure: boolean): URL {
  let u: URL | null = null;
  try { if (typeof uri === "string" && uri.length < 2048) u = new URL(uri); } catch { u = null; }
  const ok = u && u.hostname && !u.username && !u.password
    && (u.protocol === "https:" || (insecure && u.protocol === "http:"));
  if (!ok) {
    throw new CliError("unknown", "the server sent an invalid verification URL; refusing to show it", {
      hint: "check that --host points at a Dify server",
    });
  }
  return u!;
}

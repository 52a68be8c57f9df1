// A request that got no HTTP answer → an error that says where it failed: DNS, the connection,
// the proxy on the way, or TLS, with the next step for each. Bun's fetch reports these as errors
// with an OpenSSL-style `code`; the proxy and TLS settings it honours come from the environment.
import { CliError } from "../cli/errors.ts";

export type Env = Record<string, string | undefined>;

/** The proxy Bun's fetch uses for `url`, as it reads the environment (lower case first). */
export function proxyFor(url: URL, env: Env): { host: string; variable: string } | null {
  const pick = (...names: string[]) => {
    for (const n of names) if (env[n]?.trim()) return { name: n, value: env[n]!.trim() };
    return null;
  };
  const p = url.protocol === "https:"
    ? pick("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
    : pick("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY");
  if (!p || bypassed(url, pick("no_proxy", "NO_PROXY")?.value ?? "")) return null;
  let host: string;
  try {
    // Only host and port are ever shown: a proxy URL may carry a user name and password.
    host = new URL(p.value.includes("://") ? p.value : `http://${p.value}`).host;
  } catch {
    host = "(unparsable)";
  }
  return { host, variable: p.name };
}

/** NO_PROXY: `*`, or host names (a leading `.` or `*.` allowed) matching the host or a parent domain, with an optional port. */
function bypassed(url: URL, noProxy: string): boolean {
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (const raw of noProxy.split(/[\s,]+/)) {
    let e = raw.trim().toLowerCase();
    if (e === "*") return true;
    if (!e) continue;
    let ePort = "";
    const m = /^(.*):(\d+)$/.exec(e);
    if (m && !m[1].includes(":")) { e = m[1]; ePort = m[2]; }
    e = e.replace(/^\*?\.?/, "").replace(/^\[|\]$/g, "");
    if (ePort && ePort !== port) continue;
    if (host === e || host.endsWith(`.${e}`)) return true;
  }
  return false;
}

/** Certificate checks that failed: the server answered TLS, but this machine does not trust it. */
const CERT_CODE = /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|ERR_TLS_CERT|INVALID_CA|INVALID_PURPOSE|HOSTNAME_MISMATCH|ERR_SSL_|ERR_TLS_)/;

const PRIVATE_CA_HINT = "if your network uses its own certificate authority (a company proxy or a private CA), set NODE_EXTRA_CA_CERTS (or SSL_CERT_FILE) to its PEM file; never turn verification off";

export function transportError(e: unknown, url: string, timedOut: boolean, env: Env): CliError {
  const err = e as { name?: string; code?: string; hostname?: string; message?: string; cause?: { code?: string } };
  const code = err?.code ?? err?.cause?.code ?? "";
  let u: URL | null = null;
  try { u = new URL(url); } catch { /* named "the server" below */ }
  const origin = u?.host ?? "the server";
  const proxy = u ? proxyFor(u, env) : null;
  if (timedOut || err?.name === "TimeoutError" || code === "ETIMEDOUT" || code === "UND_ERR_CONNECT_TIMEOUT") {
    return new CliError("network_timeout", `request to ${origin} timed out${proxy ? ` (through the proxy ${proxy.host})` : ""}`, { hint: "check the network, or the server may be overloaded" });
  }
  if (proxy && code === "ERR_PROXY_TUNNEL") {
    const why = (err.message ?? "").replace(/^.*?:\s*/, "").slice(0, 80);
    return new CliError("network_connection", `the proxy ${proxy.host} (${proxy.variable}) would not connect to ${origin}${why ? ` (${why})` : ""}`, {
      hint: `check that the proxy lets you reach ${origin}, or list the host in NO_PROXY to connect directly`,
    });
  }
  const proxyHost = proxy ? proxy.host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "") : "";
  const dns = code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME";
  // With a proxy in effect the client connects only to the proxy: a refused or unreachable
  // connection, or a name that does not resolve, is the proxy's (Bun names the host it looked up).
  if (proxy && (["ECONNREFUSED", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "ConnectionRefused"].includes(code) || (dns && (!err.hostname || err.hostname === proxyHost)))) {
    return new CliError(dns ? "network_dns" : "network_connection", `cannot reach the proxy ${proxy.host} set in ${proxy.variable} (${code})`, {
      hint: `check ${proxy.variable}, or list ${u!.hostname} in NO_PROXY to connect directly`,
    });
  }
  if (dns) {
    return new CliError("network_dns", `cannot resolve ${origin}`, { hint: "check the host name and your DNS" });
  }
  if (code === "EPROTO" || code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "ERR_SSL_PACKET_LENGTH_TOO_LONG") {
    return new CliError("network_tls", `the TLS handshake with ${origin} failed (${code})`, {
      hint: u?.protocol === "https:" ? `the server may speak plain http:// on this port: check the host URL (http://${origin})` : "check the host URL",
    });
  }
  if (CERT_CODE.test(code)) {
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || code === "HOSTNAME_MISMATCH") {
      return new CliError("network_tls", `the TLS certificate of ${origin} is for another host name (${code})`, { hint: `check the host URL; ${PRIVATE_CA_HINT}` });
    }
    if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") {
      return new CliError("network_tls", `the TLS certificate of ${origin} is ${code === "CERT_HAS_EXPIRED" ? "expired" : "not valid yet"} (${code})`, { hint: "check this machine's clock, or tell the server's administrator" });
    }
    return new CliError("network_tls", `cannot verify the TLS certificate of ${origin} (${code})`, { hint: PRIVATE_CA_HINT });
  }
  return new CliError("network_connection", `cannot reach ${origin}${code ? ` (${code})` : ""}`, { hint: "check the host URL and that the server is up" });
}

/** NODE_TLS_REJECT_UNAUTHORIZED=0 (exactly "0", as Bun reads it) turns certificate checks off for the whole process. */
export function tlsVerificationDisabled(env: Env): boolean {
  return env.NODE_TLS_REJECT_UNAUTHORIZED === "0";
}

export const TLS_DISABLED_WARNING =
  "warning: NODE_TLS_REJECT_UNAUTHORIZED=0 turns off TLS certificate checks: anyone on the network path can read and change this session's traffic, token included; unset it and trust your CA with NODE_EXTRA_CA_CERTS instead";

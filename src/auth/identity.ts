import type { Session } from "./session.ts";

// How a session is described to a human (seed 003 §Status + identity output).
export const SESSION_LINE = {
  account: "Session: Dify account — full access",
  external_sso: "Session: External SSO — can run permitted apps and discover them, cannot access workspace surface",
} as const;

export const SURFACE = {
  account: "apps (dfoa_)",
  external_sso: "permitted-external-apps (external SSO)",
} as const;

export const SSO_SCOPES = "apps:run, apps:read:permitted-external";

export function whoLabel(s: Session): string {
  const m = s.meta;
  if (s.source === "env") return `a ${s.subjectType === "account" ? "dfoa_" : "dfoe_"} token from DIFY_TOKEN`;
  if (s.subjectType === "external_sso") return `${m.external_sso?.email ?? "?"} (via ${m.external_sso?.issuer || "unknown issuer"})`;
  return `${m.account?.email ?? "?"}${m.account?.name ? ` (${m.account.name})` : ""}`;
}

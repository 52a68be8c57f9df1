import type { SubjectType } from "../storage/hosts-file.ts";
import type { Session } from "./session.ts";

/**
 * What each kind of session is and which commands serve it: the token prefix, the server surface
 * it is bound to and the commands that reach that surface. Every place that explains a session or
 * refuses the wrong one (the client-side surface check, the server's unsupported_token_type
 * answer, `auth status`) reads it from here, so they cannot drift apart.
 */
export const SUBJECTS = {
  account: {
    prefix: "dfoa_",
    /** "… is not available to <session>" */
    session: "an account (dfoa_) session",
    surface: "apps (dfoa_)",
    commands: "account sessions use 'difyctl get apps' / 'difyctl run app'",
    line: "Session: Dify account — full access",
  },
  external_sso: {
    prefix: "dfoe_",
    session: "an external SSO (dfoe_) session",
    surface: "permitted-external-apps (external SSO)",
    commands: "external SSO sessions use 'difyctl get permitted-external-apps' / 'difyctl run permitted-external-app'",
    line: "Session: External SSO — can run permitted apps and discover them, cannot access workspace surface",
  },
} as const satisfies Record<SubjectType, { prefix: string; session: string; surface: string; commands: string; line: string }>;

// How a session is described to a human in `auth status`.
export const SESSION_LINE = { account: SUBJECTS.account.line, external_sso: SUBJECTS.external_sso.line } as const;
export const SURFACE = { account: SUBJECTS.account.surface, external_sso: SUBJECTS.external_sso.surface } as const;

export const SSO_SCOPES = "apps:run, apps:read:permitted-external";

/** The session a request was refused for, or both kinds when it is not known. */
export function commandsFor(subject: SubjectType | undefined): string {
  return subject ? SUBJECTS[subject].commands : `${SUBJECTS.account.commands}; ${SUBJECTS.external_sso.commands}`;
}

export function whoLabel(s: Session): string {
  const m = s.meta;
  if (s.source === "env") return `a ${SUBJECTS[s.subjectType].prefix} token from DIFY_TOKEN`;
  if (s.subjectType === "external_sso") return `${m.external_sso?.email ?? "?"} (via ${m.external_sso?.issuer || "unknown issuer"})`;
  return `${m.account?.email ?? "?"}${m.account?.name ? ` (${m.account.name})` : ""}`;
}

// What every doctor check returns, shared by the check modules and the report.

export type Env = Record<string, string | undefined>;
export type Status = "pass" | "warn" | "fail";

export interface Check {
  id: string;
  title: string;
  status: Status;
  message: string;
  hint?: string;
  /** Machine-readable facts for --json (never secrets, never environment values). */
  data?: Record<string, unknown>;
}

export const mode4 = (m: number): string => (m & 0o7777).toString(8).padStart(4, "0");

/** node:fs on first use: the doctor module is loaded only by `auth doctor`, but its pieces are importable. */
export const fs = (): typeof import("node:fs") => require("node:fs");

// The one rule for text that came from a server, a file or the command line and is shown to a
// person. A terminal acts on control characters: ESC starts colour, cursor, alternate-screen,
// OSC 8 (hidden links) and OSC 52 (clipboard writes) sequences; CR and erase-line forge lines;
// the C1 range holds CSI (U+009B) and OSC (U+009D) on their own; bidi overrides and isolates
// make text read differently from what it is. All of them are removed (or replaced) here, on
// stdout and stderr alike. JSON output is not passed through this: it stays exact and escaped.

// C0 except TAB and LF, DEL, C1, ALM, LRM/RLM, the bidi embeddings/overrides and the isolates.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_TEST = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

export interface SanitizeOptions {
  /** Collapse every whitespace run (newlines and tabs included) to one space and trim: a table cell, a name, a message. */
  oneLine?: boolean;
  /** What an unsafe character becomes: "" drops it (default), "?" shows that something was there. */
  replacement?: string;
  /** Cut to this many characters (after cleaning). */
  max?: number;
}

/** Text safe to print on a terminal. Keeps newlines and tabs unless `oneLine`. */
export function sanitize(value: unknown, o: SanitizeOptions = {}): string {
  if (value === null || value === undefined) return "";
  let s = String(value);
  if (o.oneLine) s = s.replace(/\s+/g, " ");
  if (UNSAFE_TEST.test(s)) s = s.replace(UNSAFE, o.replacement ?? "");
  if (o.oneLine) s = s.trim();
  if (o.max !== undefined && s.length > o.max) s = s.slice(0, o.max);
  return s;
}

/** True when `s` holds nothing a terminal would act on. */
export function isTerminalSafe(s: string): boolean {
  return !UNSAFE_TEST.test(s);
}

/** A piece of user input echoed back in an error: printable ASCII only, short. */
export function echoInput(s: string, max = 100): string {
  return s.slice(0, max).replace(/[^\x20-\x7e]/g, "?");
}

/**
 * A copy of `v` whose every string is one clean line: metadata read from hosts.yml (names,
 * emails, workspace names the server sent at sign-in) is stored as sent and cleaned here, each
 * time it is shown, so a hostile value cannot fire again on every `auth status`.
 */
export function sanitizeDeep<T>(v: T): T {
  if (typeof v === "string") return sanitize(v, { oneLine: true }) as T;
  if (Array.isArray(v)) return v.map((x) => sanitizeDeep(x)) as T;
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = sanitizeDeep(x);
    return out as T;
  }
  return v;
}

/** A template tag for human lines: every interpolated value is cleaned to one line, the literal text is ours. */
export function line(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += sanitize(values[i], { oneLine: true }) + strings[i + 1];
  return out;
}

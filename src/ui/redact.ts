// Anything shaped like a credential is masked before it reaches a terminal, a log or a JSON
// envelope. The patterns are deliberately broader than the server's exact formats so that a
// truncated or slightly different token is still caught.
// No \b before the difyctl prefixes: a server that glues a token to other text ("xdfoa_…")
// must not get it past the mask.
const PATTERNS: [RegExp, string][] = [
  [/(dfo[ae]_)[A-Za-z0-9_-]{4,}/g, "$1***"],
  [/\b(dfp_|app-|sk-)[A-Za-z0-9_-]{8,}/g, "$1***"],
  [/dc_[A-Za-z0-9_-]{8,}/g, "dc_***"],
  [/\b(Bearer\s+)[^\s"',;]+/gi, "$1***"],
];

export function redact(text: string): string {
  let out = text;
  for (const [re, repl] of PATTERNS) out = out.replace(re, repl);
  return out;
}

/**
 * The last line of defence on stdout and stderr: a string in the exact shape of a difyctl token
 * (prefix + 43 characters) or device code (dc_ + 32) is masked wherever it comes from, even in
 * data a server sent back (an echoed Authorization header in an app description or an answer).
 * Narrow on purpose, so that ordinary output is never altered.
 */
export function maskSecrets(text: string): string {
  if (!text.includes("dfo") && !text.includes("dc_")) return text;
  return text
    .replace(/(dfo[ae]_)[A-Za-z0-9_-]{43}/g, "$1***")
    .replace(/dc_[A-Za-z0-9_-]{32}/g, "dc_***");
}

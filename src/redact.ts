// Anything shaped like a credential is masked before it reaches a terminal, a log or a JSON
// envelope. The patterns are deliberately broader than the server's exact formats so that a
// truncated or slightly different token is still caught.
const PATTERNS: [RegExp, string][] = [
  [/\b(dfo[ae]_)[A-Za-z0-9_-]{4,}/g, "$1***"],
  [/\b(dfp_|app-|sk-)[A-Za-z0-9_-]{8,}/g, "$1***"],
  [/\bdc_[A-Za-z0-9_-]{8,}/g, "dc_***"],
  [/\b(Bearer\s+)[^\s"',;]+/gi, "$1***"],
];

export function redact(text: string): string {
  let out = text;
  for (const [re, repl] of PATTERNS) out = out.replace(re, repl);
  return out;
}

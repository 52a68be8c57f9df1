// `--jq <expr>`: filters a command's JSON output with the real jq (jq 1.8 compiled to
// WebAssembly, from the jq-wasm package). The wasm file is embedded in the binary as an asset and
// this module is imported only when --jq is given, so other runs never pay for it.
import { loadJq, type Jq } from "jq-wasm";
// Embedded by `bun build --compile` (the file lands in the binary's own file system); when run
// from source it is the file in node_modules.
import wasmPath from "jq-wasm/jq.wasm" with { type: "file" };
import { CliError } from "./errors.ts";

let loaded: Promise<Jq> | null = null;

function jq(): Promise<Jq> {
  loaded ??= (async () => {
    const bytes = new Uint8Array(await Bun.file(wasmPath).arrayBuffer());
    return loadJq({ wasmBinary: bytes });
  })();
  return loaded;
}

/** jq's own words, without its "jq: error:" prefix and the compile-error count. */
function jqMessage(stderr: string, exprLines: number, lineOffset: number): string {
  const first = stderr.split("\n").find((l) => l.startsWith("jq: error") || l.startsWith("jq: ")) ?? stderr.split("\n")[0] ?? "";
  let msg = first.replace(/^jq: error(?: \(at [^)]*\))?: /, "").replace(/^jq: /, "").replace(/:$/, "");
  const loc = / at <top-level>, line (\d+), column (\d+)$/.exec(msg);
  if (loc) {
    msg = msg.slice(0, loc.index);
    const line = Number(loc[1]) - lineOffset;
    if (line >= 1 && line <= exprLines) msg += exprLines > 1 ? ` (line ${line}, column ${loc[2]})` : ` (column ${loc[2]})`;
    else msg = msg.replace(/unexpected '\)'(, expecting [^(]*)?/, "unexpected end of the expression").replace(/unexpected end of file/, "unexpected end of the expression");
  }
  return msg || "invalid expression";
}

export function badExpression(message: string): CliError {
  return new CliError("usage_invalid_flag", `--jq: ${message}`, { hint: "see https://jqlang.org/manual/ for jq's syntax" });
}

/**
 * Compiles the expression without running it (it sits in a branch jq never takes), so a syntax
 * error is a usage error before the command does anything.
 */
export async function checkJq(expr: string): Promise<void> {
  const q = await jq();
  const r = q.raw(null, `if false then (\n${expr}\n) else empty end`, ["-n"]);
  if (r.exitCode === 3) throw badExpression(jqMessage(r.stderr, expr.split("\n").length, 1));
}

export interface JqFilter {
  /** Filters every complete line written so far; returns what to print. */
  push(text: string): string;
  /** The rest (a last line without a newline). */
  end(): string;
}

/**
 * A filter over JSON lines: every JSON document difyctl prints is one line, so a command's single
 * result and a --stream's events are both filtered value by value. Strings print raw (like
 * `jq -r`, as gh's --jq does); other values compact, or indented on a terminal.
 */
export async function createJqFilter(expr: string, o: { pretty: boolean; clean?: (s: string) => string }): Promise<JqFilter> {
  const q = await jq();
  let held = "";
  const flags = o.pretty ? ["-r"] : ["-r", "-c"];
  const run = (input: string): string => {
    if (input.trim() === "") return "";
    const r = q.raw(input, expr, flags);
    if (r.exitCode !== 0 && r.stderr) {
      if (r.exitCode === 3) throw badExpression(jqMessage(r.stderr, expr.split("\n").length, 0));
      throw new CliError("usage_invalid_flag", `--jq: ${jqMessage(r.stderr, 0, 0)}`, { hint: "the expression does not fit the output; run without --jq to see the JSON" });
    }
    const out = r.stdout === "" ? "" : r.stdout.endsWith("\n") ? r.stdout : r.stdout + "\n";
    return o.clean ? o.clean(out) : out;
  };
  return {
    push(text) {
      const s = held + text;
      const nl = s.lastIndexOf("\n");
      if (nl < 0) { held = s; return ""; }
      held = s.slice(nl + 1);
      return run(s.slice(0, nl + 1));
    },
    end() {
      const s = held;
      held = "";
      return run(s);
    },
  };
}

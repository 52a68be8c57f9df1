// A run's query from stdin: `difyctl run app <app> -`, or a chat app given no query while stdin
// is a pipe or a file (`echo "hi" | difyctl run app support`).
import { CliError } from "../cli/errors.ts";

export const MAX_QUERY_BYTES = 1 << 20;

/** Reads the query from stdin: trailing line breaks go (echo and files end with one). */
export async function readQueryFromStdin(readStdin: () => Promise<string>, inputsFromStdin: boolean): Promise<string> {
  if (inputsFromStdin) {
    throw new CliError("usage_invalid_flag", "stdin cannot hold both the query and --inputs -", { hint: "pass the inputs with --inputs @file.json, or the query as an argument" });
  }
  const text = await readStdin();
  if (Buffer.byteLength(text, "utf8") > MAX_QUERY_BYTES) {
    throw new CliError("usage_invalid_flag", `the query from stdin is larger than ${MAX_QUERY_BYTES >> 20} MiB`);
  }
  return text.replace(/[\r\n]+$/, "");
}

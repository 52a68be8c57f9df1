// JSON from a server, parsed only when its nesting is bounded. JSON.parse itself copes with any
// depth, but what is done with the value afterwards (JSON.stringify for --json output, walking it
// for a table) recurses and overflows the stack somewhere past ten thousand levels; a hostile
// server could send a million. Refusing that up front turns it into one clear error.
import { CliError } from "../cli/errors.ts";

/** Far deeper than any Dify answer or workflow output; far shallower than any recursion limit. */
export const MAX_JSON_DEPTH = 1000;

/** True when `text` opens more than `max` arrays or objects inside each other (strings skipped). */
export function nestedDeeperThan(text: string, max = MAX_JSON_DEPTH): boolean {
  // No way to nest that deep in fewer characters.
  if (text.length <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > max) return true;
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      depth--;
    }
  }
  return false;
}

export function malformedResponse(what: string): CliError {
  return new CliError("unknown", `the server sent a malformed response: ${what}`, { hint: "check that the host is a Dify server; if it is, report this to its administrator" });
}

/** JSON.parse for server text: a body nested deeper than MAX_JSON_DEPTH is a malformed response. */
export function parseServerJson(text: string): unknown {
  if (nestedDeeperThan(text)) throw malformedResponse(`JSON nested more than ${MAX_JSON_DEPTH} levels deep`);
  return JSON.parse(text);
}

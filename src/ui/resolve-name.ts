// A thing named on the command line by its id or its name (an app, a workspace): the id, then the
// exact name, then a name that matches ignoring case. Two things answering to the name are never
// guessed between: the error lists them with their ids.
import { CliError } from "../cli/errors.ts";
import { echoInput, sanitize } from "./sanitize.ts";

export interface Named { id: string; name?: string | null }

export type NameMatch<T> =
  | { kind: "one"; item: T; by: "id" | "name" }
  | { kind: "ambiguous"; candidates: T[] }
  | { kind: "none" };

export function resolveByName<T extends Named>(items: T[], wanted: string): NameMatch<T> {
  const w = wanted.trim();
  if (!w) return { kind: "none" };
  const lower = w.toLowerCase();
  const byId = items.find((x) => x.id.toLowerCase() === lower);
  if (byId) return { kind: "one", item: byId, by: "id" };
  for (const same of [(n: string) => n === w, (n: string) => n.toLowerCase() === lower]) {
    const hits = items.filter((x) => typeof x.name === "string" && same(x.name));
    if (hits.length === 1) return { kind: "one", item: hits[0], by: "name" };
    if (hits.length > 1) return { kind: "ambiguous", candidates: hits };
  }
  return { kind: "none" };
}

const MAX_LISTED = 10;

/** `"Support Chat" (c0…01), …` for a message; long lists are cut. */
export function describeNamed(list: Named[]): string {
  const shown = list.slice(0, MAX_LISTED).map((x) => (x.name ? `"${sanitize(x.name, { oneLine: true, replacement: "?" })}" (${sanitize(x.id, { oneLine: true })})` : sanitize(x.id, { oneLine: true })));
  if (list.length > MAX_LISTED) shown.push(`and ${list.length - MAX_LISTED} more`);
  return shown.join(", ");
}

export interface NameErrorOptions {
  /** "app", "workspace": what is being named. */
  what: string;
  /** Where the full list is: "run 'difyctl get apps'". */
  listHint: string;
  /** The candidates' extra JSON fields (mode, role). */
  fields?: (x: Named) => Record<string, unknown>;
}

/** Exit 2: the name fits several things (listed with their ids), or none of `known` (listed, if any). */
export function nameError<T extends Named>(wanted: string, m: NameMatch<T>, known: T[], o: NameErrorOptions): CliError {
  const shown = echoInput(wanted.trim());
  const detail = (x: T) => ({ id: x.id, name: x.name ?? null, ...(o.fields ? o.fields(x) : {}) });
  if (m.kind === "ambiguous") {
    return new CliError("usage_invalid_flag", `'${shown}' names ${m.candidates.length} ${o.what}s: ${describeNamed(m.candidates)}`, {
      hint: `pass the ${o.what} id instead`, details: { candidates: m.candidates.slice(0, 50).map(detail) },
    });
  }
  const list = known.length ? `; ${o.what}s: ${describeNamed(known)}` : "";
  return new CliError("usage_invalid_flag", `no ${o.what} has the id or name '${shown}'${list}`, {
    hint: o.listHint, details: { candidates: known.slice(0, 50).map(detail) },
  });
}

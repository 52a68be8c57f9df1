// App inputs: read --inputs (JSON text, @file or - for stdin) and check them against the app's
// input_schema (JSON Schema 2020-12, the subset Dify emits) before anything is sent, so a typo
// costs a usage error instead of a run (the server answers bad inputs with a 500).
import { CliError } from "../cli/errors.ts";

export const MAX_INPUTS_BYTES = 16 << 20;

export interface InputsIO {
  readFile(path: string): Promise<string>;
  readStdin(): Promise<string>;
}

export async function readInputs(flag: unknown, io: InputsIO): Promise<Record<string, unknown>> {
  if (flag === undefined) return {};
  const raw = String(flag);
  let text: string;
  let from: string;
  if (raw === "-") {
    from = " (read from stdin)";
    text = await io.readStdin();
  } else if (raw.startsWith("@")) {
    const file = raw.slice(1);
    from = ` (read from '${file}')`;
    if (!file) throw new CliError("usage_invalid_flag", "--inputs @file needs a file name", { hint: "e.g. --inputs @inputs.json" });
    try {
      text = await io.readFile(file);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new CliError("usage_invalid_flag", `cannot read --inputs file '${file}'${code ? ` (${code})` : ""}`);
    }
  } else {
    from = "";
    text = raw;
  }
  if (text.length > MAX_INPUTS_BYTES) throw new CliError("usage_invalid_flag", `--inputs${from} is larger than ${MAX_INPUTS_BYTES >> 20} MiB`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CliError("usage_invalid_flag", `--inputs${from} is not valid JSON: ${(e as Error).message}`, {
      hint: `pass a JSON object, e.g. --inputs '{"topic":"llamas"}', --inputs @inputs.json or --inputs - (stdin)`,
    });
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new CliError("usage_invalid_flag", `--inputs${from} must be a JSON object`, { hint: `e.g. --inputs '{"topic":"llamas"}'` });
  }
  return v as Record<string, unknown>;
}

type Schema = Record<string, unknown>;

export interface InputField {
  name: string;
  /** JSON Schema type(s) joined with "|", or "any". */
  type: string;
  required: boolean;
  title?: string;
  enum?: unknown[];
  maxLength?: number;
}

const isObj = (v: unknown): v is Schema => typeof v === "object" && v !== null && !Array.isArray(v);

function typesOf(p: Schema): string[] {
  if (typeof p.type === "string") return [p.type];
  if (Array.isArray(p.type)) return p.type.filter((t): t is string => typeof t === "string");
  return [];
}

/** The fields of an input_schema, in schema order (what `get app` shows). */
export function schemaFields(schema: unknown): InputField[] {
  if (!isObj(schema) || !isObj(schema.properties)) return [];
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === "string") : []);
  return Object.entries(schema.properties).map(([name, p]) => {
    const prop = isObj(p) ? p : {};
    const f: InputField = { name, type: typesOf(prop).join("|") || (Array.isArray(prop.enum) ? "enum" : "any"), required: required.has(name) };
    if (typeof prop.title === "string") f.title = prop.title;
    if (Array.isArray(prop.enum)) f.enum = prop.enum;
    if (typeof prop.maxLength === "number") f.maxLength = prop.maxLength;
    return f;
  });
}

function matchesType(v: unknown, t: string): boolean {
  switch (t) {
    case "string": return typeof v === "string";
    case "number": return typeof v === "number" && Number.isFinite(v);
    case "integer": return typeof v === "number" && Number.isInteger(v);
    case "boolean": return typeof v === "boolean";
    case "object": return isObj(v);
    case "array": return Array.isArray(v);
    case "null": return v === null;
    default: return true; // a type this client does not know: the server decides
  }
}

const describeValue = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `a ${typeof v}`);

export interface InputProblem { field: string; kind: "missing" | "invalid" | "unknown"; message: string }

/**
 * Every problem at once (an agent fixes them in one go). Dify treats null and "" as "not given",
 * so a required field with either is missing.
 */
export function checkInputs(schema: unknown, inputs: Record<string, unknown>): InputProblem[] {
  if (!isObj(schema)) return [];
  const props = isObj(schema.properties) ? schema.properties : {};
  const problems: InputProblem[] = [];
  for (const f of schemaFields(schema)) {
    const v = inputs[f.name];
    if (v === undefined || v === null || v === "") {
      if (f.required) problems.push({ field: f.name, kind: "missing", message: `'${f.name}' is required` });
      continue;
    }
    const p = isObj(props[f.name]) ? (props[f.name] as Schema) : {};
    const types = typesOf(p);
    if (types.length && !types.some((t) => matchesType(v, t))) {
      problems.push({ field: f.name, kind: "invalid", message: `'${f.name}' must be ${types.join(" or ")}, got ${describeValue(v)}` });
      continue;
    }
    if (Array.isArray(p.enum) && !p.enum.some((e) => e === v)) {
      problems.push({ field: f.name, kind: "invalid", message: `'${f.name}' must be one of ${p.enum.map((e) => JSON.stringify(e)).join(", ")}` });
      continue;
    }
    if (typeof v === "string") {
      const len = [...v].length; // code points, as the server (Python len) counts
      if (typeof p.maxLength === "number" && len > p.maxLength) problems.push({ field: f.name, kind: "invalid", message: `'${f.name}' must be at most ${p.maxLength} characters (got ${len})` });
      if (typeof p.minLength === "number" && len < p.minLength) problems.push({ field: f.name, kind: "invalid", message: `'${f.name}' must be at least ${p.minLength} characters` });
    }
    if (typeof v === "number") {
      if (typeof p.minimum === "number" && v < p.minimum) problems.push({ field: f.name, kind: "invalid", message: `'${f.name}' must be ≥ ${p.minimum}` });
      if (typeof p.maximum === "number" && v > p.maximum) problems.push({ field: f.name, kind: "invalid", message: `'${f.name}' must be ≤ ${p.maximum}` });
    }
  }
  // additionalProperties:false: an unknown name is almost always a typo of a real field.
  if (schema.additionalProperties === false) {
    for (const k of Object.keys(inputs)) {
      if (!(k in props)) problems.push({ field: k, kind: "unknown", message: `'${k}' is not an input of this app` });
    }
  }
  return problems;
}

/** The usage error for a list of problems: exit 2, nothing sent. */
export function inputsError(problems: InputProblem[], appId: string, fields: InputField[]): CliError {
  const onlyMissing = problems.every((p) => p.kind === "missing");
  const known = fields.length ? `inputs: ${fields.map((f) => `${f.name}${f.required ? "*" : ""}`).join(", ")} (* required)` : "this app takes no inputs";
  return new CliError(onlyMissing ? "usage_missing_arg" : "usage_invalid_flag", `invalid --inputs: ${problems.map((p) => p.message).join("; ")}`, {
    hint: `${known}; see 'difyctl get app ${appId}'`,
    details: { problems },
  });
}

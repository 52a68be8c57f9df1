// Human views of one app (`get app`, `get permitted-external-app`).
import { shortDate } from "./app-list.ts";
import { type InputField, schemaFields } from "./input-schema.ts";
import { cleanCell, renderTable, type TableLayout, truncate } from "../ui/table.ts";
import { CHAT_MODES } from "./app-modes.ts";
import { fileInputNames, fileInputsSection, fileRunArgs } from "./file-view.ts";

type Json = Record<string, unknown>;

function fieldDetails(f: InputField): string {
  const parts: string[] = [];
  if (f.title && f.title !== f.name) parts.push(f.title);
  if (f.enum) parts.push(`one of: ${f.enum.map((e) => String(e)).join(", ")}`);
  if (f.maxLength) parts.push(`max ${f.maxLength} chars`);
  return parts.join("; ");
}

function pairs(rows: [string, unknown][]): string {
  const shown = rows.map(([k, v]) => [k, cleanCell(v)] as const).filter(([, v]) => v !== "");
  const w = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${(k + ":").padEnd(w + 1)} ${v}`).join("\n") + "\n";
}

/** How to run it, shaped by mode: chat apps take a query, workflows only inputs. */
function runExample(cmd: string, id: string, mode: string, fields: InputField[]): string {
  const req = fields.filter((f) => f.required);
  const inputs = req.length ? ` --inputs '${JSON.stringify(Object.fromEntries(req.map((f) => [f.name, f.type.includes("string") ? "…" : 0])))}'` : "";
  return `difyctl ${cmd} ${id}${CHAT_MODES.includes(mode) ? ' "your question"' : ""}${inputs}`;
}

/** `layout`: a terminal cuts long text to its width; a pipe or a file gets it whole. */
export function appDetail(d: { info?: Json | null; parameters?: Json | null; input_schema?: Json | null }, id: string, layout?: TableLayout): string {
  const cut = (s: string, n: number) => (layout && !layout.tty ? s : truncate(s, n));
  const info = d.info ?? {};
  const mode = cleanCell(info.mode);
  const tags = Array.isArray(info.tags) ? info.tags.map((t) => (typeof t === "object" && t ? (t as Json).name : t)).join(", ") : "";
  let out = `${cleanCell(info.name) || id}\n` + pairs([
    ["ID", info.id ?? id], ["Mode", mode], ["Description", info.description], ["Author", info.author],
    ["Tags", tags], ["Updated", shortDate(info.updated_at)],
    ["Opening", typeof d.parameters?.opening_statement === "string" ? cut(cleanCell(d.parameters.opening_statement), 100) : ""],
  ]);
  // File inputs get their own section (types, limits) and --file in the example.
  const files = fileInputNames(d.parameters);
  const fields = schemaFields(d.input_schema).filter((f) => !files.has(f.name));
  out += fields.length
    ? `\nInputs:\n${renderTable(["NAME", "TYPE", "REQUIRED", "DETAILS"], fields.map((f) => [f.name, f.type, f.required ? "yes" : "no", fieldDetails(f)]), [30, 0, 0, 60], layout && { ...layout, tsv: false })}`
    : files.size ? "" : "\nInputs: none\n";
  out += fileInputsSection(d.parameters, layout);
  out += `\nRun it:\n  ${runExample("run app", cleanCell(info.id ?? id), mode, fields)}${fileRunArgs(d.parameters)}\n`;
  return out;
}

export function permittedAppDetail(row: Json, id: string): string {
  const mode = cleanCell(row.mode);
  return `${cleanCell(row.name) || id}\n` + pairs([
    ["ID", row.id ?? id], ["Mode", mode], ["Description", row.description],
    ["Workspace", row.workspace_name ?? row.workspace_id], ["Updated", shortDate(row.updated_at)],
  ]) + `\nInputs: not visible to external SSO sessions; the server checks --inputs when the app runs\n`
    + `\nRun it:\n  ${runExample("run permitted-external-app", cleanCell(row.id ?? id), mode, [])}\n`;
}

// The file side of `get app`: which inputs take files (their allowed types, extensions and how
// many), the server's size limits, and the --file arguments of a run example.
import { cleanCell, renderTable, type TableLayout } from "../ui/table.ts";
import { attachmentRules, type FileRules, type FileVariable, fileVariables, sizeLimits } from "./file-inputs.ts";

const mb = (bytes: number | undefined) => (bytes === undefined ? "" : `${Math.round(bytes / 1024 / 1024)} MB`);

/** The names of the app's file and file-list inputs (shown apart from the other inputs). */
export function fileInputNames(parameters: unknown): Set<string> {
  return new Set(fileVariables(parameters).map((v) => v.variable));
}

function accepts(r: FileRules): string {
  const parts: string[] = [];
  parts.push(r.allowedTypes.length ? r.allowedTypes.join(", ") : "any type");
  if (r.allowedTypes.includes("custom") && r.allowedExtensions?.length) parts.push(`custom: ${r.allowedExtensions.join(" ")}`);
  if (r.allowedMethods.length === 1) parts.push(r.allowedMethods[0] === "local_file" ? "upload only" : "URL only");
  return parts.join("; ");
}

function limitsLine(parameters: unknown): string {
  const l = sizeLimits(parameters);
  const parts = [["documents and other files", l.file], ["images", l.image], ["audio", l.audio], ["video", l.video]] as const;
  const shown = parts.filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${mb(v)}`);
  return shown.length ? `Upload limits: ${shown.join(", ")}\n` : "";
}

/** "File inputs:" (and "Attachments:" when the app takes a `files` list), or "" for an app without files. */
export function fileInputsSection(parameters: unknown, layout?: TableLayout): string {
  const vars = fileVariables(parameters);
  const att = attachmentRules(parameters);
  if (!vars.length && !att) return "";
  let out = "";
  if (vars.length) {
    const rows = vars.map((v: FileVariable) => [
      v.variable, v.kind, v.required ? "yes" : "no", accepts(v.rules),
      v.kind === "file-list" ? (v.maxFiles > 0 ? `up to ${v.maxFiles}` : "any number") : "one",
    ]);
    out += `\nFile inputs (pass with --file <name>=@path or =https://…):\n${renderTable(["NAME", "KIND", "REQUIRED", "ACCEPTS", "FILES"], rows, [30, 0, 0, 60, 0], layout && { ...layout, tsv: false })}`;
  }
  if (att) {
    out += `\nAttachments (--file @path, or --file https://…): ${cleanCell(accepts(att))}${att.maxFiles > 0 ? `; up to ${att.maxFiles} files` : ""}\n`;
  }
  return out + limitsLine(parameters);
}

const SAMPLE: Record<string, string> = { image: "photo.png", document: "report.pdf", audio: "voice.mp3", video: "clip.mp4" };

/** ` --file doc=@report.pdf` for each required file input (or the first one, if none is required). */
export function fileRunArgs(parameters: unknown): string {
  const vars = fileVariables(parameters);
  const shown = vars.filter((v) => v.required);
  if (!shown.length && vars.length) shown.push(vars[0]);
  return shown.map((v) => ` --file ${v.variable}=@${SAMPLE[v.rules.allowedTypes.find((t) => t in SAMPLE) ?? "document"]}`).join("");
}

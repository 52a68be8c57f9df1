// File inputs of `run app` / `resume app`: `--file var=@path`, `--file var=https://…` and, for apps
// with file upload on, `--file @path` into the `files` list. Everything that can be checked is
// checked before any upload, against what the app publishes (its form's file variables, their
// allowed types, extensions and transfer methods, and the server's size limits), so a wrong file
// costs a usage error instead of a wasted upload or a failed run. Then each local file is uploaded
// (one multipart part named `file`) and referenced by a file mapping.
import { CliError } from "../cli/errors.ts";
import type { HttpClient } from "../http/http-client.ts";
import { echoInput, sanitize } from "../ui/sanitize.ts";
import { appError, type Cmds } from "./app-api.ts";

export type FileType = "image" | "document" | "audio" | "video" | "custom";

const EXTENSIONS: Record<Exclude<FileType, "custom">, string[]> = {
  image: ["jpg", "jpeg", "png", "webp", "gif", "svg"],
  video: ["mp4", "mov", "mpeg", "webm"],
  audio: ["mp3", "m4a", "wav", "amr", "mpga"],
  document: ["txt", "markdown", "md", "mdx", "pdf", "html", "htm", "xlsx", "xls", "vtt", "properties", "doc", "docx", "csv", "eml", "epub", "msg", "ppt", "pptx", "xml", "json"],
};

/** The type Dify files an extension under (the server sorts uploads and size limits the same way). */
export function detectType(extension: string): FileType {
  const e = extension.replace(/^\./, "").toLowerCase();
  for (const t of ["image", "video", "audio", "document"] as const) if (EXTENSIONS[t].includes(e)) return t;
  return "custom";
}

const MIME: Record<string, string> = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp", gif: "image/gif", svg: "image/svg+xml",
  mp4: "video/mp4", mov: "video/quicktime", mpeg: "video/mpeg", webm: "video/webm",
  mp3: "audio/mpeg", m4a: "audio/mp4", wav: "audio/wav", amr: "audio/amr", mpga: "audio/mpeg",
  txt: "text/plain", md: "text/markdown", markdown: "text/markdown", mdx: "text/markdown", pdf: "application/pdf", html: "text/html", htm: "text/html",
  xlsx: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xls: "application/vnd.ms-excel", vtt: "text/vtt",
  doc: "application/msword", docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", csv: "text/csv",
  eml: "message/rfc822", epub: "application/epub+zip", msg: "application/vnd.ms-outlook", ppt: "application/vnd.ms-powerpoint",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation", xml: "application/xml", json: "application/json",
};

/** The part's Content-Type: the server keeps it as the file's MIME type and refuses an empty one. */
export function mimeFor(extension: string): string {
  return MIME[extension.toLowerCase()] ?? "application/octet-stream";
}

// ─────────────────────────── the flag ───────────────────────────

export type FileSource = { kind: "local"; path: string } | { kind: "remote"; url: string };

export interface FileFlag {
  /** The input variable, or null for the app's `files` list. */
  variable: string | null;
  source: FileSource;
  /** The flag as typed, for messages. */
  raw: string;
}

const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function flagError(raw: string, why: string): CliError {
  return new CliError("usage_invalid_flag", `--file '${echoInput(raw)}': ${why}`, {
    hint: "use --file <variable>=@path/to/file, --file <variable>=https://…, or --file @path for a chat app's attachments",
  });
}

function parseSource(raw: string, value: string): FileSource {
  if (value.startsWith("@")) {
    const path = value.slice(1);
    if (!path) throw flagError(raw, "a file name must follow '@'");
    return { kind: "local", path };
  }
  if (/^https?:\/\//i.test(value)) {
    let u: URL;
    try { u = new URL(value); } catch { throw flagError(raw, "not a valid URL"); }
    if (!u.hostname) throw flagError(raw, "the URL has no host");
    return { kind: "remote", url: value };
  }
  throw flagError(raw, "the value must be @path (a local file) or an http(s):// URL");
}

/** `--file` values (repeatable) → what they name. Syntax only: nothing is read yet. */
export function parseFileFlags(values: readonly string[]): FileFlag[] {
  return values.map((raw) => {
    if (raw.startsWith("@") || /^https?:\/\//i.test(raw)) return { variable: null, source: parseSource(raw, raw), raw };
    const eq = raw.indexOf("=");
    if (eq <= 0) throw flagError(raw, "expected <variable>=@path or <variable>=https://…");
    const variable = raw.slice(0, eq);
    if (!VARIABLE.test(variable)) throw flagError(raw, `'${echoInput(variable)}' is not a variable name`);
    return { variable, source: parseSource(raw, raw.slice(eq + 1)), raw };
  });
}

// ─────────────────────────── what the app accepts ───────────────────────────

export interface FileRules {
  allowedTypes: string[];
  /** as the app stores them (".PDF", "pdf"): compared case- and dot-insensitively */
  allowedExtensions: string[] | null;
  allowedMethods: string[];
}

export interface FileVariable {
  variable: string;
  label: string;
  kind: "file" | "file-list";
  required: boolean;
  /** file-list: how many files at most (0 = no limit) */
  maxFiles: number;
  rules: FileRules;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

function rulesOf(row: Json): FileRules {
  return {
    allowedTypes: strings(row.allowed_file_types),
    allowedExtensions: Array.isArray(row.allowed_file_extensions) ? strings(row.allowed_file_extensions) : null,
    allowedMethods: strings(row.allowed_file_upload_methods ?? row.transfer_methods),
  };
}

/** Every variable of the app's form, by name, with its row type (`text-input`, `file`, …). */
export function formVariables(parameters: unknown): Map<string, { type: string; row: Json }> {
  const out = new Map<string, { type: string; row: Json }>();
  const form = isObj(parameters) && Array.isArray(parameters.user_input_form) ? parameters.user_input_form : [];
  for (const entry of form) {
    if (!isObj(entry)) continue;
    const [type] = Object.keys(entry);
    const row = entry[type];
    if (type && isObj(row) && typeof row.variable === "string") out.set(row.variable, { type, row });
  }
  return out;
}

/** The app's file and file-list variables, in form order. */
export function fileVariables(parameters: unknown): FileVariable[] {
  const out: FileVariable[] = [];
  for (const [variable, { type, row }] of formVariables(parameters)) {
    if (type !== "file" && type !== "file-list") continue;
    out.push({
      variable, label: typeof row.label === "string" ? row.label : variable, kind: type, required: row.required === true,
      maxFiles: type === "file-list" && typeof row.max_length === "number" ? row.max_length : type === "file" ? 1 : 0,
      rules: rulesOf(row),
    });
  }
  return out;
}

/** The `files` list an app accepts, or null when its file upload feature is off. */
export function attachmentRules(parameters: unknown): (FileRules & { maxFiles: number }) | null {
  const fu = isObj(parameters) && isObj(parameters.file_upload) ? parameters.file_upload : null;
  if (!fu) return null;
  const image = isObj(fu.image) ? fu.image : null;
  if (fu.enabled === true) {
    return { ...rulesOf(fu), maxFiles: typeof fu.number_limits === "number" ? fu.number_limits : 0 };
  }
  // Older apps have only the image switch.
  if (image?.enabled === true) {
    return { allowedTypes: ["image"], allowedExtensions: null, allowedMethods: strings(image.transfer_methods), maxFiles: typeof image.number_limits === "number" ? image.number_limits : 0 };
  }
  return null;
}

/** Upload limits the server publishes, in bytes (MB there = MiB). */
export interface SizeLimits { image: number; video: number; audio: number; file: number }

export function sizeLimits(parameters: unknown): Partial<SizeLimits> {
  const sp = isObj(parameters) && isObj(parameters.system_parameters) ? parameters.system_parameters : {};
  const mb = (k: string) => (typeof sp[k] === "number" && (sp[k] as number) > 0 ? (sp[k] as number) * 1024 * 1024 : undefined);
  const out: Partial<SizeLimits> = {};
  const put = (k: keyof SizeLimits, v: number | undefined) => { if (v !== undefined) out[k] = v; };
  put("image", mb("image_file_size_limit"));
  put("video", mb("video_file_size_limit"));
  put("audio", mb("audio_file_size_limit"));
  put("file", mb("file_size_limit"));
  return out;
}

/** Which limit a file falls under: images, videos and audio have their own, everything else shares one. */
export function limitBucket(extension: string): keyof SizeLimits {
  const t = detectType(extension);
  return t === "image" || t === "video" || t === "audio" ? t : "file";
}

const normExt = (e: string) => {
  const s = e.trim().toLowerCase();
  return !s ? "" : s.startsWith(".") ? s : "." + s;
};

/**
 * The `type` to send for a file, or why the app will not take it. Mirrors the server: the type
 * must be allowed, unless `custom` is, in which case the extension must be on the app's list.
 */
export function chooseType(extension: string, method: "local_file" | "remote_url", rules: FileRules, knownExtension: boolean): { type: FileType } | { why: string } {
  const detected = knownExtension ? detectType(extension) : "custom";
  const allowed = rules.allowedTypes;
  const customAllowed = allowed.includes("custom");
  let type: FileType;
  if (!knownExtension) {
    // A URL without a telling extension: the server sniffs it. Send the one type the variable
    // takes, else `document` (a declared type is not cross-checked on this API).
    const real = allowed.filter((t) => t !== "custom");
    type = (real.length === 1 ? real[0] : real.length === 0 && customAllowed ? "custom" : real[0] ?? "document") as FileType;
  } else if (allowed.length === 0 || allowed.includes(detected)) {
    type = detected;
  } else if (customAllowed) {
    type = "custom";
  } else {
    return { why: `${detected === "custom" ? "this kind of file" : `a ${detected} file`} is not accepted here (allowed: ${allowed.join(", ")})` };
  }
  if (knownExtension && type === "custom" && rules.allowedExtensions !== null) {
    const list = rules.allowedExtensions.map(normExt);
    if (!list.includes(normExt(extension))) {
      return { why: list.length ? `the extension '${extension ? "." + extension : "(none)"}' is not allowed (allowed: ${list.join(", ")})` : "this app allows no file extensions for custom files" };
    }
  }
  if (rules.allowedMethods.length && !rules.allowedMethods.includes(method)) {
    return { why: `${method === "local_file" ? "uploading a local file" : "a URL"} is not accepted here (allowed: ${rules.allowedMethods.join(", ")})` };
  }
  return { type };
}

// ─────────────────────────── the plan ───────────────────────────

export interface LocalFile { path: string; name: string; extension: string; size: number }

export interface PlannedFile {
  flag: FileFlag;
  /** the variable, or null for `files` */
  variable: string | null;
  type: FileType;
  local?: LocalFile;
  url?: string;
}

export interface FilePlan {
  files: PlannedFile[];
  /** list variables (file-list) get an array even for one file */
  listVariables: Set<string>;
}

/** The local side of checking a file: whether it exists and how big it is. Replaceable in tests. */
export interface FileSystem {
  stat(path: string): Promise<{ size: number; isFile: boolean } | null>;
  open(path: string): Blob;
}

export const realFs: FileSystem = {
  async stat(path) {
    const { stat } = await import("node:fs/promises");
    try {
      const s = await stat(path);
      return { size: s.size, isFile: s.isFile() };
    } catch {
      return null;
    }
  },
  open: (path) => Bun.file(path),
};

function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

function extOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 && dot < name.length - 1 ? name.slice(dot + 1).toLowerCase() : "";
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;

/** Local files exist and are regular files: checked before anything is sent. */
export async function statLocalFiles(flags: readonly FileFlag[], fs: FileSystem): Promise<Map<FileFlag, LocalFile>> {
  const out = new Map<FileFlag, LocalFile>();
  const problems: string[] = [];
  for (const f of flags) {
    if (f.source.kind !== "local") continue;
    const st = await fs.stat(f.source.path);
    if (!st) { problems.push(`cannot read '${sanitize(f.source.path, { oneLine: true })}' (no such file, or no permission)`); continue; }
    if (!st.isFile) { problems.push(`'${sanitize(f.source.path, { oneLine: true })}' is not a regular file`); continue; }
    const name = baseName(f.source.path);
    out.set(f, { path: f.source.path, name, extension: extOf(name), size: st.size });
  }
  if (problems.length) throw new CliError("usage_invalid_flag", `--file: ${problems.join("; ")}`);
  return out;
}

/**
 * Checks every --file against the app (all problems at once) and decides each file's type. Throws
 * a usage error when anything is wrong: nothing has been uploaded at that point.
 */
export function planFiles(flags: readonly FileFlag[], locals: Map<FileFlag, LocalFile>, parameters: unknown, appId: string, inputs: Record<string, unknown> = {}): FilePlan {
  const vars = formVariables(parameters);
  const fileVars = new Map(fileVariables(parameters).map((v) => [v.variable, v]));
  const attachments = attachmentRules(parameters);
  const limits = sizeLimits(parameters);
  const problems: string[] = [];
  const planned: PlannedFile[] = [];
  const counts = new Map<string | null, number>();
  for (const flag of flags) {
    const label = flag.source.kind === "local" ? `'${sanitize(flag.source.path, { oneLine: true })}'` : `'${sanitize(flag.source.url, { oneLine: true })}'`;
    let rules: FileRules;
    if (flag.variable === null) {
      if (!attachments) { problems.push(`${label}: this app does not take attached files (its file upload is off); name an input: --file <variable>=@path`); continue; }
      rules = attachments;
    } else {
      const fv = fileVars.get(flag.variable);
      if (!fv) {
        const v = vars.get(flag.variable);
        const names = [...fileVars.keys()];
        problems.push(v
          ? `'${flag.variable}' is a ${v.type} input, not a file; pass it with --inputs`
          : `'${flag.variable}' is not an input of this app${names.length ? ` (file inputs: ${names.join(", ")})` : " (it has no file inputs)"}`);
        continue;
      }
      if (flag.variable in inputs) { problems.push(`'${flag.variable}' is given both in --inputs and by --file`); continue; }
      rules = fv.rules;
    }
    counts.set(flag.variable, (counts.get(flag.variable) ?? 0) + 1);
    const local = locals.get(flag);
    let type: FileType;
    if (local) {
      const c = chooseType(local.extension, "local_file", rules, true);
      if ("why" in c) { problems.push(`${label}: ${c.why}`); continue; }
      type = c.type;
      const bucket = limitBucket(local.extension);
      const max = limits[bucket];
      if (max !== undefined && local.size > max) {
        problems.push(`${label} is ${mib(local.size)}; the server takes ${bucket === "file" ? "files" : `${bucket} files`} up to ${mib(max)}`);
        continue;
      }
      if (local.size === 0) { problems.push(`${label} is empty`); continue; }
      planned.push({ flag, variable: flag.variable, type, local });
    } else if (flag.source.kind === "remote") {
      let ext = "";
      try { ext = extOf(baseName(new URL(flag.source.url).pathname)); } catch { /* checked when parsed */ }
      const c = chooseType(ext, "remote_url", rules, ext !== "" && detectType(ext) !== "custom");
      if ("why" in c) { problems.push(`${label}: ${c.why}`); continue; }
      planned.push({ flag, variable: flag.variable, type: c.type, url: flag.source.url });
    }
  }
  for (const [variable, n] of counts) {
    if (variable === null) {
      if (attachments && attachments.maxFiles > 0 && n > attachments.maxFiles) problems.push(`this app takes at most ${attachments.maxFiles} attached files (got ${n})`);
      continue;
    }
    const fv = fileVars.get(variable)!;
    if (fv.kind === "file" && n > 1) problems.push(`'${variable}' takes one file (got ${n}); it is not a file list`);
    if (fv.kind === "file-list" && fv.maxFiles > 0 && n > fv.maxFiles) problems.push(`'${variable}' takes at most ${fv.maxFiles} files (got ${n})`);
  }
  if (problems.length) {
    const names = [...fileVars.values()].map((v) => `${v.variable}${v.required ? "*" : ""} (${v.kind}${v.rules.allowedTypes.length ? `: ${v.rules.allowedTypes.join(", ")}` : ""})`);
    throw new CliError("usage_invalid_flag", `invalid --file: ${problems.join("; ")}`, {
      hint: names.length ? `file inputs: ${names.join(", ")}; see 'difyctl get app ${appId}'` : `see 'difyctl get app ${appId}'`,
      details: { problems },
    });
  }
  return { files: planned, listVariables: new Set([...fileVars.values()].filter((v) => v.kind === "file-list").map((v) => v.variable)) };
}

// ─────────────────────────── upload ───────────────────────────

export interface UploadedFile { id: string; name: string; size: number; extension: string; mime_type: string }

export interface UploadProgress {
  (sent: number, total: number, name: string): void;
}

/** A multipart body with one part `file`, streamed from disk, with its exact length. */
export function multipartBody(file: Blob, name: string, mime: string, onChunk?: (sent: number) => void): { stream: ReadableStream<Uint8Array>; contentType: string; length: number } {
  const boundary = `----difyctl${crypto.randomUUID().replaceAll("-", "")}`;
  // Quotes, CR and LF would break the header; the server rejects path separators anyway.
  const safeName = name.replace(/["\r\n\\]/g, "_");
  const enc = new TextEncoder();
  const head = enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\nContent-Type: ${mime}\r\n\r\n`);
  const tail = enc.encode(`\r\n--${boundary}--\r\n`);
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let phase = 0;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (phase === 0) { phase = 1; c.enqueue(head); return; }
      if (phase === 1) {
        reader ??= file.stream().getReader() as ReadableStreamDefaultReader<Uint8Array>;
        const r = await reader.read();
        if (!r.done) {
          sent += r.value.byteLength;
          onChunk?.(sent);
          c.enqueue(r.value);
          return;
        }
        phase = 2;
      }
      c.enqueue(tail);
      c.close();
    },
    cancel() { void reader?.cancel().catch(() => {}); },
  });
  return { stream, contentType: `multipart/form-data; boundary=${boundary}`, length: head.byteLength + file.size + tail.byteLength };
}

/** An upload the server refused → what was rejected and why (June says only "Bad Request" for a size). */
export function uploadRejected(status: number, body: unknown, file: LocalFile, limits: Partial<SizeLimits>): CliError {
  const b = isObj(body) ? body : {};
  const code = typeof b.code === "string" ? b.code : "";
  const message = typeof b.message === "string" ? b.message : "";
  const what = `'${sanitize(file.name, { oneLine: true })}' (${mib(file.size)})`;
  const details = { server_code: code || undefined, server_message: message || undefined, file: file.name, size: file.size };
  const bucket = limitBucket(file.extension);
  const published = limits[bucket];
  if (status === 413 || code === "file_too_large" || (status === 400 && code === "bad_request" && (message === "" || message === "Bad Request"))) {
    // June answers a file over its size limit with a bare 400 "Bad Request" (its service error
    // carries no text); every other refusal names its reason.
    return new CliError("server_4xx_other", `the server refused ${what}: too large for its upload limit`, {
      httpStatus: status, details,
      hint: published !== undefined
        ? `the app publishes a limit of ${mib(published)} for ${bucket === "file" ? "documents and other files" : `${bucket} files`}, but the server's own limit is lower; use a smaller file or ask the Dify admin to raise UPLOAD_${bucket === "file" ? "" : bucket.toUpperCase() + "_"}FILE_SIZE_LIMIT`
        : "use a smaller file, or ask the Dify admin about the upload size limit",
    });
  }
  if (status === 415 || code === "unsupported_file_type") {
    return new CliError("server_4xx_other", `the server refused ${what}: this file type is not allowed`, { httpStatus: status, details });
  }
  return new CliError("server_4xx_other", `the server refused ${what}${message ? `: ${sanitize(message, { oneLine: true })}` : ` (HTTP ${status})`}`, { httpStatus: status, details });
}

/** Uploads one file (never retried: a body stream is read once). */
export async function uploadFile(http: HttpClient, appId: string, file: LocalFile, blob: Blob, cmds: Cmds, limits: Partial<SizeLimits>, progress?: UploadProgress): Promise<UploadedFile> {
  const body = multipartBody(blob, file.name, mimeFor(file.extension), progress ? (sent) => progress(sent, file.size, file.name) : undefined);
  const r = await http.request<UploadedFile>("POST", `/apps/${encodeURIComponent(appId)}/files/upload`, {
    rawBody: body, headers: { "X-Dify-App-Id": appId }, retry: false, acceptStatus: [400, 403, 404, 409, 413, 415, 422],
    // The whole body must get through: allow for a slow link (at least ~64 KB/s) on top of the usual wait.
    timeoutMs: 30_000 + Math.ceil(file.size / 64),
  });
  if (r.status === 403 || r.status === 404 || r.status === 409 || r.status === 422) throw appError(r.status, r.body, appId, cmds);
  if (r.status >= 400) throw uploadRejected(r.status, r.body, file, limits);
  if (!isObj(r.body) || typeof r.body.id !== "string") throw new CliError("unknown", "the server answered the upload without a file id");
  return r.body;
}

export interface FileMapping { transfer_method: "local_file" | "remote_url"; type: FileType; upload_file_id?: string; url?: string }

/**
 * Uploads the plan's local files in order and returns what the run body needs: the inputs that
 * hold files, and the `files` list.
 */
export async function uploadPlan(http: HttpClient, appId: string, plan: FilePlan, fs: FileSystem, cmds: Cmds, limits: Partial<SizeLimits>, progress?: UploadProgress): Promise<{ inputs: Record<string, FileMapping | FileMapping[]>; files: FileMapping[] }> {
  const inputs: Record<string, FileMapping | FileMapping[]> = {};
  const files: FileMapping[] = [];
  for (const p of plan.files) {
    let m: FileMapping;
    if (p.local) {
      const up = await uploadFile(http, appId, p.local, fs.open(p.local.path), cmds, limits, progress);
      m = { transfer_method: "local_file", upload_file_id: up.id, type: p.type };
    } else {
      m = { transfer_method: "remote_url", url: p.url!, type: p.type };
    }
    if (p.variable === null) files.push(m);
    else if (plan.listVariables.has(p.variable)) ((inputs[p.variable] ??= []) as FileMapping[]).push(m);
    else inputs[p.variable] = m;
  }
  return { inputs, files };
}

/** A one-line progress bar on stderr for uploads large enough to take a moment. */
export function terminalProgress(write: (s: string) => void, minBytes = 2 * 1024 * 1024, now: () => number = () => performance.now()): UploadProgress & { done(): void } {
  let last = 0;
  let shown = false;
  const fn = ((sent: number, total: number, name: string) => {
    if (total < minBytes) return;
    const t = now();
    if (sent < total && t - last < 100) return;
    last = t;
    shown = true;
    const pct = Math.floor((sent / total) * 100);
    const width = 20;
    const filled = Math.round((pct / 100) * width);
    write(`\r\x1b[2Kuploading ${sanitize(name, { oneLine: true, max: 40 })} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct}% ${mib(sent)}/${mib(total)}`);
  }) as UploadProgress & { done(): void };
  fn.done = () => { if (shown) write("\r\x1b[2K"); shown = false; };
  return fn;
}

// File upload (`POST /apps/<id>/files/upload`) and the file mappings `/run` accepts, as the June
// server does them: its checks in its order, its error bodies (including the 400 `bad_request`
// "Bad Request" a too-large file gets), and the validation of a mapping against the variable's
// allowed types, extensions and transfer methods.

import type { FileConfig } from "./fixtures";
import { errorBody, json } from "./http";
import { isUuid, newUuid } from "./util";

export const IMAGE_EXTENSIONS = ["jpg", "jpeg", "png", "webp", "gif", "svg"];
export const VIDEO_EXTENSIONS = ["mp4", "mov", "mpeg", "webm"];
export const AUDIO_EXTENSIONS = ["mp3", "m4a", "wav", "amr", "mpga"];
export const DOCUMENT_EXTENSIONS = [
  "txt", "markdown", "md", "mdx", "pdf", "html", "htm", "xlsx", "xls", "vtt", "properties", "doc", "docx", "csv", "eml", "epub", "msg", "ppt", "pptx", "xml", "json",
];

/** The type Dify detects from an extension (no dot, any case). */
export function detectType(extension: string): "image" | "video" | "audio" | "document" | "custom" {
  const e = extension.replace(/^\./, "").toLowerCase();
  if (IMAGE_EXTENSIONS.includes(e)) return "image";
  if (VIDEO_EXTENSIONS.includes(e)) return "video";
  if (AUDIO_EXTENSIONS.includes(e)) return "audio";
  if (DOCUMENT_EXTENSIONS.includes(e)) return "document";
  return "custom";
}

export interface UploadedFile {
  id: string;
  name: string;
  size: number;
  extension: string;
  mimeType: string;
  /** account id, or the SSO subject's email for an end user */
  createdBy: string;
  tenantId: string;
  createdAt: number;
  sha256: string;
}

export interface UploadLimitsMb { file: number; image: number; audio: number; video: number }

/** One multipart part as the server saw it (what the request log records instead of the bytes). */
export interface PartSummary { name: string; filename: string | null; type: string; size: number }

/**
 * The parts of a multipart body, read the way werkzeug does: a part with a filename is a file, its
 * `Content-Type` header is the mimetype as sent (none → empty; nothing is guessed from the name).
 */
export async function readMultipart(bytes: Uint8Array, contentType: string): Promise<{ parts: PartSummary[]; files: Map<string, File> } | null> {
  const m = /boundary="?([^";]+)"?/i.exec(contentType);
  if (!m) return null;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const delim = Buffer.from(`--${m[1]}`);
  const parts: PartSummary[] = [];
  const files = new Map<string, File>();
  let pos = buf.indexOf(delim);
  if (pos < 0) return null;
  for (;;) {
    pos += delim.length;
    if (buf[pos] === 45 && buf[pos + 1] === 45) break; // "--": the closing delimiter
    const headEnd = buf.indexOf("\r\n\r\n", pos);
    if (headEnd < 0) return null;
    const next = buf.indexOf(Buffer.concat([Buffer.from("\r\n"), delim]), headEnd + 4);
    if (next < 0) return null;
    const head = buf.subarray(pos, headEnd).toString("latin1");
    const body = buf.subarray(headEnd + 4, next);
    const disp = /content-disposition:([^\r\n]*)/i.exec(head)?.[1] ?? "";
    const name = /\bname="([^"]*)"/i.exec(disp)?.[1] ?? "";
    const fn = /\bfilename="([^"]*)"/i.exec(disp);
    const type = (/content-type:\s*([^\r\n]*)/i.exec(head)?.[1] ?? "").trim();
    if (fn) {
      const filename = Buffer.from(fn[1]!, "latin1").toString("utf8");
      parts.push({ name, filename, type, size: body.length });
      if (!files.has(name)) files.set(name, new File([new Uint8Array(body)], filename, { type }));
    } else {
      parts.push({ name, filename: null, type, size: body.length });
    }
    pos = next + 2;
  }
  return { parts, files };
}

export class FileStore {
  readonly files = new Map<string, UploadedFile>();

  /** June `AppFileUploadApi.post` after the guard. */
  async upload(
    mp: { parts: PartSummary[]; files: Map<string, File> } | null,
    who: { createdBy: string; tenantId: string; now: number },
    limits: UploadLimitsMb,
    blacklist: string[],
  ): Promise<Response> {
    const fileParts = mp ? mp.parts.filter((p) => p.filename !== null) : [];
    const file = mp?.files.get("file");
    if (!file || mp!.parts.find((p) => p.name === "file")?.filename === null) {
      return errorBody(400, "Please upload your file.", { code: "no_file_uploaded" });
    }
    if (fileParts.length > 1) return errorBody(400, "Only one file is allowed.", { code: "too_many_files" });
    if (!file.type) return errorBody(415, "File type not allowed.", { code: "unsupported_file_type" });
    const name = file.name ?? "";
    if (!name) return errorBody(400, "The specified filename does not exist.", { code: "filename_not_exists" });
    // FileService.upload_file: its errors subclass ValueError, which the controller catches first.
    if (name.includes("/") || name.includes("\\")) return errorBody(400, "Filename contains invalid characters", { code: "bad_request" });
    const dot = name.lastIndexOf(".");
    const extension = dot >= 0 ? name.slice(dot + 1).toLowerCase() : "";
    if (extension && blacklist.map((b) => b.toLowerCase().replace(/^\./, "")).includes(extension)) {
      return errorBody(400, `File extension '.${extension}' is not allowed for security reasons`, { code: "bad_request" });
    }
    const bucket = detectType(extension);
    const mb = bucket === "image" ? limits.image : bucket === "video" ? limits.video : bucket === "audio" ? limits.audio : limits.file;
    if (file.size > mb * 1024 * 1024) return errorBody(400, "Bad Request", { code: "bad_request" });
    const bytes = new Uint8Array(await file.arrayBuffer());
    const row: UploadedFile = {
      id: newUuid(), name, size: file.size, extension, mimeType: file.type, createdBy: who.createdBy, tenantId: who.tenantId,
      createdAt: Math.floor(who.now / 1000), sha256: new Bun.CryptoHasher("sha256").update(bytes).digest("hex"),
    };
    this.files.set(row.id, row);
    return json(201, {
      id: row.id, reference: null, name: row.name, size: row.size, extension: row.extension, mime_type: row.mimeType,
      created_by: row.createdBy, created_at: row.createdAt, preview_url: null,
      source_url: `/files/${row.id}/file-preview?timestamp=${row.createdAt}&nonce=fake&sign=fake`,
      original_url: null, user_id: null, tenant_id: row.tenantId, conversation_id: null, file_key: null,
    });
  }

  /**
   * One mapping → the file it names, or the ValueError message June raises. `creator` is set for
   * external SSO callers, who may only use their own uploads.
   */
  resolve(mapping: Record<string, unknown>, config: FileConfig | null, tenantId: string, creator?: string): ResolvedFile | string {
    const method = mapping.transfer_method;
    if (!method) return "transfer_method is required in file mapping";
    let file: ResolvedFile;
    const id = [mapping.upload_file_id, mapping.reference, mapping.related_id].find((v) => typeof v === "string" && v !== "") as string | undefined;
    if (method === "local_file" || (method === "remote_url" && id)) {
      if (!id) return "Invalid upload file id";
      if (!isUuid(id)) return "Invalid upload file id format";
      const row = this.files.get(id.toLowerCase());
      if (!row || row.tenantId !== tenantId || (creator !== undefined && row.createdBy !== creator)) return "Invalid upload file";
      file = { filename: row.name, extension: row.extension, transferMethod: String(method), uploadFileId: row.id, size: row.size, sha256: row.sha256 };
    } else if (method === "remote_url") {
      const url = typeof mapping.url === "string" && mapping.url ? mapping.url : typeof mapping.remote_url === "string" ? mapping.remote_url : "";
      if (!url) return "Invalid file url";
      let path = "";
      try { path = new URL(url).pathname; } catch { return "Invalid file url"; }
      const filename = path.split("/").pop() || "file";
      const dot = filename.lastIndexOf(".");
      file = { filename, extension: dot >= 0 ? filename.slice(dot + 1).toLowerCase() : "bin", transferMethod: "remote_url", url };
    } else {
      return `Invalid transfer method: ${String(method)}`;
    }
    const type = typeof mapping.type === "string" && mapping.type ? mapping.type : "custom";
    if (config && !validWithConfig(type, file.extension, file.transferMethod, config)) return `File validation failed for file: ${file.filename}`;
    file.type = type;
    return file;
  }
}

export interface ResolvedFile {
  filename: string;
  extension: string;
  transferMethod: string;
  type?: string;
  uploadFileId?: string;
  url?: string;
  size?: number;
  sha256?: string;
}

const normExt = (e: string) => {
  const s = e.trim().toLowerCase();
  return !s ? "" : s.startsWith(".") ? s : "." + s;
};

/** June `is_file_valid_with_config`: custom is a bucket gated by the extension whitelist. */
export function validWithConfig(type: string, extension: string, method: string, config: FileConfig): boolean {
  const allowed = config.allowedFileTypes ?? [];
  const customAllowed = allowed.includes("custom");
  const typeAllowed = allowed.length === 0 || allowed.includes(type);
  if (!typeAllowed && !customAllowed) return false;
  const inCustom = type === "custom" || !typeAllowed;
  if (inCustom && config.allowedFileExtensions) {
    const e = normExt(extension);
    if (!e || !config.allowedFileExtensions.map(normExt).includes(e)) return false;
  }
  if (config.allowedFileUploadMethods.length && !config.allowedFileUploadMethods.includes(method)) return false;
  return true;
}

// Writes the release archives (.tar.gz, .zip) and npm package tarballs without external tools, so
// the bytes are the same on every build machine: fixed owner (0:0), fixed modes, one timestamp.
// Compression runs on libuv's thread pool (zlib's async API), so archives built together use every
// core.
import { readFileSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import zlib from "node:zlib";

const gzip = promisify(zlib.gzip);
const deflateRaw = promisify(zlib.deflateRaw);

/** gzip/deflate level: 6 is gzip's default; 9 costs twice the time for <1% on these binaries. */
export const LEVEL = 6;

/**
 * An entry: { name, data?: Buffer|string, file?: path, mode?: number, dir?: true }.
 * Directories are listed explicitly so every extractor creates them with the same mode.
 */
const body = (e) => (e.dir ? Buffer.alloc(0) : Buffer.isBuffer(e.data) ? e.data : typeof e.data === "string" ? Buffer.from(e.data) : readFileSync(e.file));

function octal(buf, off, len, value) {
  buf.write(value.toString(8).padStart(len - 1, "0") + "\0", off, len, "latin1");
}

function tarHeader(name, size, mode, mtime, dir) {
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    // ustar splits long names at a slash: prefix (155) + name (100).
    const cut = name.lastIndexOf("/", 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: name too long: ${name}`);
    prefix = name.slice(0, cut);
    name = name.slice(cut + 1);
  }
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  octal(h, 100, 8, mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(" ", 148, 156);
  h.write(dir ? "5" : "0", 156, 1, "latin1");
  h.write("ustar\0" + "00", 257, 8, "latin1");
  h.write("root", 265, 32, "latin1");
  h.write("root", 297, 32, "latin1");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  return h;
}

/** The uncompressed ustar stream of `entries`. */
export function tar(entries, mtime) {
  const parts = [];
  for (const e of entries) {
    const data = body(e);
    const name = e.dir && !e.name.endsWith("/") ? e.name + "/" : e.name;
    parts.push(tarHeader(name, data.length, e.mode ?? (e.dir ? 0o755 : 0o644), mtime, e.dir));
    parts.push(data);
    if (data.length % 512) parts.push(Buffer.alloc(512 - (data.length % 512)));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export async function writeTarGz(outFile, entries, mtime) {
  const out = await gzip(tar(entries, mtime), { level: LEVEL });
  writeFileSync(outFile, out);
  return out.length;
}

// CRC-32 (zip's, the same polynomial as gzip): zlib.crc32 where Node has it.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
export function crc32(buf) {
  if (typeof zlib.crc32 === "function") return zlib.crc32(buf) >>> 0;
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function dosTime(unixSeconds) {
  const d = new Date(unixSeconds * 1000);
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
  const date = ((Math.max(d.getUTCFullYear(), 1980) - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  return { time, date };
}

/** A zip file (deflate, no zip64: every entry and the whole file stay under 4 GiB). */
export async function writeZip(outFile, entries, mtime) {
  const { time, date } = dosTime(mtime);
  const compressed = await Promise.all(entries.map(async (e) => {
    const data = body(e);
    const packed = e.dir ? data : await deflateRaw(data, { level: LEVEL });
    return { e, data, packed, crc: crc32(data) };
  }));
  const locals = [];
  const central = [];
  let offset = 0;
  for (const { e, data, packed, crc } of compressed) {
    const name = Buffer.from(e.dir && !e.name.endsWith("/") ? e.name + "/" : e.name, "utf8");
    const method = e.dir ? 0 : 8;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, packed);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(0x0314, 4); // made by: Unix, so unzip restores the mode bits below
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(0x0800, 8);
    c.writeUInt16LE(method, 10);
    c.writeUInt16LE(time, 12);
    c.writeUInt16LE(date, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(packed.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(name.length, 28);
    const mode = (e.dir ? 0o040000 : 0o100000) | (e.mode ?? (e.dir ? 0o755 : 0o644));
    c.writeUInt32LE(((mode << 16) | (e.dir ? 0x10 : 0)) >>> 0, 38);
    c.writeUInt32LE(offset, 42);
    central.push(c, name);
    offset += local.length + name.length + packed.length;
  }
  const cdSize = central.reduce((n, b) => n + b.length, 0);
  if (offset + cdSize > 0xffffffff) throw new Error("zip: over 4 GiB needs zip64");
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  const out = Buffer.concat([...locals, ...central, end]);
  writeFileSync(outFile, out);
  return out.length;
}

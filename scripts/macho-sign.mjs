// Mach-O code signatures of the darwin binaries: a checker that recomputes what macOS checks at
// launch, and an ad hoc signer for machines without Apple's codesign.
//
// Why: `bun build --compile --target=bun-darwin-x64` appends the app to a copy of Bun's own
// binary and keeps Bun's original signature, whose page hashes and codeLimit then no longer match
// the file; macOS kills such a binary at launch (SIGKILL). An ad hoc signature (no certificate,
// just the CodeDirectory's hashes) is what the linker itself writes for arm64 and what Bun writes
// for darwin-arm64: the same layout is written here (sign() reproduces Bun's darwin-arm64
// signature byte for byte, see tests/release-macho.test.ts).
//
//   node scripts/macho-sign.mjs verify <file>…   recomputes every hash; exit 1 on any problem
//   node scripts/macho-sign.mjs sign <file>…     replaces the signature with an ad hoc one
import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";

const MH_MAGIC_64 = 0xfeedfacf;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CSSLOT_CODEDIRECTORY = 0;
const CSSLOT_ALTERNATE_CODEDIRECTORIES = 0x1000; // up to 5 more CodeDirectories (other hash types)
const CS_ADHOC = 0x2;
const CS_LINKER_SIGNED = 0x20000;
const CS_EXECSEG_MAIN_BINARY = 0x1;
const HASHES = { 1: ["sha1", 20], 2: ["sha256", 32], 3: ["sha256", 20] }; // 3: SHA-256 truncated to 20 bytes
// Special slots hash other blobs of the signature: -2 requirements, -5 entitlements, -7 DER entitlements.
// -1 (Info.plist) and -3 (resources) must stay empty: a bare binary has neither.
const SPECIAL_BLOB_SLOTS = { 2: 2, 5: 5, 7: 7 };
const PAGE_SHIFT = 12;

/** Load commands of a thin 64-bit Mach-O: segments by name and the LC_CODE_SIGNATURE entry. */
export function parseMachO(buf) {
  if (buf.length < 32 || buf.readUInt32LE(0) !== MH_MAGIC_64) throw new Error("not a 64-bit little-endian Mach-O file");
  const ncmds = buf.readUInt32LE(16);
  const sizeofcmds = buf.readUInt32LE(20);
  const segments = {};
  let codeSignature = null;
  let off = 32;
  for (let i = 0; i < ncmds; i++) {
    if (off + 8 > 32 + sizeofcmds) throw new Error("load commands run past sizeofcmds");
    const cmd = buf.readUInt32LE(off);
    const size = buf.readUInt32LE(off + 4);
    if (size < 8) throw new Error(`load command ${i} has size ${size}`);
    if (cmd === LC_SEGMENT_64) {
      const name = buf.toString("latin1", off + 8, off + 24).replace(/\0.*$/s, "");
      segments[name] = {
        cmdOffset: off,
        vmaddr: Number(buf.readBigUInt64LE(off + 24)),
        vmsize: Number(buf.readBigUInt64LE(off + 32)),
        fileoff: Number(buf.readBigUInt64LE(off + 40)),
        filesize: Number(buf.readBigUInt64LE(off + 48)),
      };
    } else if (cmd === LC_CODE_SIGNATURE) {
      codeSignature = { cmdOffset: off, dataoff: buf.readUInt32LE(off + 8), datasize: buf.readUInt32LE(off + 12) };
    }
    off += size;
  }
  return { cputype: buf.readUInt32LE(4), segments, codeSignature, headerEnd: off };
}

function readCodeDirectory(buf, at, end) {
  const u32 = (o) => buf.readUInt32BE(at + o);
  const length = u32(4);
  if (at + length > end) throw new Error("CodeDirectory runs past the signature");
  const version = u32(8);
  const cd = {
    length,
    version,
    flags: u32(12),
    hashOffset: u32(16),
    identOffset: u32(20),
    nSpecialSlots: u32(24),
    nCodeSlots: u32(28),
    codeLimit: u32(32),
    hashSize: buf[at + 36],
    hashType: buf[at + 37],
    pageSize: buf[at + 39],
    codeLimit64: version >= 0x20300 ? Number(buf.readBigUInt64BE(at + 56)) : 0,
    execSegBase: version >= 0x20400 ? Number(buf.readBigUInt64BE(at + 64)) : null,
    execSegLimit: version >= 0x20400 ? Number(buf.readBigUInt64BE(at + 72)) : null,
    execSegFlags: version >= 0x20400 ? Number(buf.readBigUInt64BE(at + 80)) : null,
  };
  const idEnd = buf.indexOf(0, at + cd.identOffset);
  cd.identifier = buf.toString("utf8", at + cd.identOffset, idEnd);
  cd.hashAt = (slot) => at + cd.hashOffset + slot * cd.hashSize; // slot < 0: special slots
  return cd;
}

/**
 * Recomputes what the kernel checks: every page hash of every CodeDirectory against the file,
 * codeLimit against the signature's own offset (everything before the signature must be covered),
 * the special-slot hashes of the signature's other blobs, and the load commands' sizes.
 * Returns { problems: string[], pages, identifier, flags, hashTypes } (no problems = valid).
 */
export function verifySignature(buf) {
  const problems = [];
  let macho;
  try { macho = parseMachO(buf); } catch (e) { return { problems: [e.message], pages: 0 }; }
  const cs = macho.codeSignature;
  if (!cs) return { problems: ["no LC_CODE_SIGNATURE: the binary is unsigned (macOS on arm64 refuses to run it)"], pages: 0 };
  const linkedit = macho.segments.__LINKEDIT;
  const sigEnd = cs.dataoff + cs.datasize;
  if (sigEnd > buf.length) return { problems: [`signature (${cs.dataoff}+${cs.datasize}) runs past the end of the file (${buf.length})`], pages: 0 };
  if (!linkedit || cs.dataoff < linkedit.fileoff || sigEnd > linkedit.fileoff + linkedit.filesize) problems.push("signature lies outside __LINKEDIT");
  if (linkedit && linkedit.fileoff + linkedit.filesize !== buf.length) problems.push(`__LINKEDIT ends at ${linkedit.fileoff + linkedit.filesize}, the file at ${buf.length} (data outside any segment)`);
  if (buf.readUInt32BE(cs.dataoff) !== CSMAGIC_EMBEDDED_SIGNATURE) return { problems: [...problems, "signature is not an embedded-signature SuperBlob"], pages: 0 };

  const count = buf.readUInt32BE(cs.dataoff + 8);
  const blobs = [];
  for (let i = 0; i < count; i++) {
    const type = buf.readUInt32BE(cs.dataoff + 12 + i * 8);
    const at = cs.dataoff + buf.readUInt32BE(cs.dataoff + 16 + i * 8);
    if (at + 8 > sigEnd) { problems.push(`blob ${type} lies outside the signature`); continue; }
    blobs.push({ type, at, magic: buf.readUInt32BE(at), length: buf.readUInt32BE(at + 4) });
  }
  const cds = blobs.filter((b) => (b.type === CSSLOT_CODEDIRECTORY || (b.type >= CSSLOT_ALTERNATE_CODEDIRECTORIES && b.type < CSSLOT_ALTERNATE_CODEDIRECTORIES + 5)));
  if (!cds.some((b) => b.type === CSSLOT_CODEDIRECTORY)) problems.push("no CodeDirectory in slot 0");
  let pages = 0;
  const out = { problems, pages: 0, identifier: null, flags: 0, hashTypes: [] };
  for (const b of cds) {
    if (b.magic !== CSMAGIC_CODEDIRECTORY) { problems.push(`slot ${b.type}: magic ${b.magic.toString(16)} is not a CodeDirectory`); continue; }
    let cd;
    try { cd = readCodeDirectory(buf, b.at, sigEnd); } catch (e) { problems.push(e.message); continue; }
    const hash = HASHES[cd.hashType];
    if (!hash || hash[1] !== cd.hashSize) { problems.push(`CodeDirectory hash type ${cd.hashType} / size ${cd.hashSize} is not supported`); continue; }
    const limit = cd.codeLimit64 || cd.codeLimit;
    const tag = `CodeDirectory ${hash[0]}${b.type ? ` (slot 0x${b.type.toString(16)})` : ""}`;
    if (limit !== cs.dataoff) problems.push(`${tag}: codeLimit ${limit} != signature offset ${cs.dataoff} (${cs.dataoff - limit} bytes are not covered)`);
    const pageSize = cd.pageSize ? 1 << cd.pageSize : limit;
    const want = Math.ceil(limit / pageSize);
    if (cd.nCodeSlots !== want) problems.push(`${tag}: ${cd.nCodeSlots} page hashes for ${want} pages`);
    let bad = 0;
    let firstBad = -1;
    const n = Math.min(cd.nCodeSlots, Math.ceil(Math.min(limit, buf.length) / pageSize));
    for (let p = 0; p < n; p++) {
      const start = p * pageSize;
      const got = createHash(hash[0]).update(buf.subarray(start, Math.min(start + pageSize, limit))).digest().subarray(0, cd.hashSize);
      if (!got.equals(buf.subarray(cd.hashAt(p), cd.hashAt(p) + cd.hashSize))) { bad++; if (firstBad < 0) firstBad = p; }
    }
    if (bad) problems.push(`${tag}: ${bad} of ${cd.nCodeSlots} page hashes do not match (first: page ${firstBad})`);
    for (const [blobType, slot] of Object.entries(SPECIAL_BLOB_SLOTS)) {
      if (slot > cd.nSpecialSlots) continue;
      const blob = blobs.find((x) => x.type === Number(blobType));
      const stored = buf.subarray(cd.hashAt(-slot), cd.hashAt(-slot) + cd.hashSize);
      const expect = blob ? createHash(hash[0]).update(buf.subarray(blob.at, blob.at + blob.length)).digest().subarray(0, cd.hashSize) : Buffer.alloc(cd.hashSize);
      if (!stored.equals(expect)) problems.push(`${tag}: special slot -${slot} does not match ${blob ? "its blob" : "an absent blob"}`);
    }
    for (const slot of [1, 3]) {
      if (slot <= cd.nSpecialSlots && buf.subarray(cd.hashAt(-slot), cd.hashAt(-slot) + cd.hashSize).some((x) => x !== 0)) problems.push(`${tag}: special slot -${slot} is set but the binary has no bundle`);
    }
    const text = macho.segments.__TEXT;
    if (cd.execSegLimit !== null && text && (cd.execSegBase !== text.fileoff || cd.execSegLimit !== text.filesize)) problems.push(`${tag}: executable segment ${cd.execSegBase}+${cd.execSegLimit} is not __TEXT (${text.fileoff}+${text.filesize})`);
    if (b.type === CSSLOT_CODEDIRECTORY) { out.identifier = cd.identifier; out.flags = cd.flags; }
    out.hashTypes.push(hash[0]);
    pages += cd.nCodeSlots;
  }
  out.pages = pages;
  return out;
}

/** Bytes of the ad hoc signature for a file whose first `codeLimit` bytes are `code`. */
function adhocSignature(code, codeLimit, identifier, text) {
  const nSlots = Math.ceil(codeLimit / (1 << PAGE_SHIFT));
  const id = Buffer.from(identifier + "\0", "utf8");
  const cdHeader = 88; // CodeDirectory version 0x20400 (through the exec-segment fields)
  const hashOffset = cdHeader + id.length;
  const cdLength = hashOffset + nSlots * 32;
  const total = 12 + 8 + cdLength; // SuperBlob header, one index entry, the CodeDirectory
  const sig = Buffer.alloc(total);
  sig.writeUInt32BE(CSMAGIC_EMBEDDED_SIGNATURE, 0);
  sig.writeUInt32BE(total, 4);
  sig.writeUInt32BE(1, 8);
  sig.writeUInt32BE(CSSLOT_CODEDIRECTORY, 12);
  sig.writeUInt32BE(20, 16);
  const cd = 20;
  sig.writeUInt32BE(CSMAGIC_CODEDIRECTORY, cd);
  sig.writeUInt32BE(cdLength, cd + 4);
  sig.writeUInt32BE(0x20400, cd + 8);
  // What ld64 writes: ad hoc, "linker signed" (codesign may replace it without --force).
  sig.writeUInt32BE(CS_ADHOC | CS_LINKER_SIGNED, cd + 12);
  sig.writeUInt32BE(hashOffset, cd + 16);
  sig.writeUInt32BE(cdHeader, cd + 20);
  sig.writeUInt32BE(0, cd + 24); // no special slots: no requirements, no entitlements
  sig.writeUInt32BE(nSlots, cd + 28);
  sig.writeUInt32BE(codeLimit, cd + 32);
  sig[cd + 36] = 32;
  sig[cd + 37] = 2; // SHA-256
  sig[cd + 39] = PAGE_SHIFT;
  sig.writeBigUInt64BE(BigInt(text.fileoff), cd + 64);
  sig.writeBigUInt64BE(BigInt(text.filesize), cd + 72);
  sig.writeBigUInt64BE(BigInt(CS_EXECSEG_MAIN_BINARY), cd + 80);
  id.copy(sig, cd + cdHeader);
  for (let p = 0; p < nSlots; p++) {
    const start = p << PAGE_SHIFT;
    createHash("sha256").update(code.subarray(start, Math.min(start + (1 << PAGE_SHIFT), codeLimit))).digest().copy(sig, cd + hashOffset + p * 32);
  }
  return sig;
}

/**
 * Returns a copy of `buf` with its signature replaced by an ad hoc one. The signature must be the
 * last thing in __LINKEDIT (as the linker and Bun leave it); the new one starts at the same offset,
 * and LC_CODE_SIGNATURE and __LINKEDIT are resized to it before the pages are hashed (the load
 * commands live in page 0).
 */
export function sign(buf, identifier) {
  if (!identifier || identifier.includes("\0")) throw new Error("an identifier is required");
  const macho = parseMachO(buf);
  const cs = macho.codeSignature;
  const linkedit = macho.segments.__LINKEDIT;
  const text = macho.segments.__TEXT;
  if (!cs) throw new Error("no LC_CODE_SIGNATURE to fill (re-link with -adhoc_codesign, or sign on macOS)");
  if (!linkedit || !text) throw new Error("no __LINKEDIT or __TEXT segment");
  if (cs.dataoff + cs.datasize !== linkedit.fileoff + linkedit.filesize || linkedit.fileoff + linkedit.filesize !== buf.length) {
    throw new Error("the signature is not the last thing in the file");
  }
  const codeLimit = cs.dataoff;
  const nSlots = Math.ceil(codeLimit / (1 << PAGE_SHIFT));
  const sigSize = 20 + 88 + Buffer.byteLength(identifier) + 1 + nSlots * 32;
  const code = Buffer.from(buf.subarray(0, codeLimit)); // a copy: the header is patched below
  code.writeUInt32LE(sigSize, cs.cmdOffset + 12);
  const linkeditFileSize = codeLimit + sigSize - linkedit.fileoff;
  // The last segment's memory size: at least its file size, in 4 KiB pages (as Bun leaves it on arm64 too).
  const vmsize = Math.max(linkedit.vmsize, Math.ceil(linkeditFileSize / 0x1000) * 0x1000);
  code.writeBigUInt64LE(BigInt(linkeditFileSize), linkedit.cmdOffset + 48);
  code.writeBigUInt64LE(BigInt(vmsize), linkedit.cmdOffset + 32);
  return Buffer.concat([code, adhocSignature(code, codeLimit, identifier, text)]);
}

/** Signs a file in place (write to a temp file, then rename). */
export function signFile(file, identifier = basename(file).replace(/-\d+\.\d+\.\d+.*$/, "")) {
  const out = sign(readFileSync(file), identifier);
  const tmp = `${file}.signing-${process.pid}`;
  writeFileSync(tmp, out, { mode: 0o755 });
  renameSync(tmp, file);
  return out.length;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, ...files] = process.argv.slice(2);
  let failed = false;
  for (const f of files) {
    if (cmd === "sign") {
      signFile(f);
      console.log(`signed ${f} (ad hoc)`);
    } else if (cmd === "verify") {
      const r = verifySignature(readFileSync(f));
      if (r.problems.length) { failed = true; console.error(`FAIL ${f}:\n  ${r.problems.join("\n  ")}`); }
      else console.log(`ok   ${f}: ${r.pages} page hashes match (${r.hashTypes.join(", ")}), identifier ${r.identifier}, flags 0x${r.flags.toString(16)}`);
    } else {
      console.error("usage: node scripts/macho-sign.mjs verify|sign <file>…");
      process.exit(2);
    }
  }
  if (failed) process.exit(1);
}

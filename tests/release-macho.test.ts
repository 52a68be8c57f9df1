// The darwin signature gate on real binaries: both darwin targets are compiled here (cross, ~1 s
// each), signed ad hoc by scripts/macho-sign.mjs and checked by recomputing every page hash —
// what macOS does at launch. The signer is held to an independent implementation: re-signing
// Bun's own darwin-arm64 output (which runs on Apple silicon) reproduces it byte for byte.
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT, tempDir } from "./helpers.ts";
import { tinyMachO } from "./release-fixtures.ts";
// @ts-ignore -- plain .mjs build scripts
import { compile } from "../scripts/build-lib.mjs";
// @ts-ignore
import { ensureAddons } from "../scripts/fetch-keyring-addons.mjs";
// @ts-ignore
import { parseMachO, sign, signFile, verifySignature } from "../scripts/macho-sign.mjs";
// @ts-ignore
import { CORE_TARGETS } from "../scripts/targets.mjs";

const dir = tempDir("difyctl-macho-");
const raw: Record<string, string> = {};
const signed: Record<string, string> = {};

beforeAll(() => {
  ensureAddons(["darwin-x64", "darwin-arm64"], () => {});
  for (const id of ["darwin-x64", "darwin-arm64"]) {
    const t = CORE_TARGETS.find((x: any) => x.id === id);
    raw[id] = join(dir, `${id}.raw`);
    compile({ target: t.bun, outfile: relative(ROOT, raw[id]), addon: t.addon });
    signed[id] = join(dir, id);
    copyFileSync(raw[id], signed[id]);
    signFile(signed[id], "difyctl");
  }
}, 120_000);

const verify = (f: string | Buffer) => verifySignature(typeof f === "string" ? readFileSync(f) : f);

describe("real darwin binaries", () => {
  for (const id of ["darwin-x64", "darwin-arm64"]) {
    test(`${id}: after signing, every page hash matches and codeLimit reaches the signature`, () => {
      const buf = readFileSync(signed[id]);
      const r = verify(buf);
      expect(r.problems).toEqual([]);
      const { codeSignature } = parseMachO(buf);
      expect(r.pages).toBe(Math.ceil(codeSignature.dataoff / 4096));
      expect(r.pages).toBeGreaterThan(20_000); // the whole ~100 MB binary, the embedded app included
      expect(r.identifier).toBe("difyctl");
      expect(r.flags).toBe(0x20002); // ad hoc, linker-signed
      expect(buf.length).toBe(codeSignature.dataoff + codeSignature.datasize);
    });
  }

  test("signing Bun's darwin-arm64 output again (same identifier) reproduces it byte for byte", () => {
    const bun = readFileSync(raw["darwin-arm64"]);
    const r = verify(bun);
    expect(r.problems).toEqual([]); // Bun signs its arm64 output itself
    expect(sign(bun, r.identifier).equals(bun)).toBe(true);
  });

  test("signing is idempotent and changes nothing but the signature and its two size fields", () => {
    const once = readFileSync(signed["darwin-x64"]);
    expect(sign(once, "difyctl").equals(once)).toBe(true);
    const rawBuf = readFileSync(raw["darwin-x64"]);
    const { codeSignature: cs, segments } = parseMachO(rawBuf);
    const diff: number[] = [];
    for (let i = 0; i < cs.dataoff; i++) if (rawBuf[i] !== once[i]) diff.push(i);
    const allowed = (i: number) => (i >= cs.cmdOffset + 12 && i < cs.cmdOffset + 16) || (i >= segments.__LINKEDIT.cmdOffset + 32 && i < segments.__LINKEDIT.cmdOffset + 56);
    expect(diff.filter((i) => !allowed(i))).toEqual([]);
  });

  test("one changed byte anywhere in the code fails the gate, naming the page", () => {
    const buf = readFileSync(signed["darwin-arm64"]);
    const { codeSignature } = parseMachO(buf);
    for (const at of [0x100, 40_000_000, codeSignature.dataoff - 1]) {
      const t = Buffer.from(buf);
      t[at] ^= 0x20;
      const r = verify(t);
      expect(r.problems).toEqual([`CodeDirectory sha256: 1 of ${r.pages} page hashes do not match (first: page ${Math.floor(at / 4096)})`]);
    }
  });

  test("the CLI exits 1 on a tampered binary and 0 on the signed ones", () => {
    const t = join(dir, "tampered");
    const buf = readFileSync(signed["darwin-x64"]);
    buf[12_345_678] ^= 1;
    writeFileSync(t, buf);
    const bad = Bun.spawnSync(["node", join(ROOT, "scripts", "macho-sign.mjs"), "verify", t]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.toString()).toContain(`FAIL ${t}`);
    expect(bad.stderr.toString()).toContain("page hashes do not match (first: page 3014)");
    const ok = Bun.spawnSync(["node", join(ROOT, "scripts", "macho-sign.mjs"), "verify", signed["darwin-x64"], signed["darwin-arm64"]]);
    expect(ok.stderr.toString()).toBe("");
    expect(ok.exitCode).toBe(0);
    rmSync(t);
  });
});

describe("what the gate catches (small Mach-O files)", () => {
  test("a signature whose codeLimit stops before the end of the code (Bun's darwin-x64 fault)", () => {
    const buf = tinyMachO("x64", 4);
    const { codeSignature: cs } = parseMachO(buf);
    // Re-sign as if the file had been one page shorter, then put the page back: the signature no
    // longer covers it, as when an app is appended after signing.
    const shortened = Buffer.from(buf);
    const cd = cs.dataoff + 20;
    shortened.writeUInt32BE(cs.dataoff - 4096, cd + 32);
    const r = verify(shortened);
    expect(r.problems).toContain(`CodeDirectory sha256: codeLimit ${cs.dataoff - 4096} != signature offset ${cs.dataoff} (4096 bytes are not covered)`);
    expect(r.problems).toContain("CodeDirectory sha256: 4 page hashes for 3 pages");
  });

  test("a truncated file, data after the signature, a missing signature", () => {
    const buf = tinyMachO("arm64", 2);
    expect(verify(buf.subarray(0, buf.length - 10)).problems[0]).toMatch(/runs past the end of the file/);
    expect(verify(Buffer.concat([buf, Buffer.from("extra")])).problems).toEqual([`__LINKEDIT ends at ${buf.length}, the file at ${buf.length + 5} (data outside any segment)`]);
    const unsigned = Buffer.from(buf);
    unsigned.writeUInt32LE(0x99, 176); // LC_CODE_SIGNATURE -> an unknown command
    expect(verify(unsigned).problems[0]).toMatch(/unsigned/);
    expect(verify(Buffer.from("MZ not mach-o")).problems[0]).toMatch(/not a 64-bit/);
  });

  test("a signature's hash table tampered with (the hash, not the code)", () => {
    const buf = tinyMachO("arm64", 2);
    const { codeSignature: cs } = parseMachO(buf);
    const t = Buffer.from(buf);
    t[cs.dataoff + cs.datasize - 1] ^= 1; // last byte of the last page hash
    expect(verify(t).problems).toEqual(["CodeDirectory sha256: 1 of 2 page hashes do not match (first: page 1)"]);
  });
});

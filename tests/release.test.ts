// The release pipeline without building all eight targets (scripts/release.mjs does that in CI):
// a small release dir (stand-in binaries; the darwin ones are tiny signed Mach-O files) goes through
// the real packaging — signature gate, archives, SHA256SUMS, the Homebrew formula, the winget
// manifests (checked against the official schemas), the npm packages — and the results are checked
// against the files. The embed check is exercised on synthetic binaries; one host build proves
// version/channel/commit flow from buildInfo() into `difyctl version`.
import { beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import Ajv from "ajv";
import YAML from "yaml";
import { ROOT, tempDir } from "./helpers.ts";
import { tinyMachO } from "./release-fixtures.ts";
// @ts-ignore -- plain .mjs build scripts
import { packageRelease, readChecksums, writePackaging, COMPLETION_FILES } from "../scripts/release.mjs";
// @ts-ignore
import { RELEASE_TARGETS, ALL_ADDONS, releaseName, archiveName, hostAddon } from "../scripts/targets.mjs";
// @ts-ignore
import { checkBinary, embeddedAddonNames } from "../scripts/verify-embed.mjs";
// @ts-ignore
import { ensureAddon, ensureAddons } from "../scripts/fetch-keyring-addons.mjs";
// @ts-ignore
import { releaseBaseUrl } from "../packaging/project.mjs";
// @ts-ignore
import { NPM_PLATFORMS } from "../packaging/npm.mjs";

const VERSION = "1.2.3";
const MTIME = 1_760_000_000; // 2025-10-09
const sha256 = (data: string | Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest("hex");
const BASE = releaseBaseUrl(ROOT) as string;
const COMPLETIONS = { bash: "complete -F _difyctl difyctl # bash\n", zsh: "#compdef difyctl\n", fish: "complete -c difyctl\n", powershell: "Register-ArgumentCompleter -CommandName difyctl\n" };
const ARCHIVES = [
  "difyctl-1.2.3-darwin-arm64.tar.gz", "difyctl-1.2.3-darwin-x64.tar.gz", "difyctl-1.2.3-linux-arm64-musl.tar.gz", "difyctl-1.2.3-linux-arm64.tar.gz",
  "difyctl-1.2.3-linux-x64-baseline.tar.gz", "difyctl-1.2.3-linux-x64-musl.tar.gz", "difyctl-1.2.3-linux-x64.tar.gz", "difyctl-1.2.3-windows-x64.zip",
];

/** bin/ with one stand-in per target: random bytes, or a tiny signed Mach-O for darwin. */
function fakeBinaries(dir: string, skip: (t: any) => boolean = () => false): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  for (const t of RELEASE_TARGETS) {
    if (skip(t)) continue;
    const data = t.os === "darwin" ? tinyMachO(t.arch) : crypto.getRandomValues(new Uint8Array(64));
    writeFileSync(join(bin, releaseName(VERSION, t)), data, { mode: 0o755 });
  }
  return bin;
}

async function fakeRelease(): Promise<string> {
  const dir = tempDir("difyctl-release-");
  fakeBinaries(dir);
  await packageRelease({ dir, version: VERSION, root: ROOT, completions: COMPLETIONS, mtime: MTIME });
  return dir;
}

/** Files of a .tar.gz as { name: { mode, data } }, read with a small ustar reader (independent of the writer). */
function untar(file: string): Record<string, { mode: number; type: string; data: Buffer }> {
  const buf = gunzipSync(readFileSync(file));
  const out: Record<string, { mode: number; type: string; data: Buffer }> = {};
  for (let off = 0; off + 512 <= buf.length;) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number) => h.toString("utf8", a, a + n).replace(/\0.*$/s, "");
    const size = parseInt(str(124, 12), 8);
    const name = (str(345, 155) ? str(345, 155) + "/" : "") + str(0, 100);
    out[name] = { mode: parseInt(str(100, 8), 8), type: str(156, 1), data: buf.subarray(off + 512, off + 512 + size) };
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe("release dir: archives, SHA256SUMS, Homebrew formula, winget manifests, npm packages", () => {
  let dir: string;
  beforeAll(async () => { dir = await fakeRelease(); });

  test("archives are named difyctl-<version>-<os>-<arch>.tar.gz (.zip for Windows); SHA256SUMS covers each with its real hash", () => {
    const names = readdirSync(dir).filter((f) => f.startsWith("difyctl-")).sort();
    expect(names).toEqual(ARCHIVES);
    const lines = readFileSync(join(dir, "SHA256SUMS"), "utf8").trim().split("\n");
    for (const n of [...names, "install.sh", "VERSION"]) expect(lines).toContain(`${sha256(readFileSync(join(dir, n)))}  ${n}`);
    expect(lines.length).toBe(names.length + 2);
    expect(readFileSync(join(dir, "VERSION"), "utf8")).toBe("1.2.3\n");
    expect(readFileSync(join(dir, "install.sh"), "utf8")).toBe(readFileSync(join(ROOT, "install.sh"), "utf8"));
    // The binaries stay in bin/ (the archives hold them); nothing else is published.
    expect(readdirSync(dir).sort()).toEqual([...ARCHIVES, "SHA256SUMS", "VERSION", "bin", "homebrew", "install.sh", "npm", "winget"].sort());
  });

  test("each .tar.gz holds <name>/difyctl (0755, the exact binary), LICENSE, README.md and the bash/zsh/fish completions", () => {
    for (const t of RELEASE_TARGETS.filter((x: any) => !x.exe)) {
      const top = archiveName(VERSION, t).replace(/\.tar\.gz$/, "");
      const files = untar(join(dir, archiveName(VERSION, t)));
      expect(Object.keys(files).sort()).toEqual([
        `${top}/`, `${top}/LICENSE`, `${top}/README.md`, `${top}/completions/`,
        `${top}/completions/_difyctl`, `${top}/completions/difyctl.bash`, `${top}/completions/difyctl.fish`, `${top}/difyctl`,
      ].sort());
      expect(files[`${top}/difyctl`].mode).toBe(0o755);
      expect(files[`${top}/difyctl`].data.equals(readFileSync(join(dir, "bin", releaseName(VERSION, t))))).toBe(true);
      expect(files[`${top}/LICENSE`].data.toString()).toBe(readFileSync(join(ROOT, "LICENSE"), "utf8"));
      expect(files[`${top}/README.md`].data.toString()).toBe(readFileSync(join(ROOT, "README.md"), "utf8"));
      for (const [shell, name] of Object.entries(COMPLETION_FILES as Record<string, string>)) {
        expect(files[`${top}/completions/${name}`].data.toString()).toBe(COMPLETIONS[shell as keyof typeof COMPLETIONS]);
      }
      expect(files[`${top}/`].type).toBe("5");
    }
  });

  test("GNU tar and busybox tar extract an archive to the same bytes", () => {
    const t = RELEASE_TARGETS.find((x: any) => x.id === "linux-arm64-musl");
    for (const tool of [["tar"], ["busybox", "tar"]]) {
      const out = tempDir("difyctl-untar-");
      const r = Bun.spawnSync([...tool, "-xzf", join(dir, archiveName(VERSION, t)), "-C", out]);
      expect(r.stderr.toString()).toBe("");
      expect(r.exitCode).toBe(0);
      const bin = join(out, `difyctl-${VERSION}-linux-arm64-musl`, "difyctl");
      expect(readFileSync(bin).equals(readFileSync(join(dir, "bin", releaseName(VERSION, t))))).toBe(true);
      expect(Bun.spawnSync(["test", "-x", bin]).exitCode).toBe(0);
    }
  });

  test("the Windows .zip holds difyctl.exe, LICENSE, README.md and completions (PowerShell too); unzip checks every CRC", () => {
    const zip = join(dir, `difyctl-${VERSION}-windows-x64.zip`);
    const t = Bun.spawnSync(["unzip", "-t", zip]);
    expect(t.stdout.toString()).toContain("No errors detected");
    const out = tempDir("difyctl-unzip-");
    expect(Bun.spawnSync(["unzip", "-q", zip, "-d", out]).exitCode).toBe(0);
    const top = join(out, `difyctl-${VERSION}-windows-x64`);
    expect(readdirSync(top).sort()).toEqual(["LICENSE", "README.md", "completions", "difyctl.exe"]);
    expect(readdirSync(join(top, "completions")).sort()).toEqual(["_difyctl", "difyctl.bash", "difyctl.fish", "difyctl.ps1"]);
    expect(readFileSync(join(top, "difyctl.exe")).equals(readFileSync(join(dir, "bin", `difyctl-${VERSION}-windows-x64.exe`)))).toBe(true);
    expect(readFileSync(join(top, "completions", "difyctl.ps1"), "utf8")).toBe(COMPLETIONS.powershell);
    // A second, independent reader (busybox unzip) agrees.
    const bb = tempDir("difyctl-unzip-bb-");
    expect(Bun.spawnSync(["busybox", "unzip", "-q", zip, "-d", bb]).exitCode).toBe(0);
    expect(readFileSync(join(bb, `difyctl-${VERSION}-windows-x64`, "difyctl.exe")).equals(readFileSync(join(top, "difyctl.exe")))).toBe(true);
  });

  test("archives are reproducible: the same inputs give the same bytes", async () => {
    const again = tempDir("difyctl-release-again-");
    mkdirSync(join(again, "bin"));
    for (const f of readdirSync(join(dir, "bin"))) writeFileSync(join(again, "bin", f), readFileSync(join(dir, "bin", f)));
    await packageRelease({ dir: again, version: VERSION, root: ROOT, completions: COMPLETIONS, mtime: MTIME, npm: false });
    expect(readFileSync(join(again, "SHA256SUMS"), "utf8")).toBe(readFileSync(join(dir, "SHA256SUMS"), "utf8"));
  });

  test("Homebrew formula: one archive url+sha256 per OS/CPU, matching the files; livecheck; completions; test do", () => {
    const rb = readFileSync(join(dir, "homebrew", "difyctl.rb"), "utf8");
    const found: Record<string, { url: string; sha256: string }> = {};
    let os = "", cpu = "";
    for (const line of rb.split("\n")) {
      const block = line.match(/^\s*on_(macos|linux|arm|intel) do$/);
      if (block) { if (block[1] === "macos" || block[1] === "linux") os = block[1]; else cpu = block[1]; continue; }
      const kv = line.match(/^\s*(url|sha256) "([^"]+)"$/);
      if (kv && os) (found[`${os}-${cpu}`] ??= { url: "", sha256: "" })[kv[1] as "url" | "sha256"] = kv[2];
    }
    const want: Record<string, string> = {
      "macos-arm": "darwin-arm64", "macos-intel": "darwin-x64", "linux-arm": "linux-arm64", "linux-intel": "linux-x64-baseline",
    };
    expect(Object.keys(found).sort()).toEqual(Object.keys(want).sort());
    for (const [key, suffix] of Object.entries(want)) {
      const file = `difyctl-${VERSION}-${suffix}.tar.gz`;
      expect(found[key].url).toBe(`${BASE}/download/v${VERSION}/${file}`);
      expect(found[key].sha256).toBe(sha256(readFileSync(join(dir, file))));
    }
    expect(rb).toMatch(/^class Difyctl < Formula$/m);
    expect(rb).toContain(`version "${VERSION}"`);
    expect(rb).toMatch(/livecheck do\n\s+url "https:\/\/[^"]+\/latest\/download\/VERSION"\n\s+regex\(/);
    // The archive has one top directory, which Homebrew enters before `install` runs.
    expect(rb).toContain(`bin.install "difyctl"`);
    expect(rb).toContain(`generate_completions_from_executable(bin/"difyctl", "completion")`);
    expect(rb).toMatch(/test do\n\s+assert_match version\.to_s, shell_output\("#\{bin\}\/difyctl version"\)/);
    expect(rb).toContain(`shell_output("#{bin}/difyctl --version")`);
    const openers = rb.match(/(^class .*|^\s*def .*| do)$/gm)!.length;
    expect(openers).toBe(rb.match(/^\s*end$/gm)!.length); // blocks are balanced
  });

  test("Homebrew's livecheck regex takes the version from a VERSION file", () => {
    const rb = readFileSync(join(dir, "homebrew", "difyctl.rb"), "utf8");
    const src = rb.match(/regex\(\/(.+)\/i\)/)![1];
    const re = new RegExp(src.replace(/\\\//g, "/"), "im");
    expect("1.2.3\n".match(re)?.[1]).toBe("1.2.3");
    expect("v2.0.0-rc.1\n".match(re)?.[1]).toBe("2.0.0-rc.1");
    expect("<html>".match(re)).toBeNull();
  });

  const wingetDir = () => join(dir, "winget", "manifests", "l", "LangGenius", "difyctl", VERSION);
  const manifest = (kind: string) => YAML.parse(readFileSync(join(wingetDir(), `LangGenius.difyctl${kind}.yaml`), "utf8"));

  test("winget: zip with a nested portable difyctl.exe, the VC++ runtime dependency, release date, full locale", () => {
    expect(readdirSync(wingetDir()).sort()).toEqual(["LangGenius.difyctl.installer.yaml", "LangGenius.difyctl.locale.en-US.yaml", "LangGenius.difyctl.yaml"]);
    const zip = `difyctl-${VERSION}-windows-x64.zip`;
    const inst = manifest(".installer");
    expect(inst).toMatchObject({
      PackageIdentifier: "LangGenius.difyctl", PackageVersion: VERSION, InstallerType: "zip", NestedInstallerType: "portable",
      NestedInstallerFiles: [{ RelativeFilePath: `difyctl-${VERSION}-windows-x64\\difyctl.exe`, PortableCommandAlias: "difyctl" }],
      Commands: ["difyctl"], ManifestType: "installer", ManifestVersion: "1.12.0",
      Dependencies: { PackageDependencies: [{ PackageIdentifier: "Microsoft.VCRedist.2015+.x64" }] },
      ReleaseDate: "2025-10-09",
    });
    expect(inst.Installers).toEqual([{ Architecture: "x64", InstallerUrl: `${BASE}/download/v${VERSION}/${zip}`, InstallerSha256: sha256(readFileSync(join(dir, zip))).toUpperCase() }]);
    expect(manifest("")).toMatchObject({ PackageIdentifier: "LangGenius.difyctl", PackageVersion: VERSION, DefaultLocale: "en-US", ManifestType: "version" });
    const loc = manifest(".locale.en-US");
    expect(loc).toMatchObject({ PackageIdentifier: "LangGenius.difyctl", PackageVersion: VERSION, PackageLocale: "en-US", ManifestType: "defaultLocale", License: "Apache-2.0" });
    for (const k of ["LicenseUrl", "Copyright", "ShortDescription", "Description", "ReleaseNotesUrl", "PublisherSupportUrl", "PublisherUrl", "PackageUrl"]) expect(loc[k], k).toBeTruthy();
    expect(loc.ReleaseNotesUrl).toBe(`${BASE}/tag/v${VERSION}`);
    // The zip really holds the file the manifest points winget at.
    const list = Bun.spawnSync(["unzip", "-Z1", join(dir, zip)]).stdout.toString().split("\n");
    expect(list).toContain(inst.NestedInstallerFiles[0].RelativeFilePath.replace("\\", "/"));
  });

  for (const [kind, file] of [["version", ""], ["installer", ".installer"], ["defaultLocale", ".locale.en-US"]]) {
    test(`winget ${kind} manifest validates against the official 1.12.0 schema (and a strict copy that rejects unknown keys)`, () => {
      const m = manifest(file);
      expect(m.ManifestVersion).toBe("1.12.0");
      expect(wingetErrors(kind, m)).toEqual([]);
      expect(wingetErrors(kind, m, true)).toEqual([]);
    });
  }

  test("the schema check rejects what winget would: bad hash, missing field, wrong type, bad dependency, bad date, unknown key", () => {
    const good = manifest(".installer");
    const bad = (mutate: (m: any) => void, strict = false) => { const m = structuredClone(good); mutate(m); return wingetErrors("installer", m, strict).join("\n"); };
    expect(bad((m) => { m.Installers[0].InstallerSha256 = "abc"; })).toContain("/Installers/0/InstallerSha256");
    expect(bad((m) => { delete m.Installers[0].InstallerUrl; })).toContain("InstallerUrl");
    expect(bad((m) => { m.InstallerType = "tarball"; })).toContain("/InstallerType");
    expect(bad((m) => { m.NestedInstallerType = "tarball"; })).toContain("/NestedInstallerType");
    expect(bad((m) => { m.PackageIdentifier = "difyctl"; })).toContain("/PackageIdentifier");
    expect(bad((m) => { m.Dependencies.PackageDependencies = [{ MinimumVersion: "1" }]; })).toContain("PackageIdentifier");
    expect(bad((m) => { m.ReleaseDate = "9 Oct 2025"; })).toContain("/ReleaseDate");
    expect(bad((m) => { m.Comands = ["difyctl"]; }, true)).toContain("Comands");
  });

  test("npm: difyctl depends on one optional package per platform; each declares os/cpu/libc and holds its binary", () => {
    const files = readdirSync(join(dir, "npm")).sort();
    expect(files).toEqual([
      "difyctl-1.2.3.tgz", ...Object.keys(NPM_PLATFORMS).map((k) => `langgenius-difyctl-${k}-1.2.3.tgz`),
    ].sort());
    const main = untar(join(dir, "npm", "difyctl-1.2.3.tgz"));
    expect(Object.keys(main).sort()).toEqual(["package/LICENSE", "package/README.md", "package/bin/difyctl", "package/install.cjs", "package/package.json", "package/platform.cjs"]);
    const pkg = JSON.parse(main["package/package.json"].data.toString());
    expect(pkg).toMatchObject({ name: "difyctl", version: VERSION, bin: { difyctl: "bin/difyctl" }, scripts: { postinstall: "node install.cjs" }, license: "Apache-2.0" });
    expect(Object.keys(pkg.optionalDependencies).sort()).toEqual(Object.keys(NPM_PLATFORMS).map((k) => `@langgenius/difyctl-${k}`).sort());
    for (const v of Object.values(pkg.optionalDependencies)) expect(v).toBe(VERSION);
    expect(main["package/bin/difyctl"].mode).toBe(0o755);
    expect(main["package/platform.cjs"].data.toString()).toContain(`"linux-x64-musl": "@langgenius/difyctl-linux-x64-musl"`);
    for (const [key, id] of Object.entries(NPM_PLATFORMS as Record<string, string>)) {
      const t = RELEASE_TARGETS.find((x: any) => x.id === id);
      const p = untar(join(dir, "npm", `langgenius-difyctl-${key}-1.2.3.tgz`));
      const json = JSON.parse(p["package/package.json"].data.toString());
      const [os, cpu, libc] = key.split("-");
      expect(json).toMatchObject({ name: `@langgenius/difyctl-${key}`, version: VERSION, os: [os], cpu: [cpu] });
      expect(json.libc).toEqual(os === "linux" ? [libc === "musl" ? "musl" : "glibc"] : undefined);
      const exe = `package/bin/difyctl${t.exe ? ".exe" : ""}`;
      expect(p[exe].mode).toBe(0o755);
      expect(p[exe].data.equals(readFileSync(join(dir, "bin", releaseName(VERSION, t))))).toBe(true);
    }
  });

  test("the release URL comes from install.sh's one definition (DIFYCTL_DEFAULT_BASE_URL)", () => {
    expect(BASE).toMatch(/^https:\/\//);
    const rb = readFileSync(join(dir, "homebrew", "difyctl.rb"), "utf8");
    for (const url of rb.match(/ url "([^"]+)"/g)!) expect(url.startsWith(` url "${BASE}/`)).toBe(true);
  });
});

describe("packaging is generated only from verified files", () => {
  test("an archive changed after SHA256SUMS was written: generation refuses", async () => {
    const dir = await fakeRelease();
    appendFileSync(join(dir, `difyctl-${VERSION}-darwin-arm64.tar.gz`), "x");
    expect(() => writePackaging(dir, ROOT)).toThrow(/difyctl-1\.2\.3-darwin-arm64\.tar\.gz is [0-9a-f]{64} on disk/);
    expect(() => readChecksums(dir)).toThrow();
  });

  test("a target missing from the release: packaging refuses, naming it", async () => {
    const dir = tempDir("difyctl-release-");
    fakeBinaries(dir, (t) => t.exe);
    await expect(packageRelease({ dir, version: VERSION, root: ROOT, completions: COMPLETIONS, mtime: MTIME })).rejects.toThrow(/lacks difyctl-1\.2\.3-windows-x64\.exe/);
  });

  test("a darwin binary whose page no longer matches its signature: the gate refuses before anything is written", async () => {
    const dir = tempDir("difyctl-release-");
    const bin = fakeBinaries(dir);
    const f = join(bin, `difyctl-${VERSION}-darwin-x64`);
    const b = readFileSync(f);
    b[4096 + 100] ^= 1; // one bit in page 1
    writeFileSync(f, b);
    await expect(packageRelease({ dir, version: VERSION, root: ROOT, completions: COMPLETIONS, mtime: MTIME })).rejects.toThrow(/signature check failed:\n\s+difyctl-1\.2\.3-darwin-x64:\n\s+CodeDirectory sha256: 1 of 3 page hashes do not match \(first: page 1\)/);
    expect(readdirSync(dir)).toEqual(["bin"]);
  });

  test("an unsigned darwin binary is refused too", async () => {
    const dir = tempDir("difyctl-release-");
    const bin = fakeBinaries(dir);
    writeFileSync(join(bin, `difyctl-${VERSION}-darwin-arm64`), crypto.getRandomValues(new Uint8Array(64)));
    await expect(packageRelease({ dir, version: VERSION, root: ROOT, completions: COMPLETIONS, mtime: MTIME })).rejects.toThrow(/darwin-arm64:\n\s+not a 64-bit little-endian Mach-O/);
  });

  test("a non-semver version (it ends up in URLs and file names) is refused", async () => {
    await expect(packageRelease({ dir: tempDir(), version: "1.2.3/../x", root: ROOT, completions: COMPLETIONS })).rejects.toThrow(/not semver/);
  });
});

// --- winget manifests against the official schemas (microsoft/winget-cli schemas/JSON/manifests/v1.12.0) ---
const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat("date", /^\d{4}-\d{2}-\d{2}$/); // ReleaseDate: an ISO 8601 calendar date
ajv.addFormat("long", true); // a winget-specific annotation on integer fields
const validators = new Map<string, any>();
/** The official schema lets unknown keys (typos) through; the strict copy closes every object that lists its properties. */
function strictCopy(schema: any): any {
  if (Array.isArray(schema)) return schema.map(strictCopy);
  if (!schema || typeof schema !== "object") return schema;
  const out: any = {};
  for (const [k, v] of Object.entries(schema)) out[k] = strictCopy(v);
  if (out.properties && out.additionalProperties === undefined && !out.allOf && !out.anyOf && !out.oneOf) out.additionalProperties = false;
  return out;
}
function wingetErrors(kind: string, data: unknown, strict = false): string[] {
  const key = `${kind}:${strict}`;
  if (!validators.has(key)) {
    const schema = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", "winget-1.12.0", `manifest.${kind}.1.12.0.json`), "utf8"));
    if (strict) schema.$id += "#strict";
    validators.set(key, ajv.compile(strict ? strictCopy(schema) : schema));
  }
  const v = validators.get(key);
  return v(data) ? [] : v.errors.map((e: any) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
}

describe("keyring addon embedding", () => {
  let refs: Record<string, string>;
  beforeAll(() => { refs = ensureAddons(ALL_ADDONS, () => {}); }, 60_000);

  /** A stand-in for a compiled binary: filler, then the given addons as Bun embeds them. */
  function fakeBinary(addons: string[]): string {
    const f = join(tempDir(), "bin");
    writeFileSync(f, crypto.getRandomValues(new Uint8Array(4096)));
    for (const a of addons) {
      appendFileSync(f, `/$bunfs/root/keyring.${a}-abcd1234.node\0`);
      appendFileSync(f, readFileSync(refs[a]));
    }
    return f;
  }

  test("exactly the expected .node passes", () => {
    expect(checkBinary(fakeBinary(["linux-x64-musl"]), "linux-x64-musl", refs)).toEqual([]);
  });
  test("a binary without its addon (Bun builds it anyway) fails", () => {
    const p = checkBinary(fakeBinary([]), "darwin-arm64", refs);
    expect(p.join("\n")).toContain("expected keyring.darwin-arm64.node embedded once, found 0");
  });
  test("gnu and musl both embedded (napi-rs's run-time isMusl() choice) fails", () => {
    const p = checkBinary(fakeBinary(["linux-x64-gnu", "linux-x64-musl"]), "linux-x64-musl", refs);
    expect(p.join("\n")).toContain("must not embed keyring.linux-x64-gnu.node");
  });
  test("a wrong-platform addon fails", () => {
    const p = checkBinary(fakeBinary(["linux-arm64-gnu"]), "linux-x64-gnu", refs);
    expect(p.length).toBe(3);
  });
  test("a package the lockfile does not pin is refused, not fetched", () => {
    expect(() => ensureAddon("linux-ppc64-gnu")).toThrow(/package-lock\.json has no integrity for @napi-rs\/keyring-linux-ppc64-gnu/);
  });

  test("host build: version/channel/commit from buildInfo() overrides; exactly the host addon embedded", () => {
    const out = join(".tmp", `release-test-${process.pid}`, "difyctl");
    try {
      const r = Bun.spawnSync(["node", "--input-type=module", "-e", `import { compile } from "./scripts/build-lib.mjs"; compile({ outfile: ${JSON.stringify(out)} });`], {
        cwd: ROOT, env: { ...process.env, DIFYCTL_VERSION: "9.8.7-rc.1", DIFYCTL_CHANNEL: "beta", DIFYCTL_COMMIT: "0123456789ab" },
      });
      expect(r.stderr.toString()).toBe("");
      expect(r.exitCode).toBe(0);
      const bin = join(ROOT, out);
      const v = Bun.spawnSync([bin, "version", "--json"], { env: { PATH: "/usr/bin:/bin", HOME: tempDir() } });
      expect(JSON.parse(v.stdout.toString())).toEqual({ version: "9.8.7-rc.1", channel: "beta", commit: "0123456789ab", platform: process.platform === "win32" ? "windows" : process.platform, arch: process.arch });
      const text = Bun.spawnSync([bin, "version"], { env: { PATH: "/usr/bin:/bin", HOME: tempDir() } }).stdout.toString();
      expect(text).toContain("9.8.7-rc.1");
      expect(checkBinary(bin, hostAddon(), refs)).toEqual([]);
      expect(embeddedAddonNames(readFileSync(bin))).toEqual([hostAddon()]);
    } finally {
      rmSync(join(ROOT, ".tmp", `release-test-${process.pid}`), { recursive: true, force: true });
    }
  }, 60_000);
});

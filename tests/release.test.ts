// The release pipeline without building all eight targets (scripts/release.mjs does that in CI):
// SHA256SUMS, the Homebrew formula and the winget manifests are generated from a small release dir
// and checked against the files; the embed check is exercised on synthetic binaries; one host
// build proves version/channel/commit flow from buildInfo() into `difyctl version`.
import { beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { ROOT, tempDir } from "./helpers.ts";
// @ts-ignore -- plain .mjs build scripts
import { finalizeRelease, readChecksums, writePackaging } from "../scripts/release.mjs";
// @ts-ignore
import { RELEASE_TARGETS, ALL_ADDONS, releaseName, hostAddon } from "../scripts/targets.mjs";
// @ts-ignore
import { checkBinary, embeddedAddonNames } from "../scripts/verify-embed.mjs";
// @ts-ignore
import { ensureAddon, ensureAddons } from "../scripts/fetch-keyring-addons.mjs";
// @ts-ignore
import { releaseBaseUrl } from "../packaging/project.mjs";

const VERSION = "1.2.3";
const sha256 = (data: string | Uint8Array) => new Bun.CryptoHasher("sha256").update(data).digest("hex");
const BASE = releaseBaseUrl(ROOT) as string;

/** A release dir whose "binaries" are a few random bytes each: the generators only hash them. */
function fakeRelease(): string {
  const dir = tempDir("difyctl-release-");
  for (const t of RELEASE_TARGETS) writeFileSync(join(dir, releaseName(VERSION, t)), crypto.getRandomValues(new Uint8Array(64)));
  finalizeRelease(dir, VERSION, ROOT);
  return dir;
}

describe("release dir: SHA256SUMS, Homebrew formula, winget manifests", () => {
  let dir: string;
  beforeAll(() => { dir = fakeRelease(); });

  test("file names follow difyctl-<version>-<os>-<arch>[.exe]; SHA256SUMS covers each with its real hash", () => {
    const names = readdirSync(dir).filter((f) => f.startsWith("difyctl-")).sort();
    expect(names).toEqual([
      "difyctl-1.2.3-darwin-arm64", "difyctl-1.2.3-darwin-x64", "difyctl-1.2.3-linux-arm64", "difyctl-1.2.3-linux-arm64-musl",
      "difyctl-1.2.3-linux-x64", "difyctl-1.2.3-linux-x64-baseline", "difyctl-1.2.3-linux-x64-musl", "difyctl-1.2.3-windows-x64.exe",
    ]);
    const lines = readFileSync(join(dir, "SHA256SUMS"), "utf8").trim().split("\n");
    for (const n of [...names, "install.sh", "VERSION"]) expect(lines).toContain(`${sha256(readFileSync(join(dir, n)))}  ${n}`);
    expect(lines.length).toBe(names.length + 2);
    expect(readFileSync(join(dir, "VERSION"), "utf8")).toBe("1.2.3\n");
    expect(readFileSync(join(dir, "install.sh"), "utf8")).toBe(readFileSync(join(ROOT, "install.sh"), "utf8"));
  });

  test("Homebrew formula: one url+sha256 per OS/CPU, matching the files; installs and tests `difyctl version`", () => {
    const rb = readFileSync(join(dir, "homebrew", "difyctl.rb"), "utf8");
    const found: Record<string, { url: string; sha256: string }> = {};
    let os = "", cpu = "";
    for (const line of rb.split("\n")) {
      const block = line.match(/^\s*on_(macos|linux|arm|intel) do$/);
      if (block) { if (block[1] === "macos" || block[1] === "linux") os = block[1]; else cpu = block[1]; continue; }
      const kv = line.match(/^\s*(url|sha256) "([^"]+)"$/);
      if (kv) (found[`${os}-${cpu}`] ??= { url: "", sha256: "" })[kv[1] as "url" | "sha256"] = kv[2];
    }
    const want: Record<string, string> = {
      "macos-arm": "darwin-arm64", "macos-intel": "darwin-x64", "linux-arm": "linux-arm64", "linux-intel": "linux-x64-baseline",
    };
    expect(Object.keys(found).sort()).toEqual(Object.keys(want).sort());
    for (const [key, suffix] of Object.entries(want)) {
      const file = `difyctl-${VERSION}-${suffix}`;
      expect(found[key].url).toBe(`${BASE}/download/v${VERSION}/${file}`);
      expect(found[key].sha256).toBe(sha256(readFileSync(join(dir, file))));
    }
    expect(rb).toMatch(/^class Difyctl < Formula$/m);
    expect(rb).toContain(`version "${VERSION}"`);
    expect(rb).toContain(`bin.install Dir["difyctl-*"].first => "difyctl"`);
    expect(rb).toMatch(/test do\n\s+assert_match version\.to_s, shell_output\("#\{bin\}\/difyctl version"\)/);
    const openers = rb.match(/(^class .*|^\s*def .*| do)$/gm)!.length;
    expect(openers).toBe(rb.match(/^\s*end$/gm)!.length); // blocks are balanced
  });

  const wingetDir = () => join(dir, "winget", "manifests", "l", "LangGenius", "difyctl", VERSION);
  const manifest = (kind: string) => YAML.parse(readFileSync(join(wingetDir(), `LangGenius.difyctl${kind}.yaml`), "utf8"));

  test("winget: version, installer (portable) and defaultLocale manifests agree with the .exe", () => {
    expect(readdirSync(wingetDir()).sort()).toEqual(["LangGenius.difyctl.installer.yaml", "LangGenius.difyctl.locale.en-US.yaml", "LangGenius.difyctl.yaml"]);
    const exe = `difyctl-${VERSION}-windows-x64.exe`;
    const inst = manifest(".installer");
    expect(inst).toMatchObject({ PackageIdentifier: "LangGenius.difyctl", PackageVersion: VERSION, InstallerType: "portable", Commands: ["difyctl"], ManifestType: "installer" });
    expect(inst.Installers).toEqual([{ Architecture: "x64", InstallerUrl: `${BASE}/download/v${VERSION}/${exe}`, InstallerSha256: sha256(readFileSync(join(dir, exe))).toUpperCase() }]);
    expect(manifest("")).toMatchObject({ PackageIdentifier: "LangGenius.difyctl", PackageVersion: VERSION, DefaultLocale: "en-US", ManifestType: "version" });
    expect(manifest(".locale.en-US")).toMatchObject({ PackageIdentifier: "LangGenius.difyctl", PackageVersion: VERSION, PackageLocale: "en-US", ManifestType: "defaultLocale", License: "Apache-2.0" });
  });

  for (const [kind, file] of [["version", ""], ["installer", ".installer"], ["defaultLocale", ".locale.en-US"]]) {
    test(`winget ${kind} manifest validates against the 1.6.0 schema`, () => {
      const schema = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", `winget-${kind}.1.6.0.test-schema.json`), "utf8"));
      expect(validate(schema, manifest(file))).toEqual([]);
    });
  }

  test("the schema check rejects what winget would: bad hash, missing field, wrong type, unknown key", () => {
    const schema = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", "winget-installer.1.6.0.test-schema.json"), "utf8"));
    const good = manifest(".installer");
    const bad = (mutate: (m: any) => void) => { const m = structuredClone(good); mutate(m); return validate(schema, m); };
    expect(bad((m) => { m.Installers[0].InstallerSha256 = "abc"; })).toEqual([expect.stringContaining("$.Installers[0].InstallerSha256")]);
    expect(bad((m) => { delete m.Installers[0].InstallerUrl; })).toEqual([expect.stringContaining("InstallerUrl")]);
    expect(bad((m) => { m.InstallerType = "tarball"; })).toEqual([expect.stringContaining("$.InstallerType")]);
    expect(bad((m) => { m.ManifestType = "version"; })).toEqual([expect.stringContaining("$.ManifestType")]);
    expect(bad((m) => { m.PackageIdentifier = "difyctl"; })).toEqual([expect.stringContaining("$.PackageIdentifier")]);
    expect(bad((m) => { m.Installers[0].InstallerUrl = "ftp://x/y.exe"; })).toEqual([expect.stringContaining("InstallerUrl")]);
    expect(bad((m) => { m.Comands = ["difyctl"]; })).toEqual([expect.stringContaining("$.Comands")]);
  });

  test("the release URL comes from install.sh's one definition (DIFYCTL_DEFAULT_BASE_URL)", () => {
    expect(BASE).toMatch(/^https:\/\//);
    const rb = readFileSync(join(dir, "homebrew", "difyctl.rb"), "utf8");
    for (const url of rb.match(/url "([^"]+)"/g)!) expect(url.startsWith(`url "${BASE}/download/v${VERSION}/`)).toBe(true);
  });
});

describe("packaging is generated only from verified files", () => {
  test("a binary changed after SHA256SUMS was written: generation refuses", () => {
    const dir = fakeRelease();
    appendFileSync(join(dir, `difyctl-${VERSION}-darwin-arm64`), "x");
    expect(() => writePackaging(dir, ROOT)).toThrow(/difyctl-1\.2\.3-darwin-arm64 is [0-9a-f]{64} on disk/);
    expect(() => readChecksums(dir)).toThrow();
  });

  test("a target missing from the release: generation refuses", () => {
    const dir = tempDir("difyctl-release-");
    for (const t of RELEASE_TARGETS) if (!t.exe) writeFileSync(join(dir, releaseName(VERSION, t)), "bin");
    expect(() => finalizeRelease(dir, VERSION, ROOT)).toThrow(/winget: SHA256SUMS has no difyctl-1\.2\.3-windows-x64\.exe/);
  });

  test("a non-semver version (it ends up in URLs and file names) is refused", () => {
    expect(() => finalizeRelease(tempDir(), "1.2.3/../x", ROOT)).toThrow(/not semver/);
  });
});

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

// --- a small JSON Schema checker for the keywords the test schemas use ---------------------------
// It throws on any other keyword, so a schema edit can never be silently ignored.
const KNOWN = new Set(["$schema", "$defs", "$ref", "description", "type", "properties", "required", "additionalProperties",
  "pattern", "minLength", "maxLength", "enum", "const", "items", "minItems", "maxItems", "uniqueItems"]);
function validate(schema: any, data: unknown, root: any = schema, path = "$"): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} is not supported`);
  if (schema.$ref) return validate(root.$defs[schema.$ref.replace("#/$defs/", "")], data, root, path);
  const kind = data === null ? "null" : Array.isArray(data) ? "array" : Number.isInteger(data) ? "integer" : typeof data;
  const types: string[] | null = schema.type ? [].concat(schema.type) : null;
  if (types && !types.includes(kind) && !(kind === "integer" && types.includes("number"))) return [`${path}: is ${kind}, want ${types.join("|")}`];
  const errs: string[] = [];
  if ("const" in schema && data !== schema.const) errs.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(data)) errs.push(`${path}: must be one of ${schema.enum.join(", ")}`);
  if (typeof data === "string") {
    if (schema.minLength !== undefined && data.length < schema.minLength) errs.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && data.length > schema.maxLength) errs.push(`${path}: longer than ${schema.maxLength}`);
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(data)) errs.push(`${path}: does not match ${schema.pattern}`);
  }
  if (Array.isArray(data)) {
    if (schema.minItems !== undefined && data.length < schema.minItems) errs.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && data.length > schema.maxItems) errs.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.uniqueItems && new Set(data.map((x) => JSON.stringify(x))).size !== data.length) errs.push(`${path}: items not unique`);
    if (schema.items) data.forEach((x, i) => errs.push(...validate(schema.items, x, root, `${path}[${i}]`)));
  }
  if (kind === "object") {
    const obj = data as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) errs.push(`${path}.${r}: required`);
    for (const [k, v] of Object.entries(obj)) {
      if (schema.properties?.[k]) errs.push(...validate(schema.properties[k], v, root, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}.${k}: unknown key`);
    }
  }
  return errs;
}

test("the schema checker itself: rejects unsupported keywords instead of ignoring them", () => {
  expect(() => validate({ type: "object", oneOf: [] }, {})).toThrow(/oneOf/);
  expect(validate({ type: "string", pattern: "^a+$" }, "b")).toEqual(["$: does not match ^a+$"]);
  expect(validate({ type: ["string", "null"] }, null)).toEqual([]);
});

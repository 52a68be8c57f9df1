// The npm channel, as esbuild and Biome ship native binaries: a `difyctl` package whose
// optionalDependencies are one package per platform, each holding that platform's binary and
// declaring os/cpu/libc so npm downloads only the matching one. difyctl's postinstall
// (npm/difyctl/install.cjs) then puts the native binary where npm links the `difyctl` command, so
// no Node process sits in front of each run; the JS launcher in bin/ is only the fallback (Windows,
// --ignore-scripts).
//
// The tarballs are written here, not by `npm pack`: the same deterministic tar writer as the
// release archives, compressed in parallel (npm pack takes ~10 s per 100 MB binary, one at a time).
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { project } from "./project.mjs";
import { writeTarGz } from "../scripts/archive.mjs";
import { RELEASE_TARGETS, releaseName } from "../scripts/targets.mjs";

/**
 * npm platform key (process.platform-process.arch, "-musl" on musl Linux) -> release target id.
 * Linux x64 glibc gets the baseline build: npm cannot choose by CPU feature, and the default build
 * dies on CPUs without AVX2. There is no baseline musl build: Alpine on such CPUs is unsupported.
 */
export const NPM_PLATFORMS = {
  "linux-x64": "linux-x64-baseline",
  "linux-arm64": "linux-arm64",
  "linux-x64-musl": "linux-x64-musl",
  "linux-arm64-musl": "linux-arm64-musl",
  "darwin-x64": "darwin-x64",
  "darwin-arm64": "darwin-arm64",
  "win32-x64": "windows-x64",
};

export const npmPlatformPackage = (p, key) => `${p.npmScope}/${p.npmName}-${key}`;
/** The file name `npm pack` would give: scope folded in, "@" and "/" dropped. */
export const npmTarballName = (name, version) => `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`;

const common = (p, version) => ({
  version,
  license: p.license,
  homepage: p.homepage,
  repository: { type: "git", url: `git+${p.homepage}.git` },
  bugs: { url: p.supportUrl },
});

/** { name: { "package.json": object, files: [{ name, file|data, mode }] } } for every package. */
export function npmPackageSpecs({ version, binDir, root }) {
  const p = project(root);
  const specs = {};
  const optional = {};
  for (const [key, id] of Object.entries(NPM_PLATFORMS)) {
    const t = RELEASE_TARGETS.find((x) => x.id === id);
    const [os, cpu, libc] = key.split("-");
    const name = npmPlatformPackage(p, key);
    optional[name] = version;
    const exe = `difyctl${t.exe ? ".exe" : ""}`;
    specs[name] = {
      json: {
        name,
        ...common(p, version),
        description: `The ${key} binary of difyctl (installed by the difyctl package)`,
        os: [os],
        cpu: [cpu],
        ...(os === "linux" ? { libc: [libc === "musl" ? "musl" : "glibc"] } : {}),
        preferUnplugged: true,
      },
      files: [
        { name: `bin/${exe}`, file: join(binDir, releaseName(version, t)), mode: 0o755 },
        { name: "LICENSE", file: join(root, "LICENSE") },
        { name: "README.md", data: `# ${name}\n\nThe ${key} binary of [difyctl](${p.homepage}). Install \`difyctl\`, not this package.\n` },
      ],
    };
  }
  specs[p.npmName] = {
    json: {
      name: p.npmName,
      ...common(p, version),
      description: p.description,
      keywords: ["dify", "cli", "ai", "llm"],
      bin: { difyctl: "bin/difyctl" },
      scripts: { postinstall: "node install.cjs" },
      optionalDependencies: optional,
      engines: { node: ">=18" },
    },
    files: [
      { name: "bin/difyctl", file: join(root, "npm", "difyctl", "bin", "difyctl"), mode: 0o755 },
      { name: "install.cjs", file: join(root, "npm", "difyctl", "install.cjs") },
      { name: "platform.cjs", data: platformModule(p, root) },
      { name: "LICENSE", file: join(root, "LICENSE") },
      { name: "README.md", file: join(root, "README.md") },
    ],
  };
  return specs;
}

/** platform.cjs: the template with this release's package names filled in. */
function platformModule(p, root) {
  const map = Object.fromEntries(Object.keys(NPM_PLATFORMS).map((k) => [k, npmPlatformPackage(p, k)]));
  const template = readFileSync(join(root, "npm", "difyctl", "platform.cjs"), "utf8");
  if (!template.includes("/* PACKAGES */ {}")) throw new Error("npm/difyctl/platform.cjs lost its /* PACKAGES */ {} placeholder");
  return template.replace("/* PACKAGES */ {}", JSON.stringify(map, null, 2));
}

/** Writes one .tgz per package into `outDir`; returns { fileName: bytes }. Platform packages first. */
export async function writeNpmPackages({ version, binDir, outDir, root, mtime }) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const specs = npmPackageSpecs({ version, binDir, root });
  const sizes = {};
  await Promise.all(Object.entries(specs).map(async ([name, spec]) => {
    const entries = [
      { name: "package/package.json", data: JSON.stringify(spec.json, null, 2) + "\n" },
      ...spec.files.map((f) => ({ ...f, name: `package/${f.name}` })),
    ];
    const file = npmTarballName(name, version);
    sizes[file] = await writeTarGz(join(outDir, file), entries, mtime);
  }));
  return Object.fromEntries(Object.keys(specs).map((n) => [npmTarballName(n, version), sizes[npmTarballName(n, version)]]));
}

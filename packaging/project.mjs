// Package metadata shared by the Homebrew and winget generators. The release URL itself is defined
// once, in install.sh (DIFYCTL_DEFAULT_BASE_URL), because install.sh is fetched on its own.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export function releaseBaseUrl(root) {
  const m = readFileSync(join(root, "install.sh"), "utf8").match(/^DIFYCTL_DEFAULT_BASE_URL="([^"]+)"$/m);
  if (!m) throw new Error("install.sh has no DIFYCTL_DEFAULT_BASE_URL=\"…\" line");
  return m[1];
}

export function project(root) {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const base = process.env.DIFYCTL_RELEASE_BASE_URL || releaseBaseUrl(root);
  return {
    name: "difyctl",
    description: pkg.description,
    license: pkg.license,
    baseUrl: base.replace(/\/+$/, ""),
    homepage: base.replace(/\/+$/, "").replace(/\/releases$/, ""),
    publisher: "LangGenius",
    wingetId: "LangGenius.difyctl",
  };
}

/** Where a release file is downloaded from (the layout install.sh documents). */
export const assetUrl = (p, version, file) => `${p.baseUrl}/download/v${version}/${file}`;

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
  const homepage = base.replace(/\/+$/, "").replace(/\/releases$/, "");
  return {
    name: "difyctl",
    description: pkg.description,
    longDescription:
      "difyctl is a single self-contained binary for the Dify AI platform: sign in with the OAuth device flow, " +
      "keep the session in the OS keychain (or a private file where there is none), list and run apps, " +
      "and manage the sessions of every device, from a terminal, a script or an agent.",
    license: pkg.license,
    licenseUrl: `${homepage}/blob/main/LICENSE`,
    copyright: "Copyright (c) LangGenius, Inc.",
    baseUrl: base.replace(/\/+$/, ""),
    homepage,
    supportUrl: `${homepage}/issues`,
    publisher: "LangGenius",
    wingetId: "LangGenius.difyctl",
    // npm: the package users install, and the scope of the per-platform packages it depends on.
    npmName: "difyctl",
    npmScope: "@langgenius",
  };
}

/** The release's page (its notes). */
export const releaseNotesUrl = (p, version) => `${p.baseUrl}/tag/v${version}`;

/** Where a release file is downloaded from (the layout install.sh documents). */
export const assetUrl = (p, version, file) => `${p.baseUrl}/download/v${version}/${file}`;

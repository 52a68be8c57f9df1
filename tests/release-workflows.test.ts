// The GitHub workflows (.github/workflows) cannot run here; what can be checked is checked: each
// file against the workflow schema (@action-validator, whose schema is bundled: it also runs with
// no network), every action pinned to a commit, the publishing steps skipped when their secret is
// missing, the artifacts passed between jobs by the names they were uploaded under, and every
// `run:` script through shellcheck.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { ROOT, tempDir } from "./helpers.ts";

const { validateWorkflow } = require("@action-validator/core") as { validateWorkflow(src: string): { errors: unknown[] } };
const DIR = join(ROOT, ".github", "workflows");
const FILES = ["build.yml", "ci.yml", "release.yml"];
const text = (f: string) => readFileSync(join(DIR, f), "utf8");
const wf = (f: string) => YAML.parse(text(f));
type Step = { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, any>; env?: Record<string, string>; shell?: string };
const steps = (f: string) => Object.entries(wf(f).jobs as Record<string, { steps?: Step[] }>).flatMap(([job, j]) => (j.steps ?? []).map((s) => ({ job, ...s })));

describe("workflow files", () => {
  for (const f of FILES) {
    test(`${f} is a valid workflow (schema check)`, () => {
      expect(validateWorkflow(text(f)).errors).toEqual([]);
    });
  }

  test("the schema check rejects what GitHub would: an unknown key, a job without runs-on, a bad trigger", () => {
    const base = { on: { push: {} }, jobs: { a: { "runs-on": "ubuntu-24.04", steps: [{ run: "true" }] } } };
    expect(validateWorkflow(YAML.stringify(base)).errors).toEqual([]);
    const bad = (mutate: (w: any) => void) => { const w = structuredClone(base); mutate(w); return validateWorkflow(YAML.stringify(w)).errors.length; };
    expect(bad((w) => { w.jobs.a.stepz = w.jobs.a.steps; })).toBeGreaterThan(0);
    expect(bad((w) => { delete w.jobs.a["runs-on"]; })).toBeGreaterThan(0);
    expect(bad((w) => { w.on = { pushh: {} }; })).toBeGreaterThan(0);
    expect(bad((w) => { w.jobs.a.steps = [{ uses: "actions/checkout@v4", run: "true" }]; })).toBeGreaterThan(0);
  });

  test("the validator CLI works without a network (its schema is bundled)", () => {
    const root = process.getuid?.() === 0;
    const cli = join(ROOT, "node_modules", "@action-validator", "cli", "cli.mjs");
    const r = Bun.spawnSync(["unshare", ...(root ? ["-n"] : ["-rn"]), "node", cli, join(DIR, "release.yml")]);
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
    const broken = join(tempDir(), "broken.yml");
    writeFileSync(broken, "on: push\njobs:\n  a:\n    steps: []\n");
    expect(Bun.spawnSync(["unshare", ...(root ? ["-n"] : ["-rn"]), "node", cli, broken]).exitCode).toBe(1);
  });

  test("every action is pinned to a full commit SHA (with the tag as a comment)", () => {
    for (const f of FILES) {
      for (const line of text(f).split("\n")) {
        const m = line.match(/uses:\s*(\S+)(.*)$/);
        if (!m || m[1].startsWith("./")) continue;
        expect(m[1], `${f}: ${line.trim()}`).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
        expect(m[2], `${f}: ${line.trim()}`).toMatch(/^\s+# v\d+(\.\d+)*$/);
      }
    }
  });

  test("triggers: ci on pushes and pull requests, release on v* tags, both through the one build workflow", () => {
    expect(Object.keys(wf("ci.yml").on).sort()).toEqual(["pull_request", "push"]);
    expect(wf("release.yml").on).toEqual({ push: { tags: ["v*"] } });
    expect(Object.keys(wf("build.yml").on)).toEqual(["workflow_call"]);
    expect(wf("ci.yml").jobs.build.uses).toBe("./.github/workflows/build.yml");
    expect(wf("release.yml").jobs.build).toMatchObject({ uses: "./.github/workflows/build.yml", secrets: "inherit" });
  });

  test("least privilege: read-only by default, contents: write only where the release is created", () => {
    for (const f of FILES) expect(wf(f).permissions).toEqual({ contents: "read" });
    const writers = Object.entries(wf("release.yml").jobs as Record<string, any>).filter(([, j]) => j.permissions?.contents === "write").map(([n]) => n);
    expect(writers).toEqual(["github-release"]);
  });

  test("every target runs on its own kind of machine: linux x64/arm64, macOS arm64/x64, Windows, musl in Alpine", () => {
    const jobs = wf("build.yml").jobs;
    expect(jobs["linux-x64"]["runs-on"]).toBe("ubuntu-24.04");
    expect(jobs["linux-arm64"]["runs-on"]).toBe("ubuntu-24.04-arm");
    expect(jobs.macos["runs-on"]).toBe("macos-15");
    expect(jobs["macos-x64"]["runs-on"]).toBe("macos-15-intel");
    expect(jobs.windows["runs-on"]).toMatch(/^windows-/);
    expect(jobs.musl.strategy.matrix.include.map((m: any) => m.target).sort()).toEqual(["linux-arm64-musl", "linux-x64-musl"]);
    const runs = steps("build.yml").map((s) => s.run ?? "").join("\n");
    expect(runs).toContain("alpine:");
    expect(runs).toContain("apk add --no-cache libstdc++ libgcc");
    for (const target of ["darwin-arm64 --keychain", "darwin-x64 --keychain", "linux-arm64 --keychain", "windows-x64.exe --keychain", "${{ matrix.target }}"]) {
      expect(runs).toMatch(new RegExp(`node scripts/smoke-native\\.mjs \\S+-${target.replace(/[$.{}]/g, (c) => `\\${c}`)}`));
    }
  });

  test("macOS: Developer ID + notarization with the secrets, ad hoc without; then codesign --verify --strict and the gate", () => {
    const mac = steps("build.yml").filter((s) => s.job === "macos");
    const dev = mac.find((s) => s.name?.startsWith("Sign with the Developer ID"))!;
    const adhoc = mac.find((s) => s.name?.startsWith("Sign ad hoc"))!;
    expect(dev.if).toBe("env.APPLE_CERTIFICATE_P12_BASE64 != '' && env.APPLE_SIGNING_IDENTITY != ''");
    expect(adhoc.if).toBe("env.APPLE_CERTIFICATE_P12_BASE64 == '' || env.APPLE_SIGNING_IDENTITY == ''"); // exactly one of the two runs
    expect(dev.run).toContain("--options runtime --timestamp");
    expect(dev.run).toContain("--entitlements packaging/macos/entitlements.plist");
    expect(existsSync(join(ROOT, "packaging", "macos", "entitlements.plist"))).toBe(true);
    expect(adhoc.run).toContain("codesign --force --identifier difyctl --sign -");
    expect(mac.find((s) => s.name === "Notarize")!.run).toContain("xcrun notarytool submit");
    const verify = mac.find((s) => s.name?.startsWith("Verify the signatures"))!;
    expect(verify.run).toContain("codesign --verify --strict");
    expect(verify.run).toContain("node scripts/macho-sign.mjs verify");
    const x64 = steps("build.yml").filter((s) => s.job === "macos-x64").map((s) => s.run ?? "").join("\n");
    expect(x64).toContain("codesign --verify --strict");
  });

  test("publishing: each step that needs a secret runs only when it is set, and a notice says when it is skipped", () => {
    const jobs = wf("release.yml").jobs as Record<string, any>;
    for (const [job, secret] of [["homebrew", "HOMEBREW_TAP_TOKEN"], ["winget", "WINGET_TOKEN"], ["npm", "NPM_TOKEN"]]) {
      expect(jobs[job].env[secret]).toBe(`\${{ secrets.${secret} }}`);
      const [skip, ...rest] = jobs[job].steps as Step[];
      expect(skip.if).toBe(`env.${secret} == ''`);
      expect(skip.run).toContain("::notice::");
      for (const s of rest) expect(s.if, `${job}: ${s.name ?? s.uses}`).toBe(`env.${secret} != ''`);
    }
    // The GitHub release needs no secret; prereleases skip the tap and winget.
    expect(jobs["github-release"].steps.every((s: Step) => !s.if)).toBe(true);
    expect(jobs.homebrew.if).toBe("needs.version.outputs.prerelease == 'false'");
    expect(jobs.winget.if).toBe("needs.version.outputs.prerelease == 'false'");
  });

  test("the GitHub release carries the archives, SHA256SUMS, VERSION and install.sh, checked before upload", () => {
    const run = (wf("release.yml").jobs["github-release"].steps as Step[]).map((s) => s.run ?? "").join("\n");
    expect(run).toContain("sha256sum --check --strict SHA256SUMS");
    expect(run).toMatch(/gh release create "v\$VERSION"[^\n]*\\\n[^\n]*\.\/\*\.tar\.gz \.\/\*\.zip SHA256SUMS VERSION install\.sh/);
  });

  test("artifacts are downloaded by the names they were uploaded under", () => {
    const uploaded = new Set(steps("build.yml").filter((s) => s.uses?.startsWith("actions/upload-artifact")).map((s) => s.with!.name));
    expect([...uploaded].sort()).toEqual(["binaries", "darwin", "release"]);
    for (const f of FILES) {
      for (const s of steps(f).filter((x) => x.uses?.startsWith("actions/download-artifact"))) expect(uploaded.has(s.with!.name), `${f}: ${s.with!.name}`).toBe(true);
    }
  });

  test("the scripts the workflows call exist", () => {
    const all = FILES.map(text).join("\n");
    const scripts = [...all.matchAll(/node (scripts\/[\w-]+\.mjs)/g)].map((m) => m[1]);
    expect(scripts.length).toBeGreaterThan(5);
    for (const s of new Set(scripts)) expect(existsSync(join(ROOT, s)), s).toBe(true);
    expect(all).toContain("bash .ci/run");
  });

  test("shellcheck finds nothing in the run: scripts", () => {
    const dir = tempDir("difyctl-wf-sh-");
    let n = 0;
    for (const f of FILES) {
      for (const s of steps(f)) {
        if (!s.run) continue;
        // Expressions are expanded by GitHub before the shell runs: a plain word stands in.
        const body = s.run.replace(/\$\{\{[^}]*\}\}/g, "EXPR");
        const file = join(dir, `${n++}.sh`);
        writeFileSync(file, `#!/usr/bin/env bash\nset -e\n${body}\n`);
        const r = Bun.spawnSync(["shellcheck", "--shell=bash", "--severity=warning", file]);
        expect(r.stdout.toString(), `${f} ${s.job}: ${s.name ?? s.run.split("\n")[0]}`).toBe("");
      }
    }
    expect(n).toBeGreaterThan(15);
  });
});

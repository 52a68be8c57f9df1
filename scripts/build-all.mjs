// npm run build:all: the prebuild matrix (linux-x64, linux-arm64, darwin-x64, darwin-arm64,
// windows-x64) into dist/difyctl-<os>-<arch>[.exe], each with its own keyring addon, then the
// embed check and a run of every binary this machine can execute. Exits non-zero on any failure.
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ROOT, buildInfo, compile } from "./build-lib.mjs";
import { ensureAddons } from "./fetch-keyring-addons.mjs";
import { signFile } from "./macho-sign.mjs";
import { CORE_TARGETS } from "./targets.mjs";
import { smokeRun, verifyEmbeds } from "./verify-embed.mjs";

const log = (m) => process.stderr.write(m + "\n");

/**
 * Builds `targets` into `outDir` named by `name(t)`; `afterCompile(t, file)` may rewrite a binary
 * (signing); verifies embeds; smoke-runs what can run. Returns [{t, file, ms}].
 */
export function buildMatrix({ targets, outDir, name, afterCompile = () => {} }) {
  // Fail before compiling: Bun would build a binary without the addon and say nothing.
  ensureAddons([...new Set(targets.map((t) => t.addon))], log);
  const built = [];
  for (const t of targets) {
    const file = join(outDir, name(t));
    const t0 = Date.now();
    compile({ target: t.bun, outfile: relative(ROOT, file), addon: t.addon });
    afterCompile(t, file);
    built.push({ t, file, ms: Date.now() - t0 });
    log(`built ${relative(ROOT, file)} in ${Date.now() - t0} ms`);
  }
  verifyEmbeds(built.map(({ t, file }) => ({ file, addon: t.addon })), log);
  const info = buildInfo();
  for (const b of built) {
    const r = smokeRun(b.file, b.t, { version: info.version, channel: info.channel, commit: info.commit });
    log(r ? `ran ${relative(ROOT, b.file)} (${r.via}, version --json in ${r.ms} ms, keyring addon loads)` : `not runnable here: ${relative(ROOT, b.file)} (embed check only)`);
  }
  return built;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  try {
    buildMatrix({
      targets: CORE_TARGETS, outDir: join(ROOT, "dist"), name: (t) => `difyctl-${t.id}${t.exe ? ".exe" : ""}`,
      // Bun leaves darwin-x64 with its own, now broken, signature (macOS kills it at launch).
      afterCompile: (t, file) => { if (t.os === "darwin") signFile(file, "difyctl"); },
    });
    log(`build:all done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } catch (e) {
    log(`error: ${e.message}`);
    process.exit(1);
  }
}

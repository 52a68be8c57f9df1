// npm run stress: the full reliability run — hundreds of kill -9s, 50 concurrent
// readers against writers, thousands of hostile-server cases, every flag with hostile values,
// broken local files — then the secrets scan over everything captured. Prints the figures.
//   DIFYCTL_SEED=<n> npm run stress     replays a run (the seed is printed either way)
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

// Like npm test: a private D-Bus session with an unlocked gnome-keyring, so the crash suite's
// keychain lane runs against a real Secret Service (skipped when the tools are missing).
const has = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
if (!process.env.DBUS_SESSION_BUS_ADDRESS && !process.env.DIFYCTL_STRESS_WRAPPED && has("dbus-run-session") && has("gnome-keyring-daemon")) {
  const home = mkdtempSync(join(tmpdir(), "difyctl-stress-keyring-"));
  const runtime = mkdtempSync(join(tmpdir(), "difyctl-stress-run-"));
  chmodSync(runtime, 0o700);
  const r = spawnSync("dbus-run-session", ["--", "sh", "-c",
    "sh scripts/keyring-session.sh difyctl-ci; exec node scripts/stress.mjs"], {
    stdio: "inherit", env: { ...process.env, HOME: home, XDG_RUNTIME_DIR: runtime, DIFYCTL_STRESS_WRAPPED: "1" },
  });
  process.exit(r.status ?? 1);
}
const bun = existsSync("node_modules/@oven/bun-linux-x64/bin/bun") ? "node_modules/@oven/bun-linux-x64/bin/bun" : "node_modules/.bin/bun";
const seed = process.env.DIFYCTL_SEED && /^\d+$/.test(process.env.DIFYCTL_SEED) ? process.env.DIFYCTL_SEED : String((Date.now() ^ (process.pid << 8)) >>> 0);
console.log(`stress: DIFYCTL_SEED=${seed}`);

const build = spawnSync("npm", ["run", "--silent", "build"], { stdio: "inherit" });
if (build.status !== 0) process.exit(1);
rmSync(".tmp/captured", { recursive: true, force: true });
rmSync(".tmp/reliability-figures.jsonl", { force: true });

const env = { ...process.env, DIFYCTL_STRESS: "1", DIFYCTL_SEED: seed };
const suites = [
  "./tests/reliability-crash.test.ts",
  "./tests/reliability-concurrency.test.ts",
  "./tests/fuzz-server.test.ts",
  "./tests/fuzz-user-input.test.ts",
  "./tests/reliability-local-input.test.ts",
  "./tests/reliability-login.test.ts",
  "./tests/reliability-storage.test.ts",
  // Hostile text in every printed field (read raw from a pty), and TLS / proxy failures.
  "./tests/terminal-injection.test.ts",
  "./tests/http-client.test.ts",
];
const t0 = Date.now();
const main = spawnSync(bun, ["test", "--timeout", "1800000", ...suites], { stdio: "inherit", env });
// The scan runs last, over everything the runs above captured.
const scan = spawnSync(bun, ["test", "./tests/secrets-scan.final.ts"], { stdio: "inherit", env });

const lines = existsSync(".tmp/reliability-figures.jsonl")
  ? readFileSync(".tmp/reliability-figures.jsonl", "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
  : [];
const by = (s) => lines.filter((l) => l.suite === s).at(-1) ?? {};
const crash = by("crash"), conc = by("concurrency"), torture = by("lock-torture"), fuzz = by("fuzz-server"),
  user = by("user-input"), local = by("local-input"), storage = by("storage"), scanFig = by("secrets-scan");
console.log(`
stress figures (DIFYCTL_SEED=${seed}, ${Math.round((Date.now() - t0) / 1000)} s)
  kill -9: ${crash.kills_survived ?? "?"} survived / ${crash.kills_run ?? "?"} run (${crash.targeted ?? "?"} aimed at the write window)
  concurrency: ${conc.operations ?? "?"} operations, ${conc.anomalies ?? "?"} anomalies; lock torture ${torture.increments_logged ?? "?"} increments, counter ${torture.counter ?? "?"}, ${torture.kills ?? "?"} workers killed
  hostile servers: ${fuzz.cases ?? "?"} cases, ${fuzz.failures ?? "?"} failures
  bad user input: ${user.runs ?? "?"} runs, ${user.failures ?? "?"} failures; bad local input: ${local.cases ?? "?"} cases (${local.runs ?? "?"} runs), ${local.failures ?? "?"} failures
  config dir: ${storage.lock_cases ?? "?"} bad-lock runs, ${storage.disk_full_cases ?? "?"} full-disk runs, ${storage.permission_cases ?? "?"} permission runs, ${storage.truncation_reads ?? "?"} reads of files truncated in place (${storage.signal_deaths ?? "?"} signal deaths), ${storage.failures ?? "?"} failures
  secrets: ${scanFig.bytes_scanned ?? "?"} bytes scanned, ${scanFig.findings ?? "?"} findings`);
process.exit(main.status === 0 && scan.status === 0 ? 0 : 1);

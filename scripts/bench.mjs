// npm run bench: cold-start cost of difyctl against a bare compiled Bun hello-world built in the
// same run, interleaved so machine noise hits every command alike. Reports medians and ratios.
// With dbus-daemon + gnome-keyring installed (or a session bus) it also times keychain mode:
// `auth status` and `run app`, with the phase breakdown (scripts/bench-keychain.mjs).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, ROOT } from "./build-lib.mjs";
import { keychainBench } from "./bench-keychain.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS || 60);
const WARMUP = 5;
const bin = join(ROOT, "dist", "difyctl");
if (!existsSync(bin)) spawnSync("node", [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });

const work = mkdtempSync(join(tmpdir(), "difyctl-bench-"));
const hello = join(work, "hello");
writeFileSync(join(work, "hello.ts"), 'Bun.write(Bun.stdout, "hello\\n");\n');
const b = spawnSync(BUN, ["build", join(work, "hello.ts"), "--compile", "--minify", "--bytecode", "--format=esm",
  "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--outfile", hello], { stdio: "ignore" });
if (b.status !== 0) throw new Error("could not build the hello-world baseline");

// A logged-in file-mode config, written the way login writes it.
const cfg = join(work, "cfg");
mkdirSync(cfg, { mode: 0o700 });
writeFileSync(join(cfg, "hosts.yml"), [
  "current_host: dify.example.com", "subject_type: account",
  "account:", "  id: a0000000-0000-4000-8000-000000000001", "  email: gareth@dify.ai", "  name: Gareth Chen",
  "workspace:", "  id: b0000000-0000-4000-8000-000000000001", "  name: Acme Corp", "  role: owner",
  "available_workspaces:", "  - id: b0000000-0000-4000-8000-000000000001", "    name: Acme Corp", "    role: owner",
  "token_storage: file", "token_id: t-1", "token_expires_at: null", "",
].join("\n"), { mode: 0o600 });
writeFileSync(join(cfg, "tokens.yml"), `version: 1\ntokens:\n  t-1:\n    host: dify.example.com\n    bearer: dfoa_${"x".repeat(43)}\n    expires_at: null\n`, { mode: 0o600 });

const env = { PATH: process.env.PATH, HOME: work, DIFY_CONFIG_DIR: cfg, TMPDIR: process.env.TMPDIR || "/tmp" };
const cases = [
  { name: "hello-world (compiled Bun)", cmd: [hello], baseline: true },
  { name: "difyctl --version", cmd: [bin, "--version"] },
  { name: "difyctl auth status (file store)", cmd: [bin, "auth", "status"] },
  { name: "difyctl auth status --json", cmd: [bin, "auth", "status", "--json"] },
  { name: "difyctl auth whoami", cmd: [bin, "auth", "whoami"] },
];

// BENCH_COMPARE_BIN=<another build>: the same start-up cases for it, side by side in the same rounds
// (a before/after measurement that machine noise hits alike).
if (process.env.BENCH_COMPARE_BIN) {
  const other = process.env.BENCH_COMPARE_BIN;
  cases.push(
    { name: "compare: --version", cmd: [other, "--version"] },
    { name: "compare: auth status", cmd: [other, "auth", "status"] },
  );
}

// Keychain mode (scripts/bench-keychain.mjs): auth status and run app with the bearer in a real
// Secret Service, and where a keychain read spends its time.
const keychain = process.env.BENCH_SKIP_KEYCHAIN ? null : await keychainBench({ bin, env, work });
if (keychain) cases.push(...keychain.cases);

function once(c) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(c.cmd[0], c.cmd.slice(1), { env: c.env ?? env, stdio: ["ignore", "pipe", "pipe"] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${c.name} exited ${r.status}: ${r.stderr}`);
  return ms;
}

for (let i = 0; i < WARMUP; i++) for (const c of cases) once(c);
const times = new Map(cases.map((c) => [c.name, []]));
for (let i = 0; i < ROUNDS; i++) for (const c of cases) times.get(c.name).push(once(c));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };
const base = median(times.get(cases[0].name));
console.log(`BENCHMARKS (${ROUNDS} interleaved rounds, spawn-to-exit wall time, this machine)`);
console.log("command".padEnd(36), "median".padStart(8), "p90".padStart(8), "ratio".padStart(7));
for (const c of cases) {
  const m = median(times.get(c.name));
  console.log(c.name.padEnd(36), `${m.toFixed(1)}ms`.padStart(8), `${pct(times.get(c.name), 0.9).toFixed(1)}ms`.padStart(8), `${(m / base).toFixed(2)}x`.padStart(7));
}
if (keychain) {
  keychain.report({ times, median, base });
  keychain.stop();
}
// Flag parser: the hand parser (src/cli/parse-flags.ts) against Bun's built-in node:util parseArgs,
// each compiled alone with the command table, parsing the same `get apps` argv. Start-up is what
// agents pay per call; the per-parse time is measured in-process over many parses.
if (!process.env.BENCH_SKIP_PARSER) {
  const argv = ["--mode", "workflow", "--limit", "20", "--name", "x", "--json"];
  const table = JSON.stringify(join(ROOT, "src", "cli", "command-table.ts"));
  const entries = {
    "hand parser": `import { findCommand } from ${table};
import { parseFlags } from ${JSON.stringify(join(ROOT, "src", "cli", "parse-flags.ts"))};
const cmd = findCommand(["get", "apps"]).cmd;
const argv = process.argv.slice(2);
const parse = () => parseFlags(cmd, argv).options;`,
    "node:util parseArgs": `import { parseArgs } from "node:util";
import { findCommand, flagsOf } from ${table};
const cmd = findCommand(["get", "apps"]).cmd;
const argv = process.argv.slice(2);
// The same flags, told to parseArgs; it has no enum, number or default handling of its own.
const options = {};
for (const f of flagsOf(cmd)) options[f.long.slice(2)] = { type: f.takesValue ? "string" : "boolean", ...(f.short ? { short: f.short.slice(1) } : {}) };
const parse = () => parseArgs({ args: argv, options, allowPositionals: true, strict: true }).values;`,
  };
  const loops = 20000;
  const bins = {};
  for (const [name, src] of Object.entries(entries)) {
    const file = join(work, `${name.toLowerCase().replace(/[^a-z]+/g, "-")}.ts`);
    writeFileSync(file, `${src}
const n = Number(process.env.PARSE_LOOPS || 0);
if (n) { const t0 = performance.now(); for (let i = 0; i < n; i++) parse(); Bun.write(Bun.stdout, String((performance.now() - t0) / n * 1000) + "\\n"); }
else Bun.write(Bun.stdout, JSON.stringify(parse()) + "\\n");
`);
    const out = file.replace(/\.ts$/, "");
    const r = spawnSync(BUN, ["build", file, "--compile", "--minify", "--bytecode", "--splitting", "--format=esm", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--outfile", out], { stdio: "pipe" });
    if (r.status !== 0) throw new Error(`could not build the ${name} bench: ${r.stderr}`);
    bins[name] = out;
  }
  const pcases = [{ name: "hello-world (compiled Bun)", cmd: [hello] }, ...Object.entries(bins).map(([name, b]) => ({ name, cmd: [b, ...argv] }))];
  for (let i = 0; i < WARMUP; i++) for (const c of pcases) once(c);
  const pt = new Map(pcases.map((c) => [c.name, []]));
  for (let i = 0; i < ROUNDS; i++) for (const c of pcases) pt.get(c.name).push(once(c));
  const pbase = median(pt.get(pcases[0].name));
  console.log(`\nFLAG PARSER (compiled alone with the command table; argv: ${argv.join(" ")})`);
  console.log("parser".padEnd(36), "median".padStart(8), "+hello".padStart(8), "per parse".padStart(10));
  for (const c of pcases) {
    const m = median(pt.get(c.name));
    const per = c.name in bins ? Number(spawnSync(bins[c.name], argv, { env: { ...env, PARSE_LOOPS: String(loops) } }).stdout.toString()) : NaN;
    console.log(c.name.padEnd(36), `${m.toFixed(2)}ms`.padStart(8), `${(m - pbase).toFixed(2)}ms`.padStart(8), (Number.isNaN(per) ? "" : `${per.toFixed(2)}µs`).padStart(10));
  }
}
// What colour and terminal handling cost a person at a terminal, apart from the cold start above.
if (existsSync(join(ROOT, "scripts", "bench-tty.mjs")) && !process.env.BENCH_SKIP_TTY) {
  spawnSync("node", [join(ROOT, "scripts", "bench-tty.mjs")], { stdio: "inherit" });
}
if (existsSync(join(ROOT, "scripts", "bench-stream.mjs")) && !process.env.BENCH_SKIP_STREAM) {
  spawnSync("node", [join(ROOT, "scripts", "bench-stream.mjs")], { stdio: "inherit" });
}
// File uploads (10 MB through difyctl next to curl -F) and what --jq costs when it is, and is not, given.
if (existsSync(join(ROOT, "scripts", "bench-upload.ts")) && !process.env.BENCH_SKIP_UPLOAD) {
  spawnSync(BUN, [join(ROOT, "scripts", "bench-upload.ts")], { stdio: "inherit" });
}

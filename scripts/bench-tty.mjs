// npm run bench (last part), or node scripts/bench-tty.mjs: what colour and terminal handling cost
// a person at a terminal, measured apart from the piped / agent cold start that npm run bench
// times. Two views:
//   1. In the compiled binary, under a pseudo-terminal: the terminal check, loading the palette
//      (picocolors) and reading the width, each timed in-process, so the pty's own overhead does
//      not drown them; piped, the palette is never loaded.
//   2. Spawn to exit under a pty: `difyctl --help` and an error with colour and with NO_COLOR=1,
//      interleaved (noisy on a busy machine: script(1) itself costs tens of ms).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, ROOT } from "./build-lib.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS || 40);
const haveScript = spawnSync("sh", ["-c", "command -v script"]).status === 0;
if (!haveScript) {
  console.log("\nTERMINAL COST: skipped (util-linux 'script' is needed for a pseudo-terminal)");
  process.exit(0);
}
const bin = join(ROOT, "dist", "difyctl");
if (!existsSync(bin)) spawnSync("node", [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });

const work = mkdtempSync(join(tmpdir(), "difyctl-bench-tty-"));
const probeSrc = join(work, "probe.ts");
writeFileSync(probeSrc, `import { styleFor, okText } from ${JSON.stringify(join(ROOT, "src", "ui", "colour.ts"))};
import { terminalWidth } from ${JSON.stringify(join(ROOT, "src", "ui", "table.ts"))};
import { Ctx } from ${JSON.stringify(join(ROOT, "src", "cli", "context.ts"))};
const ctx = new Ctx(process.env);
const t0 = performance.now();
const tty = ctx.isTTY(1);
const t1 = performance.now();
const s = styleFor(ctx, 1);
okText(s, "x");
const t2 = performance.now();
const w = tty ? terminalWidth({}, true) : 0;
const t3 = performance.now();
Bun.write(Bun.stderr, JSON.stringify({ tty, colour: s.colour, width: w, detect: t1 - t0, palette: t2 - t1, widthMs: t3 - t2 }) + "\\n");
`);
const probe = join(work, "probe");
const b = spawnSync(BUN, ["build", probeSrc, "--compile", "--minify", "--bytecode", "--format=esm", "--outfile", probe], { stdio: "pipe" });
if (b.status !== 0) throw new Error(`could not build the terminal probe: ${b.stderr}`);

const median = (xs) => { const s = [...xs].sort((a, c) => a - c); return s[Math.floor(s.length / 2)]; };
const env = { PATH: process.env.PATH, HOME: work, TERM: "xterm-256color", DIFY_CONFIG_DIR: join(work, "cfg") };
// script(1) gives its pty a 0x0 size when its own stdin is not a terminal: set one, as a terminal has.
const pty = (cmd, extra = {}) => spawnSync("script", ["-qfec", `stty cols 100 rows 40; ${cmd}`, "/dev/null"], { env: { ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });

const samples = { pty: [], ptyNoColour: [], piped: [] };
for (let i = 0; i < ROUNDS; i++) {
  samples.pty.push(JSON.parse(pty(probe).stdout.toString().trim().split("\n").pop()));
  samples.ptyNoColour.push(JSON.parse(pty(probe, { NO_COLOR: "1" }).stdout.toString().trim().split("\n").pop()));
  samples.piped.push(JSON.parse(spawnSync(probe, [], { env, stdio: ["ignore", "pipe", "pipe"] }).stderr.toString().trim()));
}
const ms = (xs, k) => `${median(xs.map((x) => x[k])).toFixed(2)}ms`;
console.log(`\nTERMINAL COST (in the compiled binary, ${ROUNDS} runs each, medians)`);
console.log("where".padEnd(26), "terminal?".padStart(10), "colour".padStart(7), "check".padStart(8), "palette".padStart(8), "width".padStart(8));
for (const [name, xs] of [["pty", samples.pty], ["pty, NO_COLOR=1", samples.ptyNoColour], ["piped", samples.piped]]) {
  console.log(name.padEnd(26), String(xs[0].tty).padStart(10), String(xs[0].colour).padStart(7), ms(xs, "detect").padStart(8), ms(xs, "palette").padStart(8), (xs[0].tty ? ms(xs, "widthMs") : "-").padStart(8));
}

const cases = [
  ["difyctl --help, NO_COLOR=1", `${bin} --help`, { NO_COLOR: "1" }],
  ["difyctl --help, colour", `${bin} --help`, {}],
  ["difyctl auth stauts, NO_COLOR=1", `${bin} auth stauts`, { NO_COLOR: "1" }],
  ["difyctl auth stauts, colour", `${bin} auth stauts`, {}],
];
const times = new Map(cases.map((c) => [c[0], []]));
for (let i = 0; i < 3; i++) for (const [, cmd, extra] of cases) pty(cmd, extra);
for (let i = 0; i < ROUNDS; i++) {
  for (const [name, cmd, extra] of cases) {
    const t0 = process.hrtime.bigint();
    pty(cmd, extra);
    times.get(name).push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}
console.log(`\nUNDER A PTY (spawn to exit through script(1), ${ROUNDS} interleaved rounds, medians; the pty adds its own tens of ms)`);
for (const [name] of cases) console.log(name.padEnd(36), `${median(times.get(name)).toFixed(1)}ms`.padStart(8));

// npm run bench (upload section): what --file and --jq cost. Upload throughput of a 10 MB file
// through difyctl against the fake server, next to `curl -F` to the same endpoint in the same
// run; and start-up with and without --jq (the jq module loads only with the flag).
// Run by npm run bench, or alone: node_modules/.bin/bun scripts/bench-upload.ts (BENCH_BIN measures another build)
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IDS, startFakeServer } from "../tests/fake/server.ts";

const BIN = process.env.BENCH_BIN || join(import.meta.dir, "..", "dist", "difyctl");
const RUNS = Number(process.env.BENCH_RUNS || 7);
const dir = mkdtempSync(join(tmpdir(), "difyctl-bench-upload-"));
const big = join(dir, "big.pdf");
const small = join(dir, "small.pdf");
writeFileSync(big, crypto.getRandomValues(new Uint8Array(10 * 1024 * 1024)).map((b) => b));
writeFileSync(small, "%PDF small");

const s = await startFakeServer({ rateLimitPerToken: 0 });
const { token } = s.mintToken("hana@example.com");
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, DIFY_CONFIG_DIR: join(dir, "cfg"), DIFY_CACHE_DIR: join(dir, "cache"), DIFY_TOKEN: token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: IDS.workspaces.labs };

async function time(cmd: string[], e: Record<string, string> = env): Promise<number> {
  const t = performance.now();
  const p = Bun.spawn(cmd, { env: e, stdout: "ignore", stderr: "ignore" });
  const code = await p.exited;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}`);
  return performance.now() - t;
}
async function median(cmd: string[], e?: Record<string, string>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) xs.push(await time(cmd, e));
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
}

const app = IDS.apps.docReviewer;
const upload = `${s.url}/openapi/v1/apps/${app}/files/upload`;
const withBig = await median([BIN, "run", "app", app, "--file", `doc=@${big}`, "--json"]);
const withSmall = await median([BIN, "run", "app", app, "--file", `doc=@${small}`, "--json"]);
const curlBig = await median(["curl", "-sf", "-o", "/dev/null", "-H", `Authorization: Bearer ${token}`, "-F", `file=@${big};type=application/pdf`, upload]);
const curlSmall = await median(["curl", "-sf", "-o", "/dev/null", "-H", `Authorization: Bearer ${token}`, "-F", `file=@${small};type=application/pdf`, upload]);
const mbps = (ms: number) => (10 / (ms / 1000)).toFixed(0);
console.log(`upload 10 MB (median of ${RUNS}; the fake server parses and hashes every upload, so both sides pay it)`);
console.log(`  difyctl run app --file: ${withBig.toFixed(0)} ms total, ${withSmall.toFixed(0)} ms with a 10-byte file → upload ≈ ${(withBig - withSmall).toFixed(0)} ms, ${mbps(withBig - withSmall)} MB/s`);
console.log(`  curl -F:                ${curlBig.toFixed(0)} ms total, ${curlSmall.toFixed(0)} ms with a 10-byte file → upload ≈ ${(curlBig - curlSmall).toFixed(0)} ms, ${mbps(curlBig - curlSmall)} MB/s`);

const offline = { PATH: env.PATH, HOME: dir, DIFY_CONFIG_DIR: join(dir, "cfg"), DIFY_TOKEN: token, DIFY_HOST: s.url, DIFY_WORKSPACE_ID: IDS.workspaces.labs };
const version = await median([BIN, "--version"], offline);
const status = await median([BIN, "auth", "status", "--json"], offline);
const statusJq = await median([BIN, "auth", "status", "--jq", ".host"], offline);
console.log(`start-up (median of ${RUNS}): --version ${version.toFixed(1)} ms, auth status --json ${status.toFixed(1)} ms, auth status --jq .host ${statusJq.toFixed(1)} ms (jq loaded only here: +${(statusJq - status).toFixed(1)} ms)`);
await s.close();

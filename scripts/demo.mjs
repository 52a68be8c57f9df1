// npm run demo: the whole sign-in on this machine, no Dify account needed. Starts the fake Dify
// server (tests/fake) on 127.0.0.1, runs the real dist/difyctl auth login against it, then
// auth status and auth whoami. The server approves the code by itself after 5 seconds;
// `npm run demo -- --manual` waits for you to approve in the page the server serves instead.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BUN, ROOT } from "./build-lib.mjs";

const manual = process.argv.includes("--manual");
const bin = join(ROOT, "dist", process.platform === "win32" ? "difyctl.exe" : "difyctl");
if (!existsSync(bin)) spawnSync("node", [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });

const serverArgs = [join(ROOT, "scripts", "fake-server.ts"), "--interval", "1", "--slow-down-window-ms", "1000"];
if (!manual) serverArgs.push("--auto-approve-after-ms", "5000");
const server = spawn(BUN, serverArgs, { stdio: ["ignore", "pipe", "inherit"] });
const stop = () => { try { server.kill("SIGTERM"); } catch { /* gone */ } };
process.on("exit", stop);
process.on("SIGINT", () => { stop(); process.exit(130); });

const url = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: server.stdout });
  rl.once("line", (line) => (line.startsWith("FAKE_SERVER_URL=") ? resolve(line.slice(16)) : reject(new Error(line))));
  server.once("exit", (c) => reject(new Error(`fake server exited (${c})`)));
});

const config = mkdtempSync(join(tmpdir(), "difyctl-demo-"));
const env = { ...process.env, DIFY_CONFIG_DIR: config, DIFY_TOKEN_STORAGE: "file" };
const step = (title, args) => {
  console.log(`\n\x1b[1m$ difyctl ${args.join(" ")}\x1b[0m   # ${title}`);
  return spawnSync(bin, args, { env, stdio: "inherit" }).status;
};

console.log(`Fake Dify server: ${url}   (config dir: ${config})`);
console.log(manual
  ? `Approve the sign-in yourself: open ${url}/device in a browser and enter the code shown below.`
  : "The fake server approves the code by itself after 5 seconds (npm run demo -- --manual to approve in the browser).");
const code = step("device-flow sign-in against the fake server", ["auth", "login", "--host", url, "--insecure", "--no-browser"]);
if (code === 0) {
  step("offline: who is signed in", ["auth", "status", "-v"]);
  step("offline: identity as JSON", ["auth", "whoami", "--json"]);
}
stop();
process.exit(code ?? 1);

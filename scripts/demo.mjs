// npm run demo: the product end to end on this machine, no Dify account needed. Starts the fake
// Dify server (tests/fake) on 127.0.0.1 and drives the real dist/difyctl against it: sign in with
// the device flow, look at the session, list the apps, run a chat app with its answer streamed,
// sign out. The server approves the code by itself after 5 seconds; `npm run demo -- --manual`
// waits for you to approve in the page the server serves instead. Everything difyctl writes goes
// to a temporary directory, removed at the end.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BUN, ROOT } from "./build-lib.mjs";

const manual = process.argv.includes("--manual");
const bin = join(ROOT, "dist", process.platform === "win32" ? "difyctl.exe" : "difyctl");
if (!existsSync(bin)) spawnSync("node", [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });

const work = mkdtempSync(join(tmpdir(), "difyctl-demo-"));
const serverArgs = [join(ROOT, "scripts", "fake-server.ts"), "--interval", "1", "--slow-down-window-ms", "1000"];
if (!manual) serverArgs.push("--auto-approve-after-ms", "5000");
const server = spawn(BUN, serverArgs, { stdio: ["ignore", "pipe", "inherit"] });
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  try { server.kill("SIGTERM"); } catch { /* gone */ }
  try { rmSync(work, { recursive: true, force: true }); } catch { /* best effort */ }
};
process.on("exit", cleanup);
process.on("SIGINT", () => { cleanup(); process.exit(130); });
process.on("SIGTERM", () => { cleanup(); process.exit(143); });

const url = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: server.stdout });
  rl.once("line", (line) => (line.startsWith("FAKE_SERVER_URL=") ? resolve(line.slice(16)) : reject(new Error(line))));
  server.once("exit", (c) => reject(new Error(`fake server exited (${c})`)));
});

// The config and cache dirs live in the temporary directory; the token goes to a file there.
const env = { ...process.env, DIFY_CONFIG_DIR: join(work, "config"), DIFY_CACHE_DIR: join(work, "cache"), DIFY_TOKEN_STORAGE: "file" };
for (const k of ["DIFY_TOKEN", "DIFY_HOST", "DIFY_WORKSPACE_ID", "DIFY_OUTPUT"]) delete env[k];
const tty = process.stdout.isTTY;
const bold = (s) => (tty && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[22m` : s);
const step = (title, args) => {
  console.log(`\n${bold(`$ difyctl ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(" ")}`)}   # ${title}`);
  return spawnSync(bin, args, { env, stdio: "inherit" }).status;
};

console.log(`difyctl demo: everything runs against a fake Dify server on this machine, at ${url}.
It speaks plain http:// on 127.0.0.1, so the sign-in warns about plain text (expected here, and
why --insecure is passed); a real server is https://. Nothing outside ${work} is written, and
that directory is removed at the end.`);
console.log(manual
  ? `Approve the sign-in yourself: open ${url}/device in a browser and enter the code shown below.`
  : "The fake server approves the sign-in by itself after 5 seconds (npm run demo -- --manual to approve it in the browser).");

let code = step("sign in with the OAuth device flow", ["auth", "login", "--host", url, "--insecure", "--no-browser"]);
if (code === 0) {
  step("offline: who is signed in, and the workspaces", ["auth", "status", "-v"]);
  code = step("the apps of the active workspace", ["get", "apps"]) || code;
  code = step("run a chat app by its name; the answer streams in", ["run", "app", "Support Chat", "How do I reset my password?"]) || code;
  code = step("sign out: the session is revoked on the server and removed here", ["auth", "logout"]) || code;
}
cleanup();
process.exit(code ?? 1);

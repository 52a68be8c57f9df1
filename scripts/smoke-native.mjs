// Runs a release binary on the machine it was built for (the CI and release workflows run it on
// Linux x64/arm64, macOS, Windows and in Alpine): version --json must name this platform, a
// logged-out `auth status` must exit 4, and the embedded keychain library must load. With
// --keychain it also signs in to the fake Dify server (bun scripts/fake-server.ts) with the token
// in the OS keychain (Keychain, Credential Manager, Secret Service), reads it back and signs out.
//
//   node scripts/smoke-native.mjs <binary> [--keychain]
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const [bin, ...flags] = process.argv.slice(2);
if (!bin || !existsSync(bin)) {
  console.error("usage: node scripts/smoke-native.mjs <binary> [--keychain]");
  process.exit(2);
}
const platform = process.platform === "win32" ? "windows" : process.platform;
const dir = mkdtempSync(join(tmpdir(), "difyctl-smoke-"));
const config = join(dir, "config");
// The real user environment (the keychain needs the login session), with a private config dir.
const env = { ...process.env, DIFY_CONFIG_DIR: config };
delete env.DIFY_TOKEN;
delete env.DIFY_HOST;

function run(args, extra = {}) {
  const t0 = Date.now();
  const r = spawnSync(bin, args, { env: { ...env, ...extra }, encoding: "utf8", timeout: 120_000 });
  const ms = Date.now() - t0;
  console.log(`$ difyctl ${args.join(" ")}  -> exit ${r.status} in ${ms} ms`);
  if (r.stdout) console.log(r.stdout.trimEnd());
  if (r.stderr) console.log(r.stderr.trimEnd());
  if (r.error) throw r.error;
  return r;
}
function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function main() {
  const v = run(["version", "--json"]);
  check(v.status === 0, "version --json failed");
  const info = JSON.parse(v.stdout);
  check(info.platform === platform && info.arch === process.arch, `version --json says ${info.platform}/${info.arch}, this is ${platform}/${process.arch}`);

  const out = run(["auth", "status", "--json"]);
  check(out.status === 4, `logged-out auth status should exit 4, got ${out.status}`);

  // A session whose token is in the keychain: reading it loads the native keychain library.
  writeFileSync(join(dir, "hosts.yml"), "current_host: dify.example.com\nsubject_type: account\naccount: {id: a1, email: a@example.com, name: A}\ntoken_storage: keychain\ntoken_id: t1\n", { mode: 0o600 });
  if (process.platform !== "win32") chmodSync(dir, 0o700);
  const kc = run(["auth", "status", "--json"], { DIFY_CONFIG_DIR: dir });
  check(!/could not load/.test(kc.stderr), "the keychain library did not load");

  if (flags.includes("--keychain")) await keychainRoundTrip();
  console.log(`smoke ok: ${bin}`);
}

async function keychainRoundTrip() {
  // Bun from npm: the binary its postinstall put in place, else its platform package's binary
  // (node_modules/.bin holds only wrappers on Windows).
  const os = process.platform === "win32" ? "windows" : process.platform;
  const arch = process.arch === "arm64" ? "aarch64" : process.arch;
  const exe = process.platform === "win32" ? "bun.exe" : "bun";
  const bun = [join(ROOT, "node_modules", "bun", "bin", "bun.exe"), ...["", "-baseline", "-musl"].map((v) => join(ROOT, "node_modules", "@oven", `bun-${os}-${arch}${v}`, "bin", exe))]
    .find((p) => existsSync(p));
  if (!bun) throw new Error("no Bun in node_modules/@oven: run npm ci first (the fake server runs on Bun)");
  const server = spawn(bun, [join(ROOT, "scripts", "fake-server.ts"), "--interval", "0.2", "--slow-down-window-ms", "100", "--auto-approve-after-polls", "1"], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = await new Promise((resolve, reject) => {
      let buf = "";
      server.stdout.on("data", (d) => {
        buf += d;
        const m = buf.match(/FAKE_SERVER_URL=(\S+)/);
        if (m) resolve(m[1]);
      });
      server.on("exit", (c) => reject(new Error(`fake server exited ${c}`)));
      setTimeout(() => reject(new Error("fake server did not start in 60 s")), 60_000);
    });
    const keychain = { DIFY_TOKEN_STORAGE: "keychain" };
    const login = run(["auth", "login", "--host", url, "--insecure", "--no-browser"], keychain);
    check(login.status === 0, "login with the token in the keychain failed");
    const st = run(["auth", "status", "--json"], keychain);
    check(st.status === 0, "auth status after login failed");
    const s = JSON.parse(st.stdout);
    check(s.logged_in === true && s.storage === "keychain", `expected a keychain session, got ${st.stdout}`);
    const who = run(["auth", "whoami", "--json"], keychain);
    check(who.status === 0, "whoami failed (token not read back from the keychain?)");
    const bye = run(["auth", "logout"], keychain);
    check(bye.status === 0, "logout failed");
    check(run(["auth", "status", "--json"], keychain).status === 4, "still logged in after logout");
  } finally {
    server.kill();
  }
}

main()
  .catch((e) => {
    console.error(`smoke FAILED: ${e.message}`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));

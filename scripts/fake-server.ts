// Standalone fake Dify server for demos and out-of-process tests.
//   bun scripts/fake-server.ts [--port N] [--interval S] [--auto-approve-after-ms N]
//       [--auto-approve-after-polls N] [--as EMAIL|sso] [--slow-down-window-ms N]
//       [--edition EE|CE] [--hostname H]
// First stdout line: FAKE_SERVER_URL=<url>. Runs until SIGINT/SIGTERM.
// Drive it with the /__test__/* routes (approve, deny, pending, advance, fault, mint, revoke, options).

import { startFakeServer, type FakeServerOptions } from "../tests/fake/server";

function parseArgs(argv: string[]): FakeServerOptions {
  const opts: FakeServerOptions = {};
  const auto: NonNullable<FakeServerOptions["autoApprove"]> = {};
  let autoSet = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`missing value for ${flag}`);
      return v;
    };
    const num = () => {
      const n = Number(value());
      if (!Number.isFinite(n)) throw new Error(`${flag} needs a number`);
      return n;
    };
    switch (flag) {
      case "--port": opts.port = num(); break;
      case "--hostname": opts.hostname = value(); break;
      case "--interval": opts.interval = num(); break;
      case "--slow-down-window-ms": opts.slowDownWindowMs = num(); break;
      case "--auto-approve-after-ms": auto.afterMs = num(); autoSet = true; break;
      case "--auto-approve-after-polls": auto.afterPolls = num(); autoSet = true; break;
      case "--as": auto.as = value(); break;
      case "--edition": {
        const e = value().toUpperCase();
        if (e !== "EE" && e !== "CE") throw new Error("--edition must be EE or CE");
        opts.edition = e;
        break;
      }
      case "-h":
      case "--help":
        process.stdout.write(
          "usage: bun scripts/fake-server.ts [--port N] [--interval S] [--auto-approve-after-ms N] [--auto-approve-after-polls N] [--as EMAIL|sso] [--slow-down-window-ms N] [--edition EE|CE] [--hostname H]\n",
        );
        process.exit(0);
      default:
        throw new Error(`unknown argument: ${arg}`);
    }
  }
  if (autoSet) opts.autoApprove = auto;
  return opts;
}

let opts: FakeServerOptions = {};
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`fake-server: ${(e as Error).message}\n`);
  process.exit(2);
}

const server = await startFakeServer(opts);
process.stdout.write(`FAKE_SERVER_URL=${server.url}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

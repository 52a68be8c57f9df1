import { flushOutput } from "./cli/output.ts";
import { runCli } from "./cli/router.ts";

const code = await runCli(process.argv.slice(2), process.env as Record<string, string | undefined>);
await flushOutput();
process.exit(code);

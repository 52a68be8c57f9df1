// Output goes through Bun.write: touching process.stdout/process.stderr costs 10–25 ms of
// start-up in a compiled binary (measured), and agents call difyctl hundreds of times.
// Writes are chained so that lines keep their order, and flushed before exit.
let outChain: Promise<unknown> = Promise.resolve();
let errChain: Promise<unknown> = Promise.resolve();

export function writeOut(text: string): Promise<unknown> {
  outChain = outChain.then(() => Bun.write(Bun.stdout, text)).catch(() => {});
  return outChain;
}

export function writeErr(text: string): Promise<unknown> {
  errChain = errChain.then(() => Bun.write(Bun.stderr, text)).catch(() => {});
  return errChain;
}

export async function flushOutput(): Promise<void> {
  await Promise.all([outChain, errChain]);
}

/** JSON output when --json is given or DIFY_OUTPUT=json. */
export function jsonRequested(flagJson: unknown, env: Record<string, string | undefined> = process.env): boolean {
  return flagJson === true || (env.DIFY_OUTPUT ?? "").toLowerCase() === "json";
}

export function printJson(value: unknown, pretty = false): Promise<unknown> {
  return writeOut((pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value)) + "\n");
}

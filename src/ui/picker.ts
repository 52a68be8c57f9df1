// A numbered choice on a terminal: the list on stderr, the answer typed on stdin. Plain lines
// rather than arrow keys, so it works in every terminal, over ssh and with a screen reader.
import { CliError } from "../cli/errors.ts";

export interface Choice<T> { label: string; value: T; current?: boolean }

export interface PickIO {
  write(text: string): Promise<unknown> | void;
  /** One line typed by the person, or null at end of input. */
  readLine(): Promise<string | null>;
}

const TRIES = 3;

/**
 * Asks for one of `choices` (at least one). Enter keeps the current choice when there is one;
 * Ctrl-D or three answers that are not a number on the list cancel.
 */
export async function pick<T>(io: PickIO, title: string, choices: Choice<T>[]): Promise<T> {
  const width = String(choices.length).length;
  const current = choices.findIndex((c) => c.current);
  let text = `? ${title}\n`;
  choices.forEach((c, i) => { text += `  ${String(i + 1).padStart(width)}) ${c.label}${c.current ? "  (current)" : ""}\n`; });
  await io.write(text);
  for (let i = 0; i < TRIES; i++) {
    await io.write(`Choose 1-${choices.length}${current >= 0 ? " (Enter keeps the current one)" : ""}: `);
    const answer = await io.readLine();
    if (answer === null) break;
    const a = answer.trim();
    if (a === "" && current >= 0) return choices[current].value;
    const n = /^\d{1,6}$/.test(a) ? Number(a) : NaN;
    if (n >= 1 && n <= choices.length) return choices[n - 1].value;
    await io.write(`'${a.slice(0, 20).replace(/[^\x20-\x7e]/g, "?")}' is not a number from 1 to ${choices.length}\n`);
  }
  throw new CliError("cancelled", "nothing was chosen");
}

// Terminal-only helpers for login: a spinner with a countdown and line input. Loaded lazily.

export function formatRemaining(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export class Spinner {
  private timer: ReturnType<typeof setInterval> | null = null;
  private frame = 0;
  private static readonly FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

  constructor(private readonly write: (s: string) => void, private readonly text: () => string) {}

  start(): void {
    this.timer = setInterval(() => {
      this.frame = (this.frame + 1) % Spinner.FRAMES.length;
      this.write(`\r\x1b[2K${Spinner.FRAMES[this.frame]} ${this.text()}`);
    }, 120);
  }

  stop(final: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.write(`\r\x1b[2K${final}\n`);
  }
}

/** Reads one line from stdin (TTY prompts). Resolves null on EOF. */
export function readLine(): Promise<string | null> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    let buf = "";
    const onData = (d: Buffer) => {
      buf += d.toString("utf8");
      const i = buf.indexOf("\n");
      if (i >= 0) { cleanup(); resolve(buf.slice(0, i).replace(/\r$/, "")); }
    };
    const onEnd = () => { cleanup(); resolve(buf.length ? buf : null); };
    const cleanup = () => { stdin.off("data", onData); stdin.off("end", onEnd); stdin.pause(); };
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    stdin.resume();
  });
}

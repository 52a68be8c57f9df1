// Terminal-only helpers: a spinner (login's countdown, progress on slow requests) and line input. Loaded lazily.

export function formatRemaining(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The interval functions a spinner uses; a test passes fakes and advances them by hand. */
export interface IntervalTimer {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const REAL_INTERVAL: IntervalTimer = {
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
};

export class Spinner {
  private timer: unknown = null;
  private frame = 0;
  private static readonly FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

  constructor(private readonly write: (s: string) => void, private readonly text: () => string, private readonly timers: IntervalTimer = REAL_INTERVAL) {}

  /** `immediate` draws the first frame now instead of after the first interval. */
  start(immediate = false): void {
    const draw = () => this.write(`\r\x1b[2K${Spinner.FRAMES[this.frame]} ${this.text()}`);
    if (immediate) draw();
    this.timer = this.timers.setInterval(() => {
      this.frame = (this.frame + 1) % Spinner.FRAMES.length;
      draw();
    }, 120);
  }

  stop(final: string): void {
    this.halt();
    this.write(`\r\x1b[2K${final}\n`);
  }

  /** Stops and erases the spinner line, leaving the cursor where the line began. */
  clear(): void {
    this.halt();
    this.write("\r\x1b[2K");
  }

  private halt(): void {
    if (this.timer !== null) this.timers.clearInterval(this.timer);
    this.timer = null;
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

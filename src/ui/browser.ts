type Env = Record<string, string | undefined>;

export interface BrowserDecision { open: boolean; reason?: "opted_out" | "ssh" | "headless" | "non_interactive" }

/** Whether to open a browser: the first matching condition skips the auto-open. */
export function decideBrowser(o: { noBrowser: boolean; env: Env; platform: string; stdoutTTY: boolean; stderrTTY: boolean }): BrowserDecision {
  if (o.noBrowser) return { open: false, reason: "opted_out" };
  if (o.env.SSH_CONNECTION || o.env.SSH_TTY) return { open: false, reason: "ssh" };
  if (o.platform === "linux" && !o.env.DISPLAY && !o.env.WAYLAND_DISPLAY) return { open: false, reason: "headless" };
  if (!o.stdoutTTY || !o.stderrTTY) return { open: false, reason: "non_interactive" };
  return { open: true };
}

export function openerCommand(platform: string, url: string): string[] {
  if (platform === "darwin") return ["open", url];
  if (platform === "win32") return ["rundll32", "url.dll,FileProtocolHandler", url];
  return ["xdg-open", url];
}

/** Starts the platform opener; false when it could not be started. The URL is always printed too. */
export function openBrowser(url: string, platform: string = process.platform): boolean {
  try {
    Bun.spawn(openerCommand(platform, url), { stdio: ["ignore", "ignore", "ignore"] }).unref();
    return true;
  } catch {
    return false;
  }
}

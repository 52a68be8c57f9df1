// Replaced at build time with --define (scripts/build-lib.mjs); the fallbacks are for `bun run`.
declare const DIFYCTL_VERSION: string;
declare const DIFYCTL_CHANNEL: string;
declare const DIFYCTL_COMMIT: string;

export const VERSION: string = typeof DIFYCTL_VERSION === "string" ? DIFYCTL_VERSION : "0.0.0-dev";
export const CHANNEL: string = typeof DIFYCTL_CHANNEL === "string" ? DIFYCTL_CHANNEL : "dev";
export const COMMIT: string = typeof DIFYCTL_COMMIT === "string" ? DIFYCTL_COMMIT : "unknown";

export function platformName(): string {
  return process.platform === "win32" ? "windows" : process.platform;
}

export function userAgent(): string {
  return `difyctl/${VERSION} (${platformName()}; ${process.arch}; ${CHANNEL})`;
}

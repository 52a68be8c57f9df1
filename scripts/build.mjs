// npm run build: the host binary at dist/difyctl.
import { compile } from "./build-lib.mjs";

const ext = process.platform === "win32" ? ".exe" : "";
const t0 = Date.now();
const r = compile({ outfile: `dist/difyctl${ext}` });
console.log(`built ${r.outfile} (difyctl ${r.version}, ${r.channel}, ${r.commit}) in ${Date.now() - t0} ms`);

/**
 * Writes the browser client as static files to `examples/remote-bridge/dist/` (or the directory
 * given as the first argument): what a Tauri or Electron webview loads, with the host as its
 * sidecar (see the README).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { bundleClient } from "../src/bundle.ts"

const out = process.argv[2] ?? fileURLToPath(new URL("../dist/", import.meta.url))
const files = await bundleClient()
mkdirSync(out, { recursive: true })
for (const [name, text] of Object.entries(files)) writeFileSync(join(out, name), text)
console.log(`wrote ${Object.keys(files).join(", ")} to ${out} (client.js: ${files["client.js"].length} bytes)`)

/**
 * The browser client as static files: `index.html` and `client.js`, the client bundled with
 * esbuild for the browser (the root of `@isthmus/rpc-protocol` only; a Node built-in in the
 * bundle fails the build). The host serves them; `scripts/build-client.ts` writes them to
 * `dist/` for a Tauri or Electron webview.
 */
import * as esbuild from "esbuild"
import { readFileSync } from "node:fs"
import { isBuiltin } from "node:module"
import { fileURLToPath } from "node:url"

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))

export interface ClientFiles {
  readonly "index.html": string
  readonly "client.js": string
}

export const bundleClient = async (): Promise<ClientFiles> => {
  const result = await esbuild.build({
    entryPoints: [here("./client.ts")],
    bundle: true,
    write: false,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    logLevel: "silent",
    plugins: [{
      name: "no-node-builtins",
      setup(build) {
        build.onResolve({ filter: /.*/ }, (args) =>
          isBuiltin(args.path)
            ? { errors: [{ text: `${args.path} is a Node built-in: the client must stay browser-safe` }] }
            : undefined)
      }
    }]
  })
  return { "index.html": readFileSync(here("./page.html"), "utf8"), "client.js": result.outputFiles[0]!.text }
}

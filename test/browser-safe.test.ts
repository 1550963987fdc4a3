import * as esbuild from "esbuild"
import { isBuiltin } from "node:module"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("..", import.meta.url))

/**
 * Entries that must run in a browser or a Tauri webview: the root entries of @isthmus/wsl and
 * @isthmus/rpc-protocol (their Node services live under `/node`). Each whole entry is bundled
 * for the browser platform, following every import (including into `effect`), and the bundle
 * fails if any path reaches a Node built-in.
 */
export const browserEntries = [
  "packages/wsl/src/index.ts",
  "packages/rpc-protocol/src/index.ts"
]

const nodeBuiltinTrap = (reached: Array<string>): esbuild.Plugin => ({
  name: "node-builtin-trap",
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (isBuiltin(args.path)) {
        reached.push(`${args.path} (imported by ${args.importer.replace(root, "")})`)
        return { path: args.path, external: true }
      }
      return undefined
    })
  }
})

export const bundleForBrowser = async (entry: string) => {
  const reached: Array<string> = []
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: "browser",
    format: "esm",
    logLevel: "silent",
    plugins: [nodeBuiltinTrap(reached)]
  })
  return { reached, bytes: result.outputFiles[0]?.contents.byteLength ?? 0 }
}

describe("browser-safe cores", () => {
  for (const entry of browserEntries) {
    it(`${entry} reaches no Node built-in`, async () => {
      const { reached, bytes } = await bundleForBrowser(entry)
      expect(reached).toEqual([])
      expect(bytes).toBeGreaterThan(0)
    })
  }

  it("the check itself catches a Node built-in", async () => {
    const { reached } = await bundleForBrowser("test/fixtures/uses-node-builtin.ts")
    expect(reached).toEqual(["node:fs (imported by test/fixtures/uses-node-builtin.ts)"])
  })
})

import * as esbuild from "esbuild"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { isBuiltin } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("..", import.meta.url))

/**
 * Every package's root entry (`exports["."]`) must run in a browser or a Tauri webview: Node
 * services live under `/node`, test kits under `/testing`, Promise facades under `/promise`. The
 * packages listed here are Node only as a whole, say so in their README, and are checked to really
 * need Node (so the exemption is dropped once it is no longer true).
 */
export const nodeOnlyPackages: Readonly<Record<string, string>> = {
  "backend-pool": "it spawns, signals and watches OS processes and writes log files"
}

interface PackageEntry {
  readonly dir: string
  readonly name: string
  readonly root: string
}

/** The root entry of every package under packages/, from its package.json. */
export const packageRoots = (): Array<PackageEntry> =>
  readdirSync(path.join(root, "packages")).toSorted().flatMap((dir) => {
    const manifest = path.join(root, "packages", dir, "package.json")
    if (!existsSync(manifest)) return []
    const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { name: string; exports: Record<string, unknown> }
    const target = pkg.exports["."]
    if (typeof target !== "string") throw new Error(`${manifest}: exports["."] is not a path`)
    return [{ dir, name: pkg.name, root: path.posix.join("packages", dir, target) }]
  })

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

describe("browser-safe root entries", () => {
  const entries = packageRoots()

  it("finds every package", () => {
    expect(entries.map((e) => e.name)).toEqual(
      expect.arrayContaining(["@isthmus/wsl", "@isthmus/rpc-protocol", "@isthmus/backend-pool"])
    )
  })

  for (const entry of entries.filter((e) => nodeOnlyPackages[e.dir] === undefined)) {
    it(`${entry.name} (${entry.root}) bundles for the browser without a Node built-in`, async () => {
      const { reached, bytes } = await bundleForBrowser(entry.root)
      expect(reached).toEqual([])
      expect(bytes).toBeGreaterThan(0)
    })
  }

  for (const entry of entries.filter((e) => nodeOnlyPackages[e.dir] !== undefined)) {
    it(`${entry.name} is Node only (${nodeOnlyPackages[entry.dir]}), really needs Node, and its README says so`, async () => {
      const { reached } = await bundleForBrowser(entry.root)
      expect(reached.length).toBeGreaterThan(0)
      expect(readFileSync(path.join(root, "packages", entry.dir, "README.md"), "utf8")).toContain("**Node only**")
    })
  }

  it("the check itself catches a Node built-in", async () => {
    const { reached } = await bundleForBrowser("test/fixtures/uses-node-builtin.ts")
    expect(reached).toEqual(["node:fs (imported by test/fixtures/uses-node-builtin.ts)"])
  })
})

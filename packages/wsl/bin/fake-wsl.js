#!/usr/bin/env node
// fake-wsl: behaves like wsl.exe on Linux for process-level tests (see @isthmus/wsl/testing).
// Installed from npm (under node_modules, where Node refuses to strip types) it runs the built
// JavaScript. In the repository it runs, in order of preference:
// - the build, when it is at least as new as every source file;
// - else a one-file bundle of the sources made with esbuild (a dev dependency of the repository)
//   and cached by the sources' newest mtime: Node's type stripping costs about 0.4 s per start
//   and 40 MB, and tests start fake-wsl hundreds of times;
// - else the TypeScript sources through Node's type stripping.
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"

const entry = process.env["FAKE_WSL_ENTRY"] === "relay" ? "fakeWslRelay" : "fakeWslMain"
const source = new URL(`../src/testing/${entry}.ts`, import.meta.url)
const built = new URL(`../dist/testing/${entry}.js`, import.meta.url)
const srcDir = fileURLToPath(new URL("../src", import.meta.url))

const newestMtime = (dir) => {
  let newest = 0
  for (const item of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (item.isFile()) newest = Math.max(newest, statSync(`${item.parentPath}/${item.name}`).mtimeMs)
  }
  return newest
}

const bundled = async (newest) => {
  const cacheDir = fileURLToPath(new URL("../node_modules/.cache/fake-wsl", import.meta.url))
  const file = `${cacheDir}/${entry}-${Math.floor(newest)}.mjs`
  if (!existsSync(file)) {
    const esbuild = await import("esbuild")
    mkdirSync(cacheDir, { recursive: true })
    const temporary = `${file}.${process.pid}.tmp`
    await esbuild.build({
      entryPoints: [fileURLToPath(source)],
      bundle: true,
      format: "esm",
      platform: "node",
      outfile: temporary,
      logLevel: "silent"
    })
    // Atomic: concurrent starts read the old file or the new one, never half of it.
    renameSync(temporary, file)
  }
  return import(pathToFileURL(file).href)
}

const load = async () => {
  if (!existsSync(source) || fileURLToPath(import.meta.url).includes("/node_modules/")) return import(built.href)
  const newest = newestMtime(srcDir)
  try {
    if (statSync(built).mtimeMs >= newest) return await import(built.href)
  } catch {
    // No build, or a broken one: the sources are the truth.
  }
  try {
    return await bundled(newest)
  } catch {
    return import(source.href)
  }
}

const { main } = await load()
process.exitCode = await main(process.argv.slice(2))

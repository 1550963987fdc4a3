#!/usr/bin/env node
// fake-wsl: behaves like wsl.exe on Linux for process-level tests (see @isthmus/wsl/testing).
// Installed from npm (under node_modules, where Node refuses to strip types) it runs the built
// JavaScript. In the repository it runs the
// TypeScript sources with Node's type stripping, unless the build is at least as new as every
// source file: then the build, which starts about 100 ms faster (tests spawn fake-wsl often).
import { existsSync, readdirSync, statSync } from "node:fs"
import { fileURLToPath } from "node:url"

const source = new URL("../src/testing/fakeWslMain.ts", import.meta.url)
const built = new URL("../dist/testing/fakeWslMain.js", import.meta.url)

const newestMtime = (dir) => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs)
  }
  return newest
}

const builtIsCurrent = () => {
  try {
    return statSync(built).mtimeMs >= newestMtime(fileURLToPath(new URL("../src", import.meta.url)))
  } catch {
    return false
  }
}

const load = async () => {
  if (!existsSync(source) || fileURLToPath(import.meta.url).includes("/node_modules/")) return import(built.href)
  if (builtIsCurrent()) {
    try {
      return await import(built.href)
    } catch {
      // A build in progress or a broken one: the sources are the truth.
    }
  }
  return import(source.href)
}

const { main } = await load()
process.exitCode = await main(process.argv.slice(2))

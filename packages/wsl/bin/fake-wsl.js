#!/usr/bin/env node
// fake-wsl: behaves like wsl.exe on Linux for process-level tests (see @isthmus/wsl/testing).
// Runs the TypeScript sources with Node's type stripping in the repository, the built
// JavaScript when installed from npm (where src/ is not shipped).
import { existsSync } from "node:fs"

const source = new URL("../src/testing/fakeWslMain.ts", import.meta.url)
const built = new URL("../dist/testing/fakeWslMain.js", import.meta.url)
const { main } = await import(existsSync(source) ? source.href : built.href)
process.exitCode = await main(process.argv.slice(2))

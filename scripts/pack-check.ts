/**
 * `pnpm pack-check`: proves that what we publish installs and type-checks in someone else's project.
 *
 * 1. builds every package (`tsc -b` declarations + `tsup` JavaScript) and `pnpm pack`s it;
 * 2. runs publint and @arethetypeswrong/cli on each real tarball;
 * 3. creates a scratch consumer project outside the workspace, installs the three tarballs (no
 *    workspace links: `@isthmus/*` dependencies between them are overridden to the tarballs),
 *    type-checks `scripts/consumer/main.ts` under `moduleResolution` `nodenext` and `bundler`
 *    against the packed `.d.ts`, and runs it with Node;
 * 4. shows the check can fail: it breaks a package's `exports`, then removes a declaration file,
 *    and requires the consumer type-check to fail each time.
 */
import { execFileSync, type ExecFileSyncOptions } from "node:child_process"
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { publint } from "publint"
import { formatMessage } from "publint/utils"

const root = fileURLToPath(new URL("..", import.meta.url))
const packages = ["wsl", "rpc-protocol", "backend-pool"] as const
const tsc = join(root, "node_modules/typescript/bin/tsc")

const run = (command: string, args: ReadonlyArray<string>, options: ExecFileSyncOptions = {}) =>
  execFileSync(command, args, { stdio: "inherit", ...options })
const step = (text: string) => console.log(`\npack-check: ${text}`)

const scratch = mkdtempSync(join(tmpdir(), "isthmus-pack-check-"))
let failures = 0
try {
  step("building packages")
  // tsup first (it empties dist/), then the declarations.
  for (const name of packages) run("pnpm", ["exec", "tsup", "--silent"], { cwd: join(root, "packages", name) })
  run(process.execPath, [tsc, "-b", "tsconfig.json"], { cwd: root })

  step("packing")
  const tarballs = new Map<string, string>()
  const packDir = join(scratch, "tarballs")
  for (const name of packages) {
    const cwd = join(root, "packages", name)
    const manifest = JSON.parse(readFileSync(join(cwd, "package.json"), "utf8")) as { name: string }
    const before = new Set(safeReaddir(packDir))
    run("pnpm", ["pack", "--pack-destination", packDir], { cwd, stdio: ["ignore", "ignore", "inherit"] })
    const tarball = safeReaddir(packDir).find((f) => !before.has(f))
    if (tarball === undefined) throw new Error(`pnpm pack produced no tarball for ${manifest.name}`)
    tarballs.set(manifest.name, join(packDir, tarball))
    console.log(`  ${manifest.name} -> ${tarball}`)
  }

  step("publint + arethetypeswrong on each tarball")
  for (const [name, tarball] of tarballs) {
    const bytes = readFileSync(tarball)
    const { messages, pkg } = await publint({
      pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer },
      level: "suggestion",
      strict: true
    })
    for (const message of messages) {
      failures++
      console.log(`  publint ${name}: ${message.type}: ${formatMessage(message, pkg, { color: false })}`)
    }
    if (messages.length === 0) console.log(`  publint ${name}: no problems`)
    try {
      // ESM only by design (Effect is ESM only), so the esm-only profile: CommonJS `require` is not offered.
      run("pnpm", ["exec", "attw", tarball, "--profile", "esm-only", "--format", "ascii", "--no-color"], {
        cwd: root,
        stdio: "pipe"
      })
      console.log(`  attw ${name}: no problems`)
    } catch (error) {
      failures++
      const { stdout } = error as { stdout?: Buffer }
      console.log(`  attw ${name}: problems found\n${stdout?.toString() ?? String(error)}`)
    }
  }

  step("scratch consumer outside the workspace")
  const consumer = join(scratch, "consumer")
  const tarballSpecs = Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`]))
  const rootManifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    devDependencies: Record<string, string>
  }
  writeJson(join(consumer, "package.json"), {
    name: "isthmus-consumer",
    private: true,
    type: "module",
    dependencies: {
      ...tarballSpecs,
      effect: rootManifest.devDependencies["effect"],
      "@effect/platform-node": rootManifest.devDependencies["@effect/platform-node"],
      "@types/node": rootManifest.devDependencies["@types/node"]
    }
  })
  // Packages depend on each other by version (`workspace:^` was rewritten by pnpm pack); point
  // those at the tarballs too, so nothing comes from the registry under our names.
  writeFileSync(
    join(consumer, "pnpm-workspace.yaml"),
    `overrides:\n${[...tarballs].map(([name, file]) => `  "${name}": "file:${file}"`).join("\n")}\n`
  )
  copyFileSync(join(root, "scripts/consumer/main.ts"), join(consumer, "main.ts"))
  const common = {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    noEmit: true,
    allowImportingTsExtensions: true,
    types: ["node"],
    target: "ES2022",
    lib: ["ES2023", "DOM"]
  }
  writeJson(join(consumer, "tsconfig.nodenext.json"), {
    compilerOptions: { ...common, module: "nodenext", moduleResolution: "nodenext" },
    files: ["main.ts"]
  })
  writeJson(join(consumer, "tsconfig.bundler.json"), {
    compilerOptions: { ...common, module: "preserve", moduleResolution: "bundler" },
    files: ["main.ts"]
  })
  // The consumer is its own workspace root (its pnpm-workspace.yaml holds the overrides), far
  // from ours: nothing is linked from the isthmus workspace.
  run("pnpm", ["install", "--config.confirmModulesPurge=false", "--reporter=silent"], {
    cwd: consumer,
    env: { ...process.env, CI: "true" }
  })
  const typecheck = (config: string, stdio: "inherit" | "pipe" = "inherit") =>
    run(process.execPath, [tsc, "-p", config], { cwd: consumer, stdio })
  for (const config of ["tsconfig.nodenext.json", "tsconfig.bundler.json"]) {
    typecheck(config)
    console.log(`  ${config}: type-checks against the packed declarations`)
  }
  const output = execFileSync(process.execPath, ["main.ts"], { cwd: consumer, encoding: "utf8" })
  process.stdout.write(output.trimEnd().replace(/^/gm, "  consumer> ") + "\n")
  if (!output.includes("consumer ok")) {
    failures++
    console.log("  consumer program did not print 'consumer ok'")
  }

  step("the check must fail when a package is broken")
  const installed = (pkg: string, file: string) => join(consumer, "node_modules", pkg, file)
  const mustFail = (what: string, breakIt: () => () => void) => {
    const restore = breakIt()
    try {
      typecheck("tsconfig.nodenext.json", "pipe")
      failures++
      console.log(`  ${what}: the consumer still type-checked — the packaging check cannot catch this`)
    } catch {
      console.log(`  ${what}: consumer type-check failed, as it must`)
    } finally {
      restore()
    }
  }
  mustFail("broken exports in @isthmus/wsl", () => {
    const file = installed("@isthmus/wsl", "package.json")
    const manifest = JSON.parse(readFileSync(file, "utf8")) as { exports: Record<string, unknown> }
    manifest.exports["."] = { types: "./dist/missing.d.ts", default: "./dist/missing.js" }
    return replace(file, JSON.stringify(manifest))
  })
  mustFail("missing declarations in @isthmus/rpc-protocol", () => {
    const file = installed("@isthmus/rpc-protocol", "dist/index.d.ts")
    return replace(file, "export {}\n")
  })
  typecheck("tsconfig.nodenext.json")
} finally {
  rmSync(scratch, { recursive: true, force: true })
}

if (failures > 0) {
  console.log(`\npack-check: ${failures} problem(s)`)
  process.exit(1)
}
console.log("\npack-check: all packages pack, lint, resolve and run from their tarballs")

function safeReaddir(dir: string): Array<string> {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

function writeJson(file: string, value: unknown) {
  execFileSync("mkdir", ["-p", join(file, "..")])
  writeFileSync(file, JSON.stringify(value, null, 2) + "\n")
}

/** Replaces a file and returns how to put it back. Files under node_modules are hard links into
 * pnpm's store: unlink before writing so the store itself is never modified. */
function replace(file: string, text: string): () => void {
  const original = readFileSync(file)
  rmSync(file)
  writeFileSync(file, text)
  return () => {
    rmSync(file)
    writeFileSync(file, original)
  }
}

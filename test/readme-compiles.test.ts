/**
 * Every TypeScript block of every README (the root's, each package's, each example's) must compile
 * as written, with the repository's strict compiler settings (unused names allowed: snippets show
 * values without using them). Marker convention (see test/support/readme-blocks.ts and the root
 * README's "README code blocks" section), an HTML comment on the line before the fence:
 *
 * - none: the block is a module of its own, imports included;
 * - `<!-- continues -->`: the block goes on from the TypeScript block above (checked appended to it);
 * - `<!-- fragment: <reason> -->`: not compiled; the reason is required.
 *
 * Each block is written next to its README (in `.readme-check/`, so imports resolve from the
 * README's own directory as a reader's file would) and the whole set goes through one `tsc` run.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type Block,
  type Diagnostic,
  extractBlocks,
  parseTscOutput,
  type Unit,
  unitsOf
} from "./support/readme-blocks.ts"

const root = fileURLToPath(new URL("..", import.meta.url))
const scratchDirName = ".readme-check"

/** The root README, and the README of every package and example. */
const readmes = (): Array<string> => {
  const found = ["README.md"]
  for (const parent of ["packages", "examples"]) {
    for (const name of readdirSync(path.join(root, parent)).toSorted()) {
      const candidate = path.join(parent, name, "README.md")
      if (existsSync(path.join(root, candidate))) found.push(candidate)
    }
  }
  return found
}

/** The broken-on-purpose Markdown file that shows the check can fail. */
const fixture = "test/fixtures/readme-check.md"

interface Written {
  readonly readme: string
  readonly unit: Unit
  readonly file: string
}

/** Imports relative to the README are one directory up from the scratch directory. */
const rebaseRelativeImports = (source: string) =>
  source.replace(/((?:from|import)\s*\(?\s*["'])(\.\.?\/)/g, (_m, head: string, rel: string) => `${head}../${rel}`)

const writeUnits = (
  readme: string
): { written: Array<Written>; problems: ReturnType<typeof extractBlocks>["problems"]; blocks: Array<Block> } => {
  const { blocks, problems } = extractBlocks(readFileSync(path.join(root, readme), "utf8"))
  const dir = path.join(root, path.dirname(readme), scratchDirName)
  const written = unitsOf(blocks).map((unit) => {
    const file = path.join(dir, `${path.basename(readme, ".md")}.line-${unit.block.line}.ts`)
    mkdirSync(dir, { recursive: true })
    writeFileSync(file, rebaseRelativeImports(unit.source))
    return { readme, unit, file }
  })
  return { written, problems, blocks }
}

const runTsc = (files: ReadonlyArray<string>): Promise<string> => {
  const configDir = path.join(root, ".tmp", "readme-check")
  mkdirSync(configDir, { recursive: true })
  const config = path.join(configDir, "tsconfig.json")
  writeFileSync(
    config,
    JSON.stringify({
      extends: path.join(root, "tsconfig.base.json"),
      compilerOptions: {
        noEmit: true,
        noUnusedLocals: false,
        noUnusedParameters: false,
        declarationMap: false,
        sourceMap: false
      },
      files
    })
  )
  const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc")
  return new Promise((resolve) => {
    execFile(process.execPath, [tsc, "-p", config, "--pretty", "false"], { cwd: root, maxBuffer: 64 << 20 }, (
      _error,
      stdout,
      stderr
    ) => resolve(`${stdout}${stderr}`))
  })
}

/** The diagnostics of one unit, as `README.md:line:col message`, keeping only its own lines. */
const diagnosticsOf = (written: Written, all: ReadonlyArray<Diagnostic>): Array<string> =>
  all.filter((d) => path.resolve(root, d.file) === written.file).flatMap((d) => {
    const origin = written.unit.origin[d.line - 1]
    return origin === undefined ? [] : [`${written.readme}:${origin}:${d.column} ${d.text}`]
  })

const scratchDirs = () => [...readmes(), fixture].map((f) => path.join(root, path.dirname(f), scratchDirName))

const byReadme = new Map<string, ReturnType<typeof writeUnits>>()
let diagnostics: Array<Diagnostic> = []

beforeAll(async () => {
  for (const dir of scratchDirs()) rmSync(dir, { recursive: true, force: true })
  for (const readme of [...readmes(), fixture]) byReadme.set(readme, writeUnits(readme))
  const files = [...byReadme.values()].flatMap((r) => r.written.map((w) => w.file))
  diagnostics = parseTscOutput(await runTsc(files))
}, 600_000) // one tsc run over every block and the packages' sources: ~20 s on a quiet 2-core VM

afterAll(() => {
  for (const dir of scratchDirs()) rmSync(dir, { recursive: true, force: true })
})

describe("README TypeScript blocks compile", () => {
  for (const readme of readmes()) {
    it(`${readme}: markers are well-formed and every block compiles`, () => {
      const result = byReadme.get(readme)!
      expect(result.problems.map((p) => `${readme}:${p.line} ${p.message}`)).toEqual([])
      expect(result.written.flatMap((w) => diagnosticsOf(w, diagnostics))).toEqual([])
    })
  }

  it("tsc reported nothing outside the README blocks (a broken package source would hide here)", () => {
    const known = new Set([...byReadme.values()].flatMap((r) => r.written.map((w) => w.file)))
    expect(diagnostics.filter((d) => !known.has(path.resolve(root, d.file))).map((d) => `${d.file} ${d.text}`))
      .toEqual([])
  })
})

describe("the check itself", () => {
  it("reports a broken block at its README line, checks a continuation with the block above, skips a fragment", () => {
    const result = byReadme.get(fixture)!
    expect(result.blocks.map((b) => [b.line, b.mode._tag])).toEqual([
      [4, "Module"],
      [11, "Continues"],
      [17, "Fragment"],
      [21, "Module"],
      [27, "Fragment"]
    ])
    const reported = result.written.flatMap((w) => diagnosticsOf(w, diagnostics))
    // Oracle: the fixture's own comments say which line breaks and how.
    expect(reported).toHaveLength(2)
    expect(reported[0]).toMatch(
      /^test\/fixtures\/readme-check\.md:11:14 TS\d+: Type 'Effect<number.*' is not assignable/
    )
    expect(reported[1]).toMatch(/^test\/fixtures\/readme-check\.md:21:15 TS2304: Cannot find name 'Effect'/)
    expect(result.problems).toEqual([
      { line: 26, message: "a fragment marker needs a reason: <!-- fragment: why -->" }
    ])
  })
})

describe("extractBlocks", () => {
  it("takes ts and typescript fences only, strips list indentation, and does not look inside longer fences", () => {
    const md = [
      "```sh", // 1
      "echo not ts",
      "```",
      "- item",
      "  ```typescript", // 5
      "  const a = 1",
      "    const b = 2",
      "  ```",
      "````md", // 9
      "```ts",
      "const hidden = 1",
      "```",
      "````",
      "~~~ts", // 14
      "const c = 3",
      "~~~"
    ].join("\n")
    const { blocks } = extractBlocks(md)
    expect(blocks).toEqual([
      { line: 6, code: "const a = 1\n  const b = 2", mode: { _tag: "Module" } },
      { line: 15, code: "const c = 3", mode: { _tag: "Module" } }
    ])
  })

  it("a continuation of nothing is a problem", () => {
    expect(extractBlocks("<!-- continues -->\n```ts\nx\n```").problems).toEqual([
      { line: 2, message: "<!-- continues --> on the first TypeScript block: nothing to continue" }
    ])
  })

  it("a continuation carries the chain but only its own lines are attributed to it", () => {
    const { blocks } = extractBlocks("```ts\nconst a = 1\n```\n<!-- continues -->\n```ts\nconst b = a\n```")
    const units = unitsOf(blocks)
    expect(units[1]!.source).toBe("const a = 1\nconst b = a\n")
    expect(units[1]!.origin).toEqual([undefined, 6])
  })
})

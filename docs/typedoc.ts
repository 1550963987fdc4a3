/**
 * `pnpm run docs`: the API reference of every published entry point (each package's `exports`),
 * generated from the JSDoc by TypeDoc into `docs/api/`. It fails (exit 1) on a broken `{@link}`,
 * an exported symbol the reference cannot show, or a public export without documentation, so CI
 * keeps the reference complete.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Application, Converter, type ProjectReflection, ReflectionKind } from "typedoc"

const repo = fileURLToPath(new URL("..", import.meta.url))

/** `@isthmus/wsl/node` → `packages/wsl/src/node/index.ts`, for every subpath of every package. */
const entries = readdirSync(path.join(repo, "packages")).toSorted().flatMap((dir) => {
  const manifest = path.join(repo, "packages", dir, "package.json")
  if (!existsSync(manifest)) return []
  const pkg = JSON.parse(readFileSync(manifest, "utf8")) as { name: string; exports: Record<string, unknown> }
  return Object.entries(pkg.exports).flatMap(([subpath, target]) =>
    typeof target === "string" && target.endsWith(".ts")
      ? [{ name: path.posix.join(pkg.name, subpath), file: path.join(repo, "packages", dir, target) }]
      : []
  )
})

/** The repository the packages' manifests name (`git+https://github.com/o/r.git` → `https://github.com/o/r`). */
const repositoryUrl = (() => {
  const manifest = JSON.parse(readFileSync(path.join(repo, "packages", "wsl", "package.json"), "utf8")) as {
    repository: { url: string }
  }
  return manifest.repository.url.replace(/^git\+/, "").replace(/\.git$/, "")
})()

const packageNames = [...new Set(entries.map((e) => e.name.split("/").slice(0, 2).join("/")))]

const app = await Application.bootstrapWithPlugins({
  name: "isthmus",
  entryPoints: entries.map((e) => e.file),
  entryPointStrategy: "resolve",
  tsconfig: path.join(repo, "docs", "tsconfig.json"),
  out: path.join(repo, "docs", "api"),
  readme: "none",
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  sort: ["kind", "alphabetical"],
  validation: { notExported: true, invalidLink: true, notDocumented: true, rewrittenLink: true },
  requiredToBeDocumented: ["Class", "Function", "Variable", "Interface", "TypeAlias", "Enum"],
  packagesRequiringDocumentation: packageNames,
  treatValidationWarningsAsErrors: true,
  treatWarningsAsErrors: true,
  // Source links point at the repository the packages name in `repository`, not at whatever
  // remote this clone has (TypeDoc warns, and so fails, in a clone without a GitHub remote).
  disableGit: true,
  // `{path}` is relative to the entry points' common directory, `packages/`.
  sourceLinkTemplate: `${repositoryUrl}/blob/main/packages/{path}#L{line}`,
  logLevel: "Info"
})

// Name each module after its import specifier (`@isthmus/wsl/node`), not its file path.
app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
  const byFile = new Map(entries.map((e) => [e.file, e.name]))
  for (const child of context.project.children ?? []) {
    if (!child.kindOf(ReflectionKind.Module)) continue
    const file = child.sources?.[0]?.fullFileName
    const name = file === undefined ? undefined : byFile.get(file)
    if (name !== undefined) child.name = name
  }
})

const project: ProjectReflection | undefined = await app.convert()
if (project === undefined) process.exit(1)
app.validate(project)
if (app.logger.hasErrors() || app.logger.hasWarnings()) {
  console.error(`docs: ${app.logger.errorCount} errors, ${app.logger.warningCount} warnings (fix them above)`)
  process.exit(1)
}
await app.generateDocs(project, path.join(repo, "docs", "api"))
if (app.logger.hasErrors() || app.logger.hasWarnings()) process.exit(1)
console.log(`docs: ${entries.length} entry points -> docs/api/index.html`)

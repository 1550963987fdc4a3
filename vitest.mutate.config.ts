import { defineConfig } from "vitest/config"
import base from "./vitest.config.ts"

// The vitest configuration `pnpm mutate` (Stryker) runs: the one project of the package under
// mutation (ISTHMUS_MUTATE_PROJECT, set by scripts/mutate.ts), plus a setup file that hands the
// active mutant to child processes the tests spawn. Not used by `pnpm test`.
const name = process.env["ISTHMUS_MUTATE_PROJECT"]
const setup = new URL("./scripts/mutate/child-env.setup.ts", import.meta.url).pathname
const projects = (base.test?.projects ?? []).flatMap((project) => {
  if (typeof project !== "object" || !("test" in project) || project.test?.name !== name) return []
  return [{ ...project, test: { ...project.test, setupFiles: [setup] } }]
})
if (projects.length === 0) throw new Error(`vitest.mutate.config.ts: no vitest project named ${String(name)}`)

export default defineConfig({ test: { ...base.test, projects } })

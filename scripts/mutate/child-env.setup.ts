/**
 * Vitest setup file for `pnpm mutate` only (it runs after Stryker's own setup file, before the
 * test file imports anything). Two jobs:
 *
 * 1. **Static mutants under `--tests`.** Stryker activates a mutant either before the test file
 *    is loaded ("static": module-level code such as a rules table or a `const f = () => …` sees
 *    it) or in a `beforeAll` ("runtime"). It picks "static" only when a mutant runs without a
 *    test filter (`mutantActivation: testFilter ? 'runtime' : 'static'`, Stryker 10.1
 *    mutant-test-planner.js); with `testFiles` (our `--tests`) every static mutant has the file
 *    list as its filter, so it was activated in `beforeAll`, after the module had been evaluated
 *    with the original code: every static mutant "survived" however wrong it was (checked:
 *    `match: [""]` for a rule of SshFailure.ts, which makes the classifier answer that rule for
 *    nearly every input, passed all 8 of its tests). So in a mutant run this file activates the
 *    mutant at load. That changes nothing for a runtime mutant: its code does not run while the
 *    module loads (otherwise it would be static), and `beforeAll` sets the same id again.
 * 2. **Children.** A child process a test spawns (a backend, the child helper, fake-wsl) loads
 *    the same instrumented source (`inPlace`) but sees no such global. Stryker's instrumented
 *    code also reads `__STRYKER_ACTIVE_MUTANT__` from the environment, so copy the active mutant
 *    there and children inherit it. Coverage measured in a child never reaches Stryker, so
 *    mutants that run only in a child show as "no coverage" under `perTest` and `all`: run those
 *    files with `-- --coverageAnalysis off` (every mutant runs every test of `--tests`).
 */
import { afterAll, beforeAll, inject } from "vitest"

declare module "vitest" {
  /** What Stryker's vitest runner provides (@stryker-mutator/vitest-runner, stryker-setup.js). */
  export interface ProvidedContext {
    mode?: "dry-run" | "mutant"
    activeMutant?: string
    globalNamespace?: string
  }
}

const key = "__STRYKER_ACTIVE_MUTANT__"
/** Stryker's global namespace (its default `globalNamespace`). */
const namespace = (): { activeMutant?: string | number } => {
  const name = inject("globalNamespace") ?? "__stryker__"
  const existing: { activeMutant?: string | number } | undefined = Reflect.get(globalThis, name)
  if (existing !== undefined) return existing
  const created = {}
  Reflect.set(globalThis, name, created)
  return created
}

if (inject("mode") === "mutant") {
  const id = inject("activeMutant")
  if (id !== undefined) {
    namespace().activeMutant = id
    process.env[key] = String(id)
  }
}

beforeAll(() => {
  const active = namespace().activeMutant
  if (active === undefined) delete process.env[key]
  else process.env[key] = String(active)
})
afterAll(() => {
  delete process.env[key]
})

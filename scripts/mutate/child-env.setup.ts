/**
 * Vitest setup file for `pnpm mutate` only. Stryker activates a mutant through a global in the
 * vitest worker; a child process a test spawns (a backend, the child helper, fake-wsl) loads the
 * same instrumented source (`inPlace`) but sees no such global. Stryker's instrumented code also
 * reads `__STRYKER_ACTIVE_MUTANT__` from the environment, so copy the active mutant there and
 * children inherit it. Mutants that run only in a child still show as "no coverage" under
 * per-test coverage: run those files with `--coverageAnalysis all` (see the README).
 */
import { afterAll, beforeAll } from "vitest"

const key = "__STRYKER_ACTIVE_MUTANT__"
/** Stryker's global namespace (its default `globalNamespace`). */
const strykerGlobal = "__stryker__"

beforeAll(() => {
  const namespace: { activeMutant?: string | number } | undefined = Reflect.get(globalThis, strykerGlobal)
  const active = namespace?.activeMutant
  if (active === undefined) delete process.env[key]
  else process.env[key] = String(active)
})
afterAll(() => {
  delete process.env[key]
})

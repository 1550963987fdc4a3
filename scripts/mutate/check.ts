/**
 * `pnpm lint`'s first step: fails, naming the files and the fix, when any source under
 * packages/, examples/ or scripts/ holds Stryker's instrumentation (an interrupted in-place
 * `pnpm mutate` run; see leftovers.ts). One `git grep`: well under a second.
 */
import { fileURLToPath } from "node:url"
import { instrumentedFiles, leftoverAdvice } from "./leftovers.ts"

const root = fileURLToPath(new URL("../..", import.meta.url))
const files = instrumentedFiles(root)
if (files.length > 0) {
  console.error(`lint: ${leftoverAdvice(files)}`)
  process.exit(1)
}

/**
 * Prints the closing line of the test command from vitest's JSON report:
 * `Tests: N passed, N failed, N skipped` — or says which earlier step failed.
 */
import { readFileSync } from "node:fs"

const [reportFile = "", status = "0"] = process.argv.slice(2)
try {
  const report = JSON.parse(readFileSync(reportFile, "utf8")) as {
    numPassedTests: number
    numFailedTests: number
    numPendingTests: number
    numTodoTests: number
  }
  const skipped = report.numPendingTests + report.numTodoTests
  if (status !== "0") console.log(`\ntest command failed (exit ${status}); vitest summary follows`)
  console.log(`Tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`)
} catch {
  console.log(`\ntest command exit ${status}: vitest did not run (an earlier step — type-check or lint — failed)`)
  console.log("Tests: 0 passed, 1 failed")
}

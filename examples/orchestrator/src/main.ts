// The README's demo command runs this file. Until the orchestrator example is built it says so
// and exits non-zero rather than pretending to be a demo.
console.error(
  "isthmus demo: examples/orchestrator is not built yet (see the open orchestrator issue).\n" +
    "Missing: the scripted run that supervises a local and a WSL backend from backends.json."
)
process.exitCode = 1

import { defineConfig } from "tsup"
import pkg from "./package.json" with { type: "json" }

// tsup emits the JavaScript only. Declarations come from `tsc -b` (TypeScript 7), which is
// also what type-checks the repository: tsup 9's `dts` needs the TypeScript JS compiler API,
// which TypeScript 7 no longer has (effect4.md §6), and one compiler for checks and
// declarations means the published `.d.ts` is exactly what we type-checked.
// ESM only: Effect itself is ESM only, so a CommonJS build would only add the dual-package
// hazard (two copies of every class and service tag) without reaching anyone new.
export default defineConfig({
  entry: [
    ...Object.values(pkg.exports)
      .filter((target): target is string => typeof target === "string" && target.endsWith(".ts")),
    // the fake-wsl program, started by bin/fake-wsl.js from dist/ when src/ is not shipped
    "src/testing/fakeWslMain.ts"
  ],
  outDir: "dist",
  format: ["esm"],
  dts: false,
  sourcemap: true,
  splitting: true,
  treeshake: true,
  clean: false,
  target: "node22",
  platform: "neutral",
  external: [/^effect/, /^@effect\//, /^@isthmus\//, "semver"]
})

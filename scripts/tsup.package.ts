import { defineConfig } from "tsup"

/**
 * The build of one published package, shared by every `packages/<name>/tsup.config.ts`.
 *
 * tsup emits the JavaScript only. Declarations come from `tsc -b` (TypeScript 7), which is also
 * what type-checks the repository: tsup 9's `dts` needs the TypeScript JS compiler API, which
 * TypeScript 7 no longer has (effect4.md §6), and one compiler for checks and declarations means
 * the published `.d.ts` is exactly what we type-checked.
 *
 * ESM only: Effect itself is ESM only, so a CommonJS build would only add the dual-package hazard
 * (two copies of every class and service tag) without reaching anyone new.
 *
 * Entries are the package's public subpaths (the string targets of its development `exports`),
 * plus `extraEntries`; code shared between entries goes into chunks, so each class exists once.
 */
export const packageConfig = (
  exports: Readonly<Record<string, unknown>>,
  extraEntries: ReadonlyArray<string> = []
) =>
  defineConfig({
    entry: [
      ...Object.values(exports).filter((target): target is string =>
        typeof target === "string" && target.endsWith(".ts")
      ),
      ...extraEntries
    ],
    outDir: "dist",
    format: ["esm"],
    dts: false,
    sourcemap: true,
    splitting: true,
    treeshake: true,
    // Each build starts from an empty dist/ (so nothing stale is packed); `tsc -b` runs after it
    // and writes the declarations again (its build info lives in dist/ too, so it knows to).
    clean: true,
    target: "node22",
    platform: "neutral",
    external: [/^effect/, /^@effect\//, /^@isthmus\//, "semver"]
  })

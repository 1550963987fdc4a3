/**
 * @isthmus/backend-pool/testing — a fake launcher and fake processes driven by `TestClock`, so
 * hosts can test their orchestration in milliseconds.
 *
 * @module
 */
export * as FakeLauncher from "./FakeLauncher.ts"

/** @deprecated kept for the repository consumer check until it uses real exports. */
export const placeholder = "testing" as const

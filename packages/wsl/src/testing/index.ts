/**
 * `@isthmus/wsl/testing`: test WSL host code without Windows.
 *
 * - {@link FakeWslHost}: an in-memory WSL host (distros, states, IPs, networking mode, homes,
 *   tools, Node versions, files for `wslpath`) that the real `Wsl` service runs against.
 * - {@link fakeWslExecutable}: a `wsl.exe` look-alike for process-level tests, configured with
 *   {@link writeFakeWslConfig} / {@link fakeWslEnv}.
 * @module
 */
export * from "./FakeWslExecutable.ts"
export * as FakeWslHost from "./FakeWslHost.ts"
export type { FakeDistro, FakeInterface, FakeWslConfig } from "./FakeWslModel.ts"
export * as FakeWslModel from "./FakeWslModel.ts"

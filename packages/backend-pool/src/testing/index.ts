/**
 * @isthmus/backend-pool/testing — a fake launcher and fake processes driven by `TestClock`, so
 * hosts can test their orchestration in milliseconds.
 *
 * @module
 */
export * as FakeLauncher from "./FakeLauncher.ts"
export * as SshTestServer from "./SshTestServer.ts"
export * as WindowsModel from "./WindowsModel.ts"

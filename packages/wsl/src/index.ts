/**
 * @isthmus/wsl — WSL interrogation as Effect services.
 * @module
 */
export * as DistroList from "./DistroList.ts"
export * as DistroName from "./DistroName.ts"
export * as Wslenv from "./Wslenv.ts"
export * as WslPath from "./WslPath.ts"

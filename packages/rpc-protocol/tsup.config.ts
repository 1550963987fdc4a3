import { packageConfig } from "../../scripts/tsup.package.ts"
import pkg from "./package.json" with { type: "json" }

export default packageConfig(pkg.exports)

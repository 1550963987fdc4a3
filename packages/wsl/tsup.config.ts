import { packageConfig } from "../../scripts/tsup.package.ts"
import pkg from "./package.json" with { type: "json" }

// The fake-wsl program is an extra entry: bin/fake-wsl.js starts it from dist/ when src/ is not shipped.
export default packageConfig(pkg.exports, ["src/testing/fakeWslMain.ts"])

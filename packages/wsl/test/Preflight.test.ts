import { assert, describe, it } from "@effect/vitest"
import { Preflight, WslProbes } from "@isthmus/wsl/node"
import { Option } from "effect"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const found = (name: string, path: string): Preflight.Resolution => ({ _tag: "Found", name, path })
const findings = (over: Partial<Preflight.Findings> = {}): Preflight.Findings => ({
  shell: "/bin/bash",
  node: found("node", "/home/u/.nvm/versions/node/v22.16.0/bin/node"),
  nodeVersion: Option.some("v22.16.0"),
  tools: [],
  ...over
})

describe("Preflight: reading the probes", () => {
  it("parseEnvironment: PATH between the markers, whatever the startup files print around them", () => {
    const out = "Welcome to Ubuntu!\nNow using node v22.16.0 (npm v10.9.2)\n@@m\n/home/u/.nvm/bin:/usr/bin\n@@m\nbye\n"
    assert.deepStrictEqual(Preflight.parseEnvironment(out, "@@m"), Option.some("/home/u/.nvm/bin:/usr/bin"))
    assert.deepStrictEqual(Preflight.parseEnvironment("@@m\r\n/usr/bin\r\n@@m\r\n", "@@m"), Option.some("/usr/bin"))
    assert.isTrue(
      Option.isNone(Preflight.parseEnvironment("@@m\n/usr/bin\n", "@@m")),
      "one marker: an rc file exec'd away"
    )
    assert.isTrue(Option.isNone(Preflight.parseEnvironment("/usr/bin\n", "@@m")))
    assert.isTrue(Option.isNone(Preflight.parseEnvironment("@@m\n@@m\n", "@@m")), "nothing between them")
  })
  it("classify: a path under the automount root is a Windows shim; a builtin's name or nothing is missing", () => {
    assert.deepStrictEqual(Preflight.classify("npm", "/mnt/c/Program Files/nodejs/npm", "/mnt/"), {
      _tag: "WindowsShim",
      name: "npm",
      path: "/mnt/c/Program Files/nodejs/npm"
    })
    // [automount] root=/ mounts C: at /c (wsl.md §1.1)
    assert.strictEqual(Preflight.classify("npm", "/c/nodejs/npm", "/")._tag, "WindowsShim")
    assert.deepStrictEqual(Preflight.classify("git", "/usr/bin/git", "/mnt"), found("git", "/usr/bin/git"))
    assert.deepStrictEqual(Preflight.classify("git", "/mntx/git", "/mnt"), found("git", "/mntx/git"))
    assert.deepStrictEqual(Preflight.classify("echo", "echo", "/mnt/"), { _tag: "Missing", name: "echo" })
    assert.deepStrictEqual(Preflight.classify("x", undefined, "/mnt/"), { _tag: "Missing", name: "x" })
  })
  it("parseLookup: one answer per name, in order, a missing one between two found ones", () => {
    const out = "@@c node\n/opt/node/bin/node\n@@c rg\n@@c npm\n/mnt/c/npm/npm\n@@c\n"
    assert.deepStrictEqual(Preflight.parseLookup(out, "@@c", ["node", "rg", "npm"], "/mnt/").map((r) => r._tag), [
      "Found",
      "Missing",
      "WindowsShim"
    ])
  })
  it("interactiveFlags: -ilc, -ic for csh and tcsh", () => {
    assert.deepStrictEqual(
      ["/bin/bash", "/usr/bin/zsh", "/usr/bin/fish", "/bin/tcsh", "csh"].map(Preflight.interactiveFlags),
      [
        "-ilc",
        "-ilc",
        "-ilc",
        "-ic",
        "-ic"
      ]
    )
  })
})

describe("Preflight.report", () => {
  it("ranges with ||, prereleases, a version that did not print", () => {
    assert.isTrue(
      Preflight.report("U", { node: "^22.16 || ^23.11 || >=24.10" }, findings({ nodeVersion: Option.some("v24.10.0") }))
        .ok
    )
    assert.isFalse(
      Preflight.report("U", { node: "^22.16 || ^23.11 || >=24.10" }, findings({ nodeVersion: Option.some("v22.12.0") }))
        .ok
    )
    assert.isTrue(
      Preflight.report("U", { node: ">=22" }, findings({ nodeVersion: Option.some("v23.0.0-nightly2024") })).ok
    )
    const silent = Preflight.report("U", { node: ">=22" }, findings({ nodeVersion: Option.none() }))
    assert.isFalse(silent.ok)
    assert.include(silent.message, "did not print")
  })
  it("no Node at all, or only the Windows one: not ok, and says where it looked", () => {
    const none = Preflight.report("U", { node: "^22" }, findings({ node: { _tag: "Missing", name: "node" } }))
    assert.isFalse(none.ok)
    assert.include(none.message, "interactive, login")
    assert.include(none.message, "/bin/bash")
    const windows = Preflight.report(
      "U",
      { node: "^22" },
      findings({ node: { _tag: "WindowsShim", name: "node", path: "/mnt/c/Program Files/nodejs/node" } })
    )
    assert.isFalse(windows.ok)
    assert.deepStrictEqual(windows.windowsShims, [{ name: "node", path: "/mnt/c/Program Files/nodejs/node" }])
    assert.isTrue(Option.isNone(windows.nodePath), "never launch the Windows one")
  })
  it("missing tools get the apt package that has them (rg is in ripgrep); Windows shims are named, not counted present", () => {
    const r = Preflight.report(
      "U",
      { tools: ["rg", "git", "npm"] },
      findings({
        tools: [
          { _tag: "Missing", name: "rg" },
          found("git", "/usr/bin/git"),
          { _tag: "WindowsShim", name: "npm", path: "/mnt/c/Program Files/nodejs/npm" }
        ]
      })
    )
    assert.isFalse(r.ok)
    assert.deepStrictEqual(r.missingTools, ["rg"])
    assert.include(r.message, "sudo apt install ripgrep")
    assert.notInclude(r.message, "apt install rg")
    assert.include(r.message, "npm (/mnt/c/Program Files/nodejs/npm)")
    assert.strictEqual(Preflight.aptPackage("fd"), "fd-find")
    assert.strictEqual(Preflight.aptPackage("git"), "git")
  })
  it("ok: names the Node it will launch", () => {
    const r = Preflight.report(
      "U",
      { node: "^22", tools: ["git"] },
      findings({ tools: [found("git", "/usr/bin/git")] })
    )
    assert.isTrue(r.ok)
    assert.deepStrictEqual(r.nodePath, Option.some("/home/u/.nvm/versions/node/v22.16.0/bin/node"))
    assert.include(r.message, "U is ready")
  })
})

// The oracle for the probe's design: a real bash with Ubuntu's ~/.bashrc guard and an nvm line
// (nvm-sh install.sh appends to ~/.bashrc), and a ~/.profile that sources it, as in Ubuntu's
// skeleton (windows-reality.md §5).
describe("the environment probe against a real bash and real startup files", () => {
  const home = mkdtempSync(join(tmpdir(), "isthmus-home-"))
  const nvmBin = join(home, ".nvm/versions/node/v22.16.0/bin")
  mkdirSync(nvmBin, { recursive: true })
  writeFileSync(
    join(home, ".profile"),
    "echo \"profile says hi\"\nif [ -n \"$BASH_VERSION\" ]; then . \"$HOME/.bashrc\"; fi\n"
  )
  writeFileSync(
    join(home, ".bashrc"),
    `case $- in\n    *i*) ;;\n      *) return;;\nesac\necho "Now using node v22.16.0"\nexport PATH="${nvmBin}:$PATH"\n`
  )
  const run = (flags: string) =>
    execFileSync("bash", [flags, WslProbes.environmentScript("@@mark")], {
      env: { HOME: home, PATH: "/usr/bin:/bin", VSCODE_RESOLVING_ENVIRONMENT: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8"
    })
  it("bash -lc (login, not interactive) misses nvm's PATH; bash -ilc has it; the chatter is ignored", () => {
    // (/etc/profile may set PATH too: Debian's does; the nvm directory is the point.)
    const login = Option.getOrThrow(Preflight.parseEnvironment(run("-lc"), "@@mark"))
    assert.notInclude(login.split(":"), nvmBin)
    const interactive = run("-ilc")
    assert.include(interactive, "Now using node v22.16.0")
    assert.strictEqual(Option.getOrThrow(Preflight.parseEnvironment(interactive, "@@mark")).split(":")[0], nvmBin)
  })
})

import { assert, describe, it } from "@effect/vitest"
import { DistroList, DistroName, WslCommand } from "@isthmus/wsl"
import { Result } from "effect"
import * as fc from "fast-check"
import { tag } from "./fixtures.ts"

const utf16 = (s: string) => new Uint8Array(Buffer.from(s, "utf16le"))

describe("WslCommand", () => {
  it("execArgs: one argument per value, --exec last", () => {
    assert.deepStrictEqual(
      Result.getOrThrow(WslCommand.execArgs("Ubuntu", ["node", "a b.js", "--x=\"q\""], { user: "ada", cwd: "~/proj" })),
      ["--distribution", "Ubuntu", "--user", "ada", "--cd", "~/proj", "--exec", "node", "a b.js", "--x=\"q\""]
    )
  })
  it("user names like first.last, a_b-c and machine accounts (name$) are accepted", () => {
    for (const user of ["first.last", "a_b-c", "_svc", "host$", "Ada.Lovelace"]) {
      assert.deepStrictEqual(
        Result.getOrThrow(WslCommand.execArgs("Ubuntu", ["true"], { user })).slice(2, 4),
        ["--user", user]
      )
    }
  })
  it("execArgs refuses bad names, users, cwds, empty argv and NUL", () => {
    const failures = [
      WslCommand.execArgs("bad name", ["true"]),
      WslCommand.execArgs("Ubuntu", ["true"], { user: "-x" }),
      WslCommand.execArgs("Ubuntu", ["true"], { user: ".hidden" }),
      WslCommand.execArgs("Ubuntu", ["true"], { cwd: "relative" }),
      WslCommand.execArgs("Ubuntu", ["true"], { cwd: "/a\nb" }),
      WslCommand.execArgs("Ubuntu", []),
      WslCommand.execArgs("Ubuntu", ["echo", "a\0b"])
    ]
    assert.deepStrictEqual(failures.map((r) => Result.isFailure(r) ? tag(r.failure) : "ok"), [
      "InvalidDistroNameError",
      "WslArgumentError",
      "WslArgumentError",
      "WslArgumentError",
      "WslArgumentError",
      "WslArgumentError",
      "WslArgumentError"
    ])
  })
  it("property: a name reaches argv only when DistroName accepts it", () => {
    fc.assert(fc.property(fc.string({ maxLength: 20 }), (name) => {
      const r = WslCommand.execArgs(name, ["true"])
      assert.strictEqual(Result.isSuccess(r), DistroName.isDistroName(name))
    }))
  })
  it("scriptArgs and terminateArgs", () => {
    assert.deepStrictEqual(Result.getOrThrow(WslCommand.scriptArgs("Debian")), [
      "--distribution",
      "Debian",
      "--exec",
      "bash",
      "-l",
      "-s"
    ])
    assert.deepStrictEqual(
      Result.getOrThrow(WslCommand.scriptArgs("Debian", { shell: "sh", login: false })).slice(-2),
      [
        "sh",
        "-s"
      ]
    )
    assert.deepStrictEqual(Result.getOrThrow(WslCommand.terminateArgs("Debian")), ["--terminate", "Debian"])
  })
  it("wsl.exe failure codes and error codes", () => {
    assert.isTrue(WslCommand.isWslExeFailureCode(4294967295))
    assert.isTrue(WslCommand.isWslExeFailureCode(-1))
    assert.isFalse(WslCommand.isWslExeFailureCode(1))
    assert.strictEqual(
      WslCommand.errorCodeOf(
        "Invalid distribution name: \"a b\".\r\nError code: Wsl/Service/RegisterDistro/E_INVALIDARG\r\n"
      ),
      "Wsl/Service/RegisterDistro/E_INVALIDARG"
    )
  })
  // Messages and labels as in microsoft/WSL localization/strings/<lang>/Resources.resw
  // (MessageDistroNotFound over MessageErrorCode), decoded from the UTF-16LE bytes wsl.exe writes;
  // the token is never localised (wslutil.cpp ErrorToString). windows-reality.md §4.
  const localised: ReadonlyArray<readonly [string, string]> = [
    [
      "de",
      "Es ist keine Distribution mit dem angegebenen Namen vorhanden.\r\nFehlercode: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\r\n"
    ],
    [
      "ja",
      "指定された名前のディストリビューションはありません。\r\nエラー コード: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\r\n"
    ],
    [
      "fr",
      "Il n’existe aucune distribution avec le nom fourni.\r\nCode d'erreur\u00a0: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\r\n"
    ],
    [
      "fr, legacy English label",
      "Il n’existe aucune distribution avec le nom fourni.\r\nError code: Wsl/Service/WSL_E_DISTRO_NOT_FOUND\r\n"
    ]
  ]
  for (const [language, text] of localised) {
    it(`errorCodeOf finds the token in ${language}`, () => {
      assert.strictEqual(WslCommand.errorCodeOf(DistroList.decode(utf16(text))), "Wsl/Service/WSL_E_DISTRO_NOT_FOUND")
    })
  }
  it("errorCodeOf: hex codes, other entry contexts, unknown contexts, the last token wins, none at all", () => {
    assert.strictEqual(
      WslCommand.errorCodeOf("…\r\nエラー コード: Wsl/Service/CreateInstance/CreateVm/HCS/0x80370102\r\n"),
      "Wsl/Service/CreateInstance/CreateVm/HCS/0x80370102"
    )
    assert.strictEqual(
      WslCommand.errorCodeOf("x\nError code: Bash/Service/?(64)/E_FAIL\n"),
      "Bash/Service/?(64)/E_FAIL"
    )
    assert.strictEqual(
      WslCommand.errorCodeOf("see Wsl/Old/E_ONE\nFehlercode: Wsl/Service/E_TWO\n"),
      "Wsl/Service/E_TWO"
    )
    assert.isUndefined(WslCommand.errorCodeOf("Windows Subsystem for Linux has no installed distributions.\r\n"))
    assert.isUndefined(WslCommand.errorCodeOf("Wsl alone, or Wsl/ with nothing after"))
  })
  it("usage text: recognised by its literal options, the refused option read from its first line", () => {
    const usage =
      "Ungültige Befehlszeilenoption: --status\r\nVerwendung: wsl.exe [Argument]\r\n    --exec, -e <Befehlszeile>\r\n    --distribution, -d <Distribution>\r\n"
    assert.isTrue(WslCommand.isUsageText(usage))
    assert.strictEqual(WslCommand.refusedOption(usage, ["--status"]), "--status")
    assert.strictEqual(
      WslCommand.refusedOption("Invalid command line option: --cd\n--exec --distribution", [
        "--distribution",
        "D",
        "--cd",
        "/x",
        "--exec",
        "true"
      ]),
      "--cd"
    )
    assert.isFalse(
      WslCommand.isUsageText(
        "There is no distribution with the supplied name.\r\nError code: Wsl/Service/WSL_E_DISTRO_NOT_FOUND"
      )
    )
  })
})

import { assert, describe, it } from "@effect/vitest"
import { DistroList } from "@isthmus/wsl"
import { Option } from "effect"

// Bytes built by hand from the format in wsl.md §2 (independent of DistroList.encode).
const utf16 = (s: string) => new Uint8Array(Buffer.from(s, "utf16le"))
const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"))
const withBom16 = (s: string) => new Uint8Array([0xff, 0xfe, ...utf16(s)])
const withBom8 = (s: string) => new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(s)])

const sample =
  "  NAME            STATE           VERSION\r\n* Ubuntu-24.04    Running         2\r\n  Debian          Stopped         2\r\n  legacy-wsl1     Stopped         1\r\n"

const expected: ReadonlyArray<DistroList.DistroInfo> = [
  { name: "Ubuntu-24.04" as never, state: "Running", version: 2, isDefault: true },
  { name: "Debian" as never, state: "Stopped", version: 2, isDefault: false },
  { name: "legacy-wsl1" as never, state: "Stopped", version: 1, isDefault: false }
]

describe("DistroList.decode", () => {
  it("the wsl.md sample: 308 bytes of UTF-16LE without BOM", () => {
    const bytes = utf16(sample)
    assert.strictEqual(bytes.length, 308)
    assert.deepStrictEqual(Array.from(bytes.slice(0, 14)), [
      0x20,
      0,
      0x20,
      0,
      0x4e,
      0,
      0x41,
      0,
      0x4d,
      0,
      0x45,
      0,
      0x20,
      0
    ])
    assert.strictEqual(DistroList.detectEncoding(bytes), "utf-16le")
    assert.strictEqual(DistroList.decode(bytes), sample)
    assert.deepStrictEqual(DistroList.parseVerbose(DistroList.decode(bytes)), expected)
  })
  it("UTF-8 (WSL_UTF8=1), BOMs of either kind", () => {
    for (const bytes of [utf8(sample), withBom16(sample), withBom8(sample)]) {
      assert.deepStrictEqual(DistroList.parseVerbose(DistroList.decode(bytes)), expected)
    }
  })
  it("explicit encodings and empty output", () => {
    assert.strictEqual(DistroList.decode(utf16("Ubuntu\r\n"), "utf-16le"), "Ubuntu\r\n")
    assert.strictEqual(DistroList.decode(new Uint8Array()), "")
  })
  it("encode writes what wsl.exe writes (CRLF, UTF-16LE without BOM; UTF-8 on request)", () => {
    assert.deepStrictEqual([...DistroList.encode("Ubuntu\n")], [...utf16("Ubuntu\r\n")])
    assert.deepStrictEqual([...DistroList.encode("a\nb\n", { utf8: true })], [...utf8("a\r\nb\r\n")])
  })
})

describe("DistroList.parseVerbose", () => {
  it("\\r\\r\\n line ends from old builds", () => {
    assert.deepStrictEqual(DistroList.parseVerbose(sample.replaceAll("\r\n", "\r\r\n")), expected)
  })
  it("\\r\\r\\n in the bytes, UTF-16LE and UTF-8, for -l -v and -l -q", () => {
    const old = sample.replaceAll("\r\n", "\r\r\n")
    for (const bytes of [utf16(old), utf8(old)]) {
      assert.deepStrictEqual(DistroList.parseVerbose(DistroList.decode(bytes)), expected)
    }
    const quiet = utf16("Ubuntu-24.04\r\r\nDebian\r\r\n")
    assert.deepStrictEqual(DistroList.parseQuiet(DistroList.decode(quiet)), ["Ubuntu-24.04", "Debian"] as Array<never>)
  })
  it("LF only", () => {
    assert.deepStrictEqual(DistroList.parseVerbose(sample.replaceAll("\r\n", "\n")), expected)
  })
  it("transient states are kept; unknown states are Unknown", () => {
    const text =
      "  NAME              STATE           VERSION\r\n* Ubuntu            Installing      2\r\n  Arch              Uninstalling    2\r\n  Alpine            Converting      1\r\n  Fedora            Exporting       2\r\n  Kali              Hibernating     2\r\n"
    const rows = DistroList.parseVerbose(DistroList.decode(utf16(text)))
    assert.deepStrictEqual(rows.map((r) => r.state), [
      "Installing",
      "Uninstalling",
      "Converting",
      "Exporting",
      "Unknown"
    ])
    assert.deepStrictEqual(rows.map((r) => DistroList.isTransient(r.state)), [true, true, true, true, false])
  })
  it("a Legacy distribution (an lxrun migration) is listed, as version 1", () => {
    // LxssUserSession.cpp _CreateLegacyRegistration: the reserved name exists on migrated machines.
    const text =
      "  NAME      STATE           VERSION\r\n* Legacy    Stopped         1\r\n  Ubuntu    Running         2\r\n"
    assert.deepStrictEqual(DistroList.parseVerbose(DistroList.decode(utf16(text))).map((r) => [r.name, r.version]), [
      ["Legacy", 1],
      ["Ubuntu", 2]
    ])
    assert.deepStrictEqual(DistroList.parseQuiet("Legacy\r\nUbuntu\r\n"), ["Legacy", "Ubuntu"] as Array<never>)
  })
  it("no distros: the message and hints give no rows", () => {
    const text =
      "Windows Subsystem for Linux has no installed distributions.\r\nYou can resolve this by installing a distribution with the instructions below:\r\n\r\nUse 'wsl.exe --list --online' to list available distributions\r\nand 'wsl.exe --install <Distro>' to install.\r\n"
    assert.deepStrictEqual(DistroList.parseVerbose(DistroList.decode(utf16(text))), [])
    assert.deepStrictEqual(DistroList.parseVerbose(""), [])
  })
  it("long names widen the column; no default marker", () => {
    const text =
      "  NAME                             STATE           VERSION\r\n  a-very-long-distribution-name    Running         2\r\n  x                                Stopped         1\r\n"
    const rows = DistroList.parseVerbose(text)
    assert.deepStrictEqual(rows.map((r) => [r.name, r.isDefault]), [["a-very-long-distribution-name", false], [
      "x",
      false
    ]])
  })
  it("formatVerbose reproduces the sample exactly", () => {
    const rows = DistroList.parseVerbose(sample)
    assert.strictEqual(DistroList.formatVerbose(rows).replaceAll("\n", "\r\n"), sample)
  })
})

describe("DistroList.parseQuiet / parseStatus / parseVersion", () => {
  it("-l -q: names, UTF-16LE bytes as in wsl.md", () => {
    const bytes = utf16("Ubuntu-24.04\r\nDebian\r\nlegacy-wsl1\r\n")
    assert.deepStrictEqual(Array.from(bytes.slice(0, 2)), [0x55, 0x00])
    assert.deepStrictEqual(
      DistroList.parseQuiet(DistroList.decode(bytes)),
      ["Ubuntu-24.04", "Debian", "legacy-wsl1"] as Array<never>
    )
    assert.deepStrictEqual(DistroList.parseQuiet(DistroList.decode(new Uint8Array())), [])
  })
  // The labels as in microsoft/WSL localization/strings/<lang>/Resources.resw
  // (MessageStatusDefaultDistro, MessageStatusDefaultVersion; fr uses U+00A0 before the colon),
  // in the UTF-16LE bytes wsl.exe writes. windows-reality.md §4 and §7.
  const statusCases: ReadonlyArray<readonly [string, string, string]> = [
    ["en", "Default Distribution: ", "Default Version: "],
    ["de", "Standarddistribution: ", "Standardversion: "],
    ["ja", "既定のディストリビューション: ", "既定のバージョン: "],
    ["fr", "Distribution par défaut\u00a0: ", "Version par défaut\u00a0: "]
  ]
  for (const [language, distroLabel, versionLabel] of statusCases) {
    it(`--status in ${language}: read by rules, not positions`, () => {
      const full = DistroList.parseStatus(
        DistroList.decode(utf16(`${distroLabel}Ubuntu-24.04\r\n${versionLabel}2\r\n`))
      )
      assert.deepStrictEqual([full.defaultDistro, full.defaultVersion], [
        Option.some("Ubuntu-24.04" as never),
        Option.some(2 as const)
      ])
      // No distributions: WslClient.cpp Status() prints only the version line (turn2-wsl finding 5).
      const none = DistroList.parseStatus(DistroList.decode(utf16(`${versionLabel}2\r\n`)))
      assert.deepStrictEqual([none.defaultDistro, none.defaultVersion], [Option.none(), Option.some(2 as const)])
      // Extra lines after the version (a missing component): still read.
      const extra = DistroList.parseStatus(
        DistroList.decode(
          utf16(
            `${distroLabel}Debian\r\n${versionLabel}1\r\nWSL1 …\r\nPlease enable: wsl.exe --install --no-distribution\r\n`
          )
        )
      )
      assert.deepStrictEqual([extra.defaultDistro, extra.defaultVersion, extra.lines.length], [
        Option.some("Debian" as never),
        Option.some(1 as const),
        4
      ])
    })
  }
  it("--status: a distribution named like a digit is not the version; full-width colons", () => {
    const odd = DistroList.parseStatus("Default Distribution: 2\r\nDefault Version: 1\r\n")
    assert.deepStrictEqual([odd.defaultDistro, odd.defaultVersion], [
      Option.some("2" as never),
      Option.some(1 as const)
    ])
    const ja = DistroList.parseStatus("既定のディストリビューション：Ubuntu\r\n既定のバージョン：2\r\n")
    assert.deepStrictEqual(ja.defaultDistro, Option.some("Ubuntu" as never))
  })
  it("--version: seven lines; inbox usage text gives None", () => {
    const text =
      "WSL version: 2.6.1.0\r\nKernel version: 6.6.87.2-1\r\nWSLg version: 1.0.66\r\nMSRDC version: 1.2.6074\r\nDirect3D version: 1.611.1-81528511\r\nDXCore version: 10.0.26100.1-240331-1435.ge-release\r\nWindows version: 10.0.26100.4946\r\n"
    const v = DistroList.parseVersion(DistroList.decode(utf16(text)))
    assert.isTrue(Option.isSome(v))
    if (Option.isSome(v)) {
      assert.strictEqual(v.value.wsl, "2.6.1.0")
      assert.strictEqual(v.value.windows, "10.0.26100.4946")
    }
    assert.isTrue(
      Option.isNone(DistroList.parseVersion("Invalid command line option: --version\r\nUsage: wsl.exe\r\n"))
    )
  })
})

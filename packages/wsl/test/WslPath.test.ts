import { assert, describe, it } from "@effect/vitest"
import { WslPath } from "@isthmus/wsl"
import { Option, Result } from "effect"
import * as fc from "fast-check"

const ctx: WslPath.Context = { distro: "test_distro" }

const u = (p: string, c: WslPath.Context = ctx, o?: WslPath.ToLinuxOptions): string => {
  const r = WslPath.toLinux(p, c, o)
  return Result.isSuccess(r) ? r.success : `ERR:${r.failure.reason}`
}
const w = (p: string, c: WslPath.Context = ctx, o?: WslPath.ToWindowsOptions): string => {
  const r = WslPath.toWindows(p, c, o)
  return Result.isSuccess(r) ? r.success : `ERR:${r.failure.reason}`
}

/** The test distro with one extra drvfs/9p/virtiofs mount. */
const mounted = (windows: string, linux: string): WslPath.Context => ({
  distro: "test_distro",
  mounts: [{ windows, linux }]
})

// wsl.md §1.2: every filesystem-free vector (distro test_distro, root /mnt)
const vectors: ReadonlyArray<readonly [number, "-u" | "-w" | "-m", string, string, WslPath.Context?]> = [
  [1, "-u", "C:\\", "/mnt/c/"],
  [2, "-u", "C:\\Foo", "/mnt/c/Foo"],
  [3, "-u", "C:\\Foo\\", "/mnt/c/Foo/"],
  [5, "-u", "C:/Foo/bar", "/mnt/c/Foo/bar"],
  [6, "-u", "foo", "foo"],
  [8, "-u", "C:\\Program Files\\Git", "/mnt/c/Program Files/Git"],
  [12, "-w", "/mnt/c", "C:\\"],
  [13, "-w", "/mnt/c/", "C:\\"],
  [14, "-w", "/mnt/c/Users", "C:\\Users"],
  [15, "-w", "/mnt/c/Users/", "C:\\Users\\"],
  [17, "-w", "/mnt/c/Program Files/Git", "C:\\Program Files\\Git"],
  [21, "-w", "/mnt/c/wslpath_foo\\:bar", "C:\\wslpath_foo\uF05C\uF03Abar"],
  [24, "-u", "C:\\symlink_test_dir\\link", "/mnt/c/symlink_test_dir/link"],
  [25, "-u", "\\\\wsl.localhost\\test_distro", "/"],
  [27, "-u", "\\\\wsl.localhost\\test_distro\\root", "/root"],
  [30, "-u", "\\\\wsl$\\test_distro\\proc\\stat", "/proc/stat"],
  [32, "-u", "\\\\?\\C:\\Users", "/mnt/c/Users"],
  [34, "-u", ".", "."],
  [35, "-u", "\\\\wsl.localhost\\test_distro-other\\foo", "ERR:OtherDistro"],
  [39, "-w", "/", "\\\\wsl.localhost\\test_distro\\"],
  [40, "-w", "/root", "\\\\wsl.localhost\\test_distro\\root"],
  [45, "-w", "/mnt/c", "C:\\"],
  [46, "-u", "C:/lxss_fat", "/mnt/c", mounted("C:\\lxss_fat", "/mnt/c")],
  [47, "-w", "/mnt/c", "C:\\lxss_fat", mounted("C:\\lxss_fat", "/mnt/c")],
  [48, "-u", "C:/lxss_refs", "/mnt/c", mounted("C:\\lxss_refs", "/mnt/c")],
  [48, "-w", "/mnt/c", "C:\\lxss_refs", mounted("C:\\lxss_refs", "/mnt/c")],
  [49, "-u", "//localhost/C$", "/mnt/c", mounted("\\\\localhost\\C$", "/mnt/c")],
  [50, "-w", "/mnt/c", "\\\\localhost\\C$", mounted("\\\\localhost\\C$", "/mnt/c")],
  [52, "-u", "wslpath-test-dir", "wslpath-test-dir"],
  [54, "-u", "wslpath-测试目录-テスト", "wslpath-测试目录-テスト"],
  [
    55,
    "-w",
    "/tmp/virtiofs-loop-test-0-nested",
    "D:\\src\\nested",
    mounted("D:\\src\\nested", "/tmp/virtiofs-loop-test-0-nested")
  ],
  [
    55,
    "-u",
    "D:\\src\\nested",
    "/tmp/virtiofs-loop-test-0-nested",
    mounted("D:\\src\\nested", "/tmp/virtiofs-loop-test-0-nested")
  ],
  [57, "-m", "/mnt/c/Users", "C:/Users"],
  [58, "-m", "/home/u", "//wsl.localhost/test_distro/home/u"],
  [59, "-u", "C:\\Foo\\..\\bar", "/mnt/c/bar"],
  [60, "-u", "C:\\..", "ERR:ClimbsAboveRoot"],
  [64, "-u", "\\\\server\\share\\x", "ERR:NotMounted"],
  [65, "-u", "Z:\\test.txt", "ERR:NotMounted", { distro: "test_distro", drives: ["C"] }],
  [67, "-w", "/", "ERR:NoDistroName", {}],
  [69, "-w", "foo", "foo"]
]

describe("WslPath: wsl.md §1.2 vectors", () => {
  for (const [n, cmd, input, expected, c] of vectors) {
    it(`#${n} ${cmd} ${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => {
      const got = cmd === "-u" ? u(input, c ?? ctx) : w(input, c ?? ctx, { mixed: cmd === "-m" })
      assert.strictEqual(got, expected)
    })
  }

  it("#51/#53 -a with the cwd on C: (also with UTF-8 names, #54)", () => {
    const c = { distro: "test_distro", cwd: "/mnt/c/work" }
    for (const name of ["wslpath-test-dir", "wslpath-测试目录-テスト"]) {
      assert.strictEqual(w(name, c, { absolute: true }), `C:\\work\\${name}`)
      assert.strictEqual(u(name, c), name)
      const abs = u(name, c, { absolute: true })
      assert.isTrue(abs.startsWith("/mnt/"))
      assert.strictEqual(abs, `/mnt/c/work/${name}`)
    }
  })

  it("#65 the failure names the input", () => {
    const r = WslPath.toLinux("Z:\\test.txt", { distro: "d", drives: ["c"] })
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) {
      assert.include(r.failure.message, "Z:\\test.txt")
      assert.include(r.failure.message, "drive Z: is not mounted")
    }
  })
})

describe("WslPath: the same rules on other inputs", () => {
  it("separators: mixed, repeated, forward", () => {
    assert.strictEqual(u("D:\\\\a//b\\/c"), "/mnt/d/a/b/c")
    assert.strictEqual(u("d:/"), "/mnt/d/")
    assert.strictEqual(u("E:/x/"), "/mnt/e/x/")
  })
  it("absolute only from 3 characters: `C:` and `\\\\` alone are relative", () => {
    assert.strictEqual(u("C:"), "C:")
    assert.strictEqual(u("C:x"), "ERR:NotMounted")
  })
  it("\\\\?\\ is stripped; \\\\?\\UNC\\ fails", () => {
    assert.strictEqual(u("\\\\?\\D:\\data\\x"), "/mnt/d/data/x")
    assert.strictEqual(u("//?/c:/Users"), "/mnt/c/Users")
    assert.strictEqual(u("\\\\?\\UNC\\server\\share"), "ERR:ExtendedUnc")
  })
  it(". and .. fold; climbing above the root fails (drives and UNC roots)", () => {
    assert.strictEqual(u("C:\\a\\.\\b\\..\\c"), "/mnt/c/a/c")
    assert.strictEqual(u("C:\\a\\..\\..\\b"), "ERR:ClimbsAboveRoot")
    assert.strictEqual(u("\\\\wsl.localhost\\test_distro\\home\\..\\etc"), "/etc")
    assert.strictEqual(u("\\\\wsl.localhost\\test_distro\\.."), "ERR:ClimbsAboveRoot")
    assert.strictEqual(u("a\\..\\.."), "ERR:NeedsCwd")
    assert.strictEqual(u("a\\.\\b\\"), "a/b/")
  })
  // Traced by hand through microsoft/WSL src/linux/init/wslpath.cpp (AbsoluteWindowsPath,
  // DosToCanonicalPath, CollapsePath, AbsolutePath and WslPathTranslate's relative step) with the
  // cwd given; each row says the step that decides it. The oracle is the C source, not this code.
  const onC = { distro: "test_distro", cwd: "/mnt/c/x" }
  const inHome = { distro: "test_distro", cwd: "/home/u" }
  const atRoot = { distro: "test_distro", cwd: "/" }
  const relativeVectors: ReadonlyArray<
    readonly [string, "-u" | "-w" | "-m" | "-ua" | "-wa", string, WslPath.Context, string]
  > = [
    ["rooted: the cwd's drive + \\foo", "-u", "\\foo", onC, "/mnt/c/foo"],
    ["rooted: C:\\x\\y is under the cwd again", "-u", "\\x\\y", onC, "y"],
    ["rooted, cwd not on a drive: AbsoluteWindowsPath fails", "-u", "\\foo", inHome, "ERR:InvalidCwd"],
    ["joined, collapsed, relative again", "-u", "a\\.\\b\\..\\c", onC, "a/c"],
    ["climbs out of the cwd: absolute", "-u", "..\\y", onC, "/mnt/c/y"],
    ["C:\\x\\. keeps its separator: `.`", "-u", ".", onC, "."],
    ["C:\\x\\a\\.. is C:\\x\\ (separator kept): `.`", "-u", "a\\..", onC, "."],
    ["..\\x is C:\\x exactly: prints nothing, fails", "-u", "..\\x", onC, "ERR:EmptyResult"],
    ["cwd / : nothing is made relative", "-u", "foo", atRoot, "/foo"],
    ["a UNC cwd (\\\\wsl.localhost\\…)", "-u", "proj\\src", inHome, "proj/src"],
    ["-a: absolute", "-ua", "proj", inHome, "/home/u/proj"],
    ["climbs above C:\\", "-u", "..\\..\\..", onC, "ERR:ClimbsAboveRoot"],
    ["-w: joined and relative again", "-w", "a/./b", onC, "a\\b"],
    ["-w: climbs out of the cwd: absolute Windows path", "-w", "../y", onC, "C:\\y"],
    ["-w: `.`", "-w", ".", onC, "."],
    ["-w: the cwd itself prints nothing, fails", "-w", "../x", onC, "ERR:EmptyResult"],
    ["-w: empty segments go", "-w", "a//b/", onC, "a\\b\\"],
    ["-w -a", "-wa", "notes.txt", onC, "C:\\x\\notes.txt"],
    ["-w in a UNC cwd", "-w", "../v/w", inHome, "\\\\wsl.localhost\\test_distro\\home\\v\\w"],
    ["-m: mixed separators", "-m", "a/b", onC, "a/b"],
    ["-w absolute: .. collapses (the issue's example)", "-w", "/mnt/c/foo/../bar", onC, "C:\\bar"],
    ["-w absolute: . and empty segments collapse", "-w", "/mnt/c/./foo//bar/.", onC, "C:\\foo\\bar\\"],
    [
      "-w absolute: /a/b/.. keeps the separator",
      "-w",
      "/home/a/b/..",
      onC,
      "\\\\wsl.localhost\\test_distro\\home\\a\\"
    ],
    ["-w absolute: climbing above / fails (no realpath in the pure model)", "-w", "/..", onC, "ERR:ClimbsAboveRoot"],
    ["-u absolute: C:\\a\\b\\.. keeps the separator", "-u", "C:\\a\\b\\..", onC, "/mnt/c/a/"]
  ]
  for (const [why, flag, input, context, expected] of relativeVectors) {
    it(`wslpath ${flag} ${JSON.stringify(input)} in ${context.cwd}: ${why}`, () => {
      const got = flag === "-u" || flag === "-ua"
        ? u(input, context, { absolute: flag === "-ua" })
        : w(input, context, { absolute: flag === "-wa", mixed: flag === "-m" })
      assert.strictEqual(got, expected)
    })
  }
  it("without a cwd: relative input stays relative; what needs the cwd says so", () => {
    assert.strictEqual(u("a\\b"), "a/b")
    assert.strictEqual(u("x", ctx, { absolute: true }), "ERR:NeedsCwd")
    assert.strictEqual(u("\\foo"), "ERR:NeedsCwd")
    assert.strictEqual(w("a/../b"), "b")
    assert.strictEqual(w("../b"), "ERR:NeedsCwd")
  })
  it("longest mount wins, case-insensitively, on whole components only", () => {
    const c: WslPath.Context = {
      distro: "test_distro",
      mounts: [{ windows: "C:\\Data", linux: "/data" }, { windows: "c:\\data\\deep", linux: "/deep" }]
    }
    assert.strictEqual(u("C:\\DATA\\x", c), "/data/x")
    assert.strictEqual(u("c:\\Data\\Deep\\y", c), "/deep/y")
    assert.strictEqual(u("C:\\Database\\z", c), "/mnt/c/Database/z")
    assert.strictEqual(w("/deep/y", c), "c:\\data\\deep\\y")
    assert.strictEqual(w("/datax", c), "\\\\wsl.localhost\\test_distro\\datax")
    assert.strictEqual(w("/data", c), "C:\\Data")
  })
  // Windows paths are case-insensitive (NTFS): ASCII letters at both ends of A–Z and non-ASCII
  // letters fold; other characters, such as @ and `, which differ by the same bit, do not.
  it("mount sources match case-insensitively, letters only, and never past the input's end", () => {
    const c: WslPath.Context = {
      distro: "test_distro",
      mounts: [
        { windows: "C:\\Az", linux: "/az" },
        { windows: "C:\\a`b", linux: "/tick" },
        { windows: "C:\\é", linux: "/e" }
      ]
    }
    assert.strictEqual(u("c:\\aZ\\x", c), "/az/x")
    assert.strictEqual(u("C:\\AZ", c), "/az")
    assert.strictEqual(u("C:\\a`B\\y", c), "/tick/y")
    assert.strictEqual(u("C:\\a@b", c), "/mnt/c/a@b")
    assert.strictEqual(u("c:\\É\\z", c), "/e/z")
    assert.strictEqual(u("C:\\A", c), "/mnt/c/A") // shorter than the source C:\Az
  })
  it("context.drives in either case", () => {
    const c: WslPath.Context = { distro: "test_distro", drives: ["C"] }
    assert.strictEqual(u("c:\\x", c), "/mnt/c/x")
    assert.strictEqual(w("/mnt/c/x", c), "C:\\x")
    assert.strictEqual(w("/mnt/d/x", c), "\\\\wsl.localhost\\test_distro\\mnt\\d\\x")
  })
  it("a mount source's trailing separator is dropped; a mounted drive root gets its \\", () => {
    const c: WslPath.Context = {
      distro: "test_distro",
      mounts: [{ windows: "D:\\src\\", linux: "/src/" }, { windows: "E:/", linux: "/e" }]
    }
    assert.strictEqual(w("/src/x", c), "D:\\src\\x")
    assert.strictEqual(w("/src", c), "D:\\src")
    assert.strictEqual(u("d:\\SRC\\x", c), "/src/x")
    assert.strictEqual(w("/e", c), "E:\\")
    assert.strictEqual(u("E:\\y", c), "/e/y")
  })
  it("\\\\wsl.localhost and \\\\wsl$ match this distro only, case-insensitively, whole name", () => {
    assert.strictEqual(u("\\\\WSL.LOCALHOST\\TEST_DISTRO\\etc"), "/etc")
    assert.strictEqual(u("//wsl$/test_distro/etc/"), "/etc/")
    assert.strictEqual(u("\\\\wsl.localhost\\test_distr\\etc"), "ERR:OtherDistro")
    assert.strictEqual(u("\\\\wsl.localhost\\Ubuntu\\etc"), "ERR:OtherDistro")
    assert.strictEqual(u("\\\\wsl.localhost\\test_distro\\x", {}), "ERR:NoDistroName")
    assert.strictEqual(u("\\\\server\\share"), "ERR:NotMounted")
  })
  it("an invalid context.distro names no \\\\wsl.localhost path, either way", () => {
    const bad: WslPath.Context = { distro: "bad name" }
    assert.strictEqual(w("/home/u", bad), "ERR:InvalidDistroName")
    assert.strictEqual(u("\\\\wsl.localhost\\bad name\\x", bad), "ERR:InvalidDistroName")
    assert.strictEqual(w("/mnt/c/x", bad), "C:\\x")
    // A distribution called Legacy exists on lxrun-migrated machines (windows-reality.md §7).
    assert.strictEqual(w("/home/u", { distro: "Legacy" }), "\\\\wsl.localhost\\Legacy\\home\\u")
  })
  it("unmounted drives fail; automount disabled leaves only explicit mounts", () => {
    const none: WslPath.Context = { distro: "d", drives: [] }
    assert.strictEqual(u("C:\\x", none), "ERR:NotMounted")
    assert.strictEqual(w("/mnt/c/x", none), "\\\\wsl.localhost\\d\\mnt\\c\\x")
  })
  it("automount root `/` and roots without a trailing slash", () => {
    const root: WslPath.Context = { distro: "d", automountRoot: "/" }
    assert.strictEqual(u("C:\\x", root), "/c/x")
    assert.strictEqual(w("/c/x", root), "C:\\x")
    assert.strictEqual(w("/cx", root), "\\\\wsl.localhost\\d\\cx")
    const win: WslPath.Context = { distro: "d", automountRoot: "/win" }
    assert.strictEqual(u("D:\\", win), "/win/d/")
    assert.strictEqual(w("/win/d/e", win), "D:\\e")
    assert.strictEqual(w("/mnt/c", win), "\\\\wsl.localhost\\d\\mnt\\c")
  })
  it("NTFS-illegal characters escape to U+F000+byte and come back from \\\\wsl.localhost only", () => {
    assert.strictEqual(
      w("/tmp/a:b*c?d\"e<f>g|h\\i\u0001"),
      "\\\\wsl.localhost\\test_distro\\tmp\\a\uF03Ab\uF02Ac\uF03Fd\uF022e\uF03Cf\uF03Eg\uF07Ch\uF05Ci\uF001"
    )
    assert.strictEqual(u("\\\\wsl.localhost\\test_distro\\tmp\\a\uF03Ab\uF05Cc"), "/tmp/a:b\\c")
    assert.strictEqual(u("C:\\x\uF03Ay"), "/mnt/c/x\uF03Ay") // DrvFs paths are not unescaped
  })
  it("-m uses / everywhere but keeps escaped characters", () => {
    assert.strictEqual(w("/mnt/d/a b/", ctx, { mixed: true }), "D:/a b/")
    assert.strictEqual(w("/tmp/x\\y", ctx, { mixed: true }), "//wsl.localhost/test_distro/tmp/x\uF05Cy")
  })
  it("empty input fails", () => {
    assert.strictEqual(u(""), "ERR:Empty")
    assert.strictEqual(w(""), "ERR:Empty")
  })
})

// Edges of the same rules, each traced by hand through microsoft/WSL src/linux/init/wslpath.cpp
// (DosToCanonicalPath, CollapsePath, AbsolutePath, WslPathTranslate's relative step) and
// src/linux/init/util.cpp (UtilWinPathTranslate, UtilFindMount, UtilIsPathPrefix). The comment
// on each group names the step that decides it; the C source is the oracle, not this code.
describe("WslPath: edges traced through wslpath.cpp", () => {
  const onC = { distro: "test_distro", cwd: "/mnt/c/x" }
  const inC = { distro: "test_distro", cwd: "/mnt/c" }
  const atRoot = { distro: "test_distro", cwd: "/" }
  it("CollapsePath keeps the separator before a removed last segment (drive, UNC and relative input)", () => {
    // C:\a\. and C:\a\b\.. collapse to C:\a\ ; a root with nothing left keeps its separator.
    assert.strictEqual(u("C:\\a\\."), "/mnt/c/a/")
    assert.strictEqual(u("C:\\a\\.."), "/mnt/c/")
    assert.strictEqual(u("C:\\."), "/mnt/c/")
    assert.strictEqual(u("C:\\a\\..\\.git"), "/mnt/c/.git") // a last segment that only starts with a dot stays
    // \\wsl.localhost\test_distro\a\b\.. is …\test_distro\a\ : /a/ (the prefix is followed by \ only: /).
    assert.strictEqual(u("\\\\wsl.localhost\\test_distro\\a\\b\\.."), "/a/")
    assert.strictEqual(u("\\\\wsl.localhost\\test_distro\\a\\.."), "/")
    // A UNC mount source (#49): \\localhost\C$\a\.. is \\localhost\C$\ , the mount point plus /.
    assert.strictEqual(u("\\\\localhost\\C$\\a\\..", mounted("\\\\localhost\\C$", "/mnt/c")), "/mnt/c/")
    // Relative input without a cwd: what any cwd under a drive gives after the relative step.
    assert.strictEqual(u("a\\b\\.."), "a/")
    assert.strictEqual(u("a\\."), "a/")
    assert.strictEqual(u("a\\..\\.hidden"), ".hidden")
    assert.strictEqual(u(".\\a"), "a")
    assert.strictEqual(w("a/b/.."), "a\\")
    assert.strictEqual(w("a/.."), ".")
  })
  it("CollapsePath removes only `.` and `..` segments: names with dots stay", () => {
    assert.strictEqual(u("C:\\.\\ab\\.a\\a.\\.git\\a.b\\..b"), "/mnt/c/ab/.a/a./.git/a.b/..b")
    assert.strictEqual(w("/mnt/c/./ab/.a/a./.git/a.b/..b"), "C:\\ab\\.a\\a.\\.git\\a.b\\..b")
    // So in a UNC server name: \\a.\ is the server a. and its separator, matched by a mount of \\a. .
    for (const server of ["ab", "a.", ".a", ".a."]) {
      assert.strictEqual(u(`\\\\${server}\\`, mounted(`\\\\${server}`, "/srv")), "/srv/", server)
    }
  })
  it("CollapsePath: a `.` met while a `..` is pending uses it up (the C loop's order)", () => {
    // From the right: `..` asks to remove one segment, `.` is removed and takes that request, b stays.
    assert.strictEqual(w("/mnt/c/a/b/./.."), "C:\\a\\b\\")
  })
  it("the collapse starts after a leading \\\\: `\\\\..` names a server, it does not climb", () => {
    // DosToCanonicalPath collapses from index 2: `..` has no separator, nothing to fold; the
    // translation then finds no mount and no \\wsl.localhost prefix.
    assert.strictEqual(u("\\\\.."), "ERR:NotMounted")
  })
  it("\\\\wsl.localhost\\ without a distribution is not a WSL path", () => {
    assert.strictEqual(u("\\\\wsl.localhost\\"), "ERR:NotMounted")
    assert.isTrue(Option.isNone(WslPath.parseUnc("\\\\wsl.localhost\\")))
  })
  it("only a leading \\\\?\\UNC is the extended UNC form", () => {
    assert.strictEqual(u("\\\\?\\C:\\unc\\x"), "/mnt/c/unc/x")
    assert.strictEqual(u("\\\\?\\UNC"), "ERR:ExtendedUnc")
  })
  it("a \\\\wsl.localhost name made only of escaped characters is unescaped", () => {
    assert.strictEqual(u("\\\\wsl.localhost\\test_distro\\\uF03A"), "/:")
  })
  it("UtilFindMount for Windows paths: the longest source wins whatever the order", () => {
    const c: WslPath.Context = {
      distro: "test_distro",
      mounts: [{ windows: "c:\\data\\deep", linux: "/deep" }, { windows: "C:\\Data", linux: "/data" }]
    }
    assert.strictEqual(u("C:\\data\\deep\\y", c), "/deep/y")
    assert.strictEqual(u("C:\\data\\y", c), "/data/y")
  })
  it("UtilIsPathPrefix: a source is a prefix when the path goes on with a separator (a server without a share too)", () => {
    const c = mounted("\\\\server", "/srv")
    assert.strictEqual(u("\\\\server\\", c), "/srv/")
    assert.strictEqual(u("\\\\server\\x", c), "/srv/x")
  })
  // wsl::shared::string::StartsWith folds case; `[`/`{` and `]`/`}` differ by the same bit as
  // letters do but are different characters, as are two different non-ASCII letters.
  it("case folding is for letters only", () => {
    const c: WslPath.Context = {
      distro: "test_distro",
      mounts: [{ windows: "C:\\{x}", linux: "/braces" }, { windows: "C:\\é", linux: "/e" }]
    }
    assert.strictEqual(u("C:\\{X}\\y", c), "/braces/y")
    assert.strictEqual(u("C:\\[x]\\y", c), "/mnt/c/[x]/y")
    assert.strictEqual(u("C:\\ü\\z", c), "/mnt/c/ü/z")
  })
  it("-w: automount points are <root> plus a lower-case letter a–z", () => {
    assert.strictEqual(w("/mnt/a/x"), "A:\\x")
    assert.strictEqual(w("/mnt/z"), "Z:\\")
    assert.strictEqual(w("/mnt/C/x"), "\\\\wsl.localhost\\test_distro\\mnt\\C\\x")
    assert.strictEqual(w("/mnt/`"), "\\\\wsl.localhost\\test_distro\\mnt\\`")
    assert.strictEqual(w("/mnt/{"), "\\\\wsl.localhost\\test_distro\\mnt\\{")
    assert.strictEqual(w("/mnt/"), "\\\\wsl.localhost\\test_distro\\mnt\\")
  })
  // UtilIsPathPrefix("/x", "/") is 0: the next character after the prefix `/` must be a `/`. So
  // a drvfs mount at `/` only ever matches `/` itself, and -u joins its mount point `/` to the
  // rest of the path as it is (`/` + `/x`).
  it("a mount at / matches only / itself", () => {
    const c = mounted("D:\\share", "/")
    assert.strictEqual(w("/", c), "D:\\share")
    assert.strictEqual(w("/x", c), "\\\\wsl.localhost\\test_distro\\x")
    assert.strictEqual(w("/", mounted("D:\\", "/")), "D:\\")
    assert.strictEqual(u("D:\\share", c), "/")
    assert.strictEqual(u("D:\\share\\x", c), "//x")
  })
  it("the relative step compares raw prefixes, then wants a separator", () => {
    // C:\xy only starts with the cwd's C:\x: not under it, printed absolute.
    assert.strictEqual(w("../xy", onC), "C:\\xy")
    assert.strictEqual(u("..\\xy", onC), "/mnt/c/xy")
    // In /mnt/c the cwd's Windows form is C:\ (its own separator): C:\foo goes on with `f`, so
    // -w prints it absolute, and `.` is C:\ itself, which prints nothing and fails.
    assert.strictEqual(w("foo", inC), "C:\\foo")
    assert.strictEqual(w(".", inC), "ERR:EmptyResult")
    // -u compares with the Linux cwd /mnt/c: C:\ + \ + foo collapses to C:\foo, /mnt/c/foo.
    assert.strictEqual(u("foo", inC), "foo")
    assert.strictEqual(u(".", inC), ".")
    // In / the cwd's Windows form is \\wsl.localhost\test_distro\ : nothing is made relative.
    assert.strictEqual(w("foo", atRoot), "\\\\wsl.localhost\\test_distro\\foo")
    // A cwd given with a trailing / is the same directory (getcwd never prints one).
    assert.strictEqual(u("foo", { ...onC, cwd: "/mnt/c/x/" }), "foo")
  })
  it("the relative step needs the cwd's Windows form; without one the translated path is printed", () => {
    // /home/u without WSL_DISTRO_NAME has no Windows form (OutputCwd is NULL); /mnt/c/x does.
    assert.strictEqual(w("../../mnt/c/x", { cwd: "/home/u" }), "C:\\x")
    assert.strictEqual(w("foo", { cwd: "/home/u" }, { mixed: true }), "ERR:NoDistroName")
    assert.strictEqual(w("../../../home", { cwd: "/mnt/c/x" }), "ERR:NoDistroName")
    assert.strictEqual(w("../../../home", { cwd: "/mnt/c/x" }, { absolute: true }), "ERR:NoDistroName")
  })
  it("-m applies to every -w result: relative, absolute (-a) and without a cwd", () => {
    assert.strictEqual(w("notes.txt", onC, { absolute: true, mixed: true }), "C:/x/notes.txt")
    assert.strictEqual(w("a/b", ctx, { mixed: true }), "a/b")
    assert.strictEqual(w("x:y"), "x\uF03Ay") // the relative result is escaped too
    assert.strictEqual(Result.getOrThrow(WslPath.toWindows("a/b", onC)), "a\\b") // no options at all
  })
  it("parseUnc keeps a trailing separator", () => {
    assert.deepStrictEqual(
      Option.map(WslPath.parseUnc("//wsl$/Debian/a/"), (p) => p.linuxPath),
      Option.some("/a/")
    )
  })
})

const why = (r: Result.Result<string, WslPath.WslPathError>): string =>
  Result.isFailure(r) ? `${r.failure.reason}: ${r.failure.message}` : `ok: ${r.success}`

// Every failure names the input and says what to do (the product rule for errors); these are the
// messages a user reads, so each reason's words are pinned here.
describe("WslPath: every failure says why", () => {
  const onC = { distro: "test_distro", cwd: "/mnt/c/x" }
  // Thunks: the conversions run inside each test, not while the file is collected.
  const cases: ReadonlyArray<readonly [() => Result.Result<string, WslPath.WslPathError>, string]> = [
    [() => WslPath.toLinux("", ctx), "Empty: wslpath -u \"\": the path is empty"],
    [() => WslPath.toWindows("", ctx), "Empty: wslpath -w \"\": the path is empty"],
    [
      () => WslPath.toLinux("C:\\a\\..\\..", ctx),
      "ClimbsAboveRoot: wslpath -u \"C:\\a\\..\\..\": \"..\" climbs above C:\\"
    ],
    [() => WslPath.toWindows("/a/../..", ctx), "ClimbsAboveRoot: wslpath -w \"/a/../..\": \"..\" climbs above /"],
    [() => WslPath.toWindows("../../../..", onC), "ClimbsAboveRoot: wslpath -w \"../../../..\": \"..\" climbs above /"],
    [
      () => WslPath.toLinux("\\\\?\\UNC\\server\\share", ctx),
      "ExtendedUnc: wslpath -u \"\\\\?\\UNC\\server\\share\": \\\\?\\UNC\\ paths are not translated; use the mounted path instead"
    ],
    [
      () => WslPath.toLinux("\\\\?\\relative\\x", ctx),
      "NotMounted: wslpath -u \"\\\\?\\relative\\x\": the path after \\\\?\\ is not an absolute Windows path"
    ],
    [
      () => WslPath.toLinux("D:x\\y", ctx),
      "NotMounted: wslpath -u \"D:x\\y\": D: without a separator is drive-relative; write D:\\…"
    ],
    [
      () => WslPath.toLinux("z:\\t", { distro: "d", drives: ["C"] }),
      "NotMounted: wslpath -u \"z:\\t\": drive Z: is not mounted in the distribution (mount it with drvfs or add it to context.drives)"
    ],
    [
      () => WslPath.toLinux("\\\\server\\share\\x", ctx),
      "NotMounted: wslpath -u \"\\\\server\\share\\x\": this UNC path is not mounted in the distribution and is not a WSL path"
    ],
    [
      () => WslPath.toLinux("\\\\wsl$\\Ubuntu\\etc", ctx),
      "OtherDistro: wslpath -u \"\\\\wsl$\\Ubuntu\\etc\": the path belongs to distribution \"Ubuntu\", not \"test_distro\"; convert it in that distribution"
    ],
    [
      () => WslPath.toWindows("/etc", {}),
      "NoDistroName: wslpath -w \"/etc\": WSL_DISTRO_NAME is unknown (it is lost under sudo); set context.distro"
    ],
    [
      () => WslPath.toWindows("/etc", { distro: "a/b" }),
      "InvalidDistroName: wslpath -w \"/etc\": context.distro \"a/b\" is not a distribution name: "
    ],
    [
      () => WslPath.toLinux("x", ctx, { absolute: true }),
      "NeedsCwd: wslpath -u \"x\": a relative path needs context.cwd to be made absolute"
    ],
    [
      () => WslPath.toWindows("x", ctx, { absolute: true }),
      "NeedsCwd: wslpath -w \"x\": a relative path needs context.cwd to be made absolute"
    ],
    [
      () => WslPath.toLinux("/foo", ctx),
      "NeedsCwd: wslpath -u \"/foo\": \\foo is relative to the cwd's drive; pass context.cwd"
    ],
    [
      () => WslPath.toLinux("a\\..\\..", ctx),
      "NeedsCwd: wslpath -u \"a\\..\\..\": \"..\" leaves the working directory; pass context.cwd"
    ],
    [
      () => WslPath.toWindows("../b", ctx),
      "NeedsCwd: wslpath -w \"../b\": \"..\" leaves the working directory; pass context.cwd"
    ],
    [
      () => WslPath.toLinux("\\foo", { distro: "test_distro", cwd: "/home/u" }),
      "InvalidCwd: wslpath -u \"\\foo\": \\foo is relative to the drive of the working directory, and /home/u is not on a drive"
    ],
    [
      () => WslPath.toLinux("foo", { cwd: "/home/u" }),
      "InvalidCwd: wslpath -u \"foo\": the working directory /home/u cannot be converted: WSL_DISTRO_NAME is unknown (it is lost under sudo); set context.distro"
    ],
    [
      () => WslPath.toWindows("foo", { distro: "test_distro", cwd: "home/u" }),
      "InvalidCwd: wslpath -w \"foo\": context.cwd \"home/u\" is not absolute"
    ],
    [
      () => WslPath.toLinux("..\\x", onC),
      "EmptyResult: wslpath -u \"..\\x\": the path is the working directory /mnt/c/x itself: wslpath prints nothing and fails (use \".\" or absolute)"
    ],
    [
      () => WslPath.toWindows("../x", { ...onC, cwd: "/mnt/c/x/" }),
      "EmptyResult: wslpath -w \"../x\": the path is the working directory /mnt/c/x itself: wslpath prints nothing and fails (use \".\" or absolute)"
    ]
  ]
  cases.forEach(([result, expected], i) => {
    it(`#${i} ${expected.slice(0, expected.indexOf(":"))}`, () => {
      const got = why(result())
      assert.isTrue(got.startsWith(expected), `${got}\n  does not start with\n${expected}`)
    })
  })
})

describe("WslPath.parseUnc", () => {
  it("reads both prefixes, either separator, and folds", () => {
    assert.deepStrictEqual(
      WslPath.parseUnc("\\\\wsl.localhost\\Ubuntu-24.04\\home\\u"),
      Option.some({ distro: "Ubuntu-24.04" as never, linuxPath: "/home/u", prefix: "wsl.localhost" as const })
    )
    assert.deepStrictEqual(
      WslPath.parseUnc("//wsl$/Debian"),
      Option.some({ distro: "Debian" as never, linuxPath: "/", prefix: "wsl$" as const })
    )
    assert.deepStrictEqual(
      WslPath.parseUnc("\\\\?\\wsl.localhost\\D\\a\\..\\b\\"),
      Option.none()
    )
  })
  it("rejects other servers, bad distro names and climbing", () => {
    assert.isTrue(Option.isNone(WslPath.parseUnc("\\\\server\\share\\x")))
    assert.isTrue(Option.isNone(WslPath.parseUnc("\\\\wsl.localhost\\bad name\\x")))
    assert.isTrue(Option.isNone(WslPath.parseUnc("\\\\wsl.localhost\\D\\..")))
    assert.isTrue(Option.isNone(WslPath.parseUnc("C:\\x")))
    assert.deepStrictEqual(
      Option.map(WslPath.parseUnc("\\\\wsl.localhost\\Legacy\\x"), (p) => p.linuxPath),
      Option.some("/x")
    )
  })
  it("toUnc is what wslpath -w prints", () => {
    assert.strictEqual(WslPath.toUnc("Ubuntu" as never, "/home/u"), "\\\\wsl.localhost\\Ubuntu\\home\\u")
    assert.strictEqual(WslPath.toUnc("Ubuntu" as never, "home/u"), "\\\\wsl.localhost\\Ubuntu\\home\\u")
    assert.strictEqual(WslPath.toUnc("Ubuntu" as never, "/a:b"), "\\\\wsl.localhost\\Ubuntu\\a\uF03Ab")
  })
})

// wslpath.cpp's absolute test (at least 3 characters; a drive letter A–Z/a–z and `:`, or two
// separators first), at the edges of the letter ranges in ASCII.
describe("WslPath.isAbsoluteWindows and the escaping of names", () => {
  it("drive letters are exactly A–Z and a–z; two separators of either kind", () => {
    for (const yes of ["C:\\", "c:/", "A:\\", "Z:\\", "a:x", "z:\\", "\\\\x", "//x", "\\/x", "/\\x"]) {
      assert.isTrue(WslPath.isAbsoluteWindows(yes), yes)
    }
    for (
      const no of ["C:", "C:\\".slice(0, 2), "@:\\", "[:\\", "`:\\", "{:\\", "1:\\", "\\x\\y", "ab\\", "C;\\", "\\\\"]
    ) {
      assert.isFalse(WslPath.isAbsoluteWindows(no), no)
    }
  })
  it("escapeName maps each NTFS-illegal character to U+F000+byte and unescapeName reverses it", () => {
    assert.strictEqual(WslPath.escapeName("plain name.txt"), "plain name.txt")
    assert.strictEqual(
      WslPath.escapeName("a\"b*c:d<e>f?g\\h|i\u0000j\u001fk"),
      "a\uF022b\uF02Ac\uF03Ad\uF03Ce\uF03Ef\uF03Fg\uF05Ch\uF07Ci\uF000j\uF01Fk"
    )
    assert.strictEqual(WslPath.escapeName("\u0020/"), "\u0020/") // space and / are legal in a Linux name
    assert.strictEqual(WslPath.escapeName(":*"), "\uF03A\uF02A") // a name of illegal characters only
    assert.strictEqual(
      WslPath.unescapeName("a\uF022b\uF02Ac\uF03Ad\uF03Ce\uF03Ef\uF03Fg\uF05Ch\uF07Ci\uF000j\uF01Fk"),
      "a\"b*c:d<e>f?g\\h|i\u0000j\u001fk"
    )
    // Private-use characters that stand for no illegal character stay as they are.
    assert.strictEqual(WslPath.unescapeName("\uF020\uF041\uF100"), "\uF020\uF041\uF100")
  })
})

// Property runs, scaled down by `pnpm mutate wsl` (WSL_PROPERTY_SCALE, see vitest.mutate.config.ts)
// where every mutant reruns these: fewer runs can only catch fewer mutants, so scores measured
// so are a lower bound.
const runs = (n: number): number => Math.max(20, Math.round(n * Number(process.env["WSL_PROPERTY_SCALE"] ?? "1")))

const letter = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZ")
const component = fc.stringMatching(/^[A-Za-z0-9 _.\-()[\]{}#@!$%&'+,;=~\u00e9\u4e2d\uf03a]{1,12}$/).filter((s) =>
  s !== "." && s !== ".." && !/^ +$/.test(s)
)
const windowsPath = fc.tuple(letter, fc.array(component, { maxLength: 6 }), fc.boolean()).map(([l, parts, trailing]) =>
  `${l}:\\${parts.join("\\")}${trailing && parts.length > 0 ? "\\" : ""}`
)
const linuxOutside = fc.array(
  // oxlint-disable-next-line no-control-regex
  fc.stringMatching(/^[^/\u0000]{1,10}$/).filter((s) => s !== "." && s !== ".."),
  { minLength: 1, maxLength: 5 }
).map((parts) => `/home/${parts.join("/")}`)

describe("WslPath properties", () => {
  it("toWindows(toLinux(p)) round-trips for mounted paths", () => {
    fc.assert(
      fc.property(windowsPath, (p) => {
        const linux = WslPath.toLinux(p, ctx)
        assert.isTrue(Result.isSuccess(linux))
        const back = WslPath.toWindows(Result.getOrThrow(linux), ctx)
        assert.strictEqual(Result.getOrThrow(back), p)
      }),
      { numRuns: runs(500) }
    )
  })
  it("toLinux(toWindows(p)) round-trips for paths outside the mounts (escaping included)", () => {
    fc.assert(
      fc.property(linuxOutside, (p) => {
        const win = Result.getOrThrow(WslPath.toWindows(p, ctx))
        assert.strictEqual(Result.getOrThrow(WslPath.toLinux(win, ctx)), p)
      }),
      { numRuns: runs(500) }
    )
  })
  it("no input makes either function throw", () => {
    const contexts = fc.record({
      distro: fc.option(fc.string(), { nil: undefined }),
      automountRoot: fc.option(fc.string(), { nil: undefined }),
      cwd: fc.option(fc.string(), { nil: undefined }),
      drives: fc.option(fc.array(fc.string({ maxLength: 2 })), { nil: undefined }),
      mounts: fc.option(fc.array(fc.record({ windows: fc.string(), linux: fc.string() }), { maxLength: 3 }), {
        nil: undefined
      })
    })
    const anyPath = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom("\\", "/", ".", ":", "C", "?", "w", "s", "l", "$", "a", "\uF03A") })
    )
    fc.assert(
      fc.property(anyPath, contexts, fc.boolean(), fc.boolean(), (p, c, a, m) => {
        const results = [
          WslPath.toLinux(p, c, { absolute: a }),
          WslPath.toWindows(p, c, { absolute: a, mixed: m })
        ]
        for (const r of results) assert.isTrue(Result.isSuccess(r) || r.failure instanceof WslPath.WslPathError)
        assert.isTrue(Option.isOption(WslPath.parseUnc(p)))
      }),
      { numRuns: runs(2000) }
    )
  })
})

/**
 * Finds the TypeScript blocks of a Markdown file and how each is to be type-checked (pure: text in,
 * blocks out). The marker convention, written as an HTML comment (invisible when rendered) on the
 * line before the opening fence, blank lines allowed in between:
 *
 * - no marker: the block is a module of its own and must compile as written, imports included;
 * - `<!-- continues -->`: the block goes on from the TypeScript block above it (its imports and
 *   names are in scope) and is checked appended to it, so a walk-through can show one program in
 *   steps;
 * - `<!-- fragment: <reason> -->`: the block is not a program (a shape, an excerpt of a config) and
 *   is not compiled; the reason is required and says why.
 *
 * Any other `<!-- ... -->` directly above a fence is left alone.
 */

/** How a block is checked. */
export type BlockMode =
  | { readonly _tag: "Module" }
  | { readonly _tag: "Continues" }
  | { readonly _tag: "Fragment"; readonly reason: string }

/** One fenced TypeScript block. */
export interface Block {
  /** 1-based line of the block's first code line in the Markdown file. */
  readonly line: number
  readonly code: string
  readonly mode: BlockMode
}

/** A marker that cannot be honoured (a fragment without a reason, a continuation of nothing). */
export interface MarkerProblem {
  readonly line: number
  readonly message: string
}

const typeScriptLanguages = new Set(["ts", "typescript", "tsx", "mts", "cts"])
const fenceOpen = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/
const fragmentMarker = /^\s*<!--\s*fragment\s*(?::\s*(.*?))?\s*-->\s*$/
const continuesMarker = /^\s*<!--\s*continues\s*-->\s*$/

const markerAbove = (lines: ReadonlyArray<string>, fenceIndex: number): { mode: BlockMode; bad?: string } => {
  let i = fenceIndex - 1
  while (i >= 0 && lines[i]!.trim() === "") i--
  const above = i >= 0 ? lines[i]! : ""
  if (continuesMarker.test(above)) return { mode: { _tag: "Continues" } }
  const fragment = fragmentMarker.exec(above)
  if (fragment) {
    const reason = (fragment[1] ?? "").trim()
    return reason === ""
      ? { mode: { _tag: "Fragment", reason }, bad: "a fragment marker needs a reason: <!-- fragment: why -->" }
      : { mode: { _tag: "Fragment", reason } }
  }
  return { mode: { _tag: "Module" } }
}

/** The TypeScript blocks of `markdown`, in order, and any marker that cannot be honoured. */
export const extractBlocks = (markdown: string): { blocks: Array<Block>; problems: Array<MarkerProblem> } => {
  const lines = markdown.split(/\r?\n/)
  const blocks: Array<Block> = []
  const problems: Array<MarkerProblem> = []
  for (let i = 0; i < lines.length; i++) {
    const open = fenceOpen.exec(lines[i]!)
    if (!open) continue
    const [, indent = "", fence = "", language = ""] = open
    // The closing fence: the same character, at least as long, nothing after it.
    const closing = new RegExp(`^\\s*${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`)
    let end = i + 1
    while (end < lines.length && !closing.test(lines[end]!)) end++
    if (typeScriptLanguages.has(language.toLowerCase())) {
      const body = lines.slice(i + 1, end).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()))
      const { bad, mode } = markerAbove(lines, i)
      if (bad !== undefined) problems.push({ line: i + 1, message: bad })
      if (mode._tag === "Continues" && blocks.length === 0) {
        problems.push({ line: i + 1, message: "<!-- continues --> on the first TypeScript block: nothing to continue" })
      }
      blocks.push({ line: i + 2, code: body.join("\n"), mode })
    }
    i = end
  }
  return { blocks, problems }
}

/** A compilable unit: the source to write and, for each of its lines, the README line it came from. */
export interface Unit {
  readonly block: Block
  readonly source: string
  /** `origin[k]` is the README line of source line `k + 1`, or undefined for a line of an earlier block. */
  readonly origin: ReadonlyArray<number | undefined>
}

/**
 * The units to compile for a file's blocks: one per block that is not a fragment. A continuation
 * is its chain of earlier blocks followed by itself; only its own lines are attributed to it, so an
 * error in an earlier block is reported once, for that block.
 */
export const unitsOf = (blocks: ReadonlyArray<Block>): Array<Unit> => {
  const units: Array<Unit> = []
  let chain: Array<Block> = []
  for (const block of blocks) {
    if (block.mode._tag === "Fragment") continue
    chain = block.mode._tag === "Continues" ? [...chain, block] : [block]
    const sourceLines: Array<string> = []
    const origin: Array<number | undefined> = []
    for (const part of chain) {
      const partLines = part.code.split("\n")
      partLines.forEach((text, k) => {
        sourceLines.push(text)
        origin.push(part === block ? block.line + k : undefined)
      })
    }
    units.push({ block, source: sourceLines.join("\n") + "\n", origin })
  }
  return units
}

/** One `tsc --pretty false` diagnostic: `file(line,col): error TS1234: message` (continuation lines joined). */
export interface Diagnostic {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly text: string
}

/** Parses the output of `tsc --pretty false`. */
export const parseTscOutput = (output: string): Array<Diagnostic> => {
  const diagnostics: Array<Diagnostic> = []
  const head = /^(.+?)\((\d+),(\d+)\): (error|warning) (TS\d+: .*)$/
  for (const line of output.split(/\r?\n/)) {
    const m = head.exec(line)
    if (m) {
      diagnostics.push({ file: m[1]!, line: Number(m[2]), column: Number(m[3]), text: m[5]! })
    } else if (line.startsWith(" ") && diagnostics.length > 0) {
      const last = diagnostics.pop()!
      diagnostics.push({ ...last, text: `${last.text}\n${line}` })
    } else if (line.trim() !== "") {
      diagnostics.push({ file: "", line: 0, column: 0, text: line })
    }
  }
  return diagnostics
}

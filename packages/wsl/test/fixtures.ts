import type { FakeWslConfig } from "@isthmus/wsl/testing"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * Where the distros' own files live for these fixtures: under the temporary directory, so
 * fake-wsl creates them for real (a Node that prints its version, a Windows npm shim) and a real
 * bash finds them, while the in-memory host uses the same paths as plain strings.
 */
export const sandbox = mkdtempSync(join(tmpdir(), "isthmus-distro-"))
/** nvm's bin directory: only `~/.bashrc` puts it on PATH (windows-reality.md §5). */
export const nvmBin = `${sandbox}/home/ada/.nvm/versions/node/v22.16.0/bin`

/** One model for both fakes: the in-memory host and the fake-wsl executable. */
export const config: FakeWslConfig = {
  distros: [
    {
      name: "Ubuntu-24.04",
      state: "Running",
      version: 2,
      default: true,
      user: "ada",
      home: "/home/ada",
      interfaces: [
        { name: "lo", address: "127.0.0.1" },
        { name: "docker0", address: "172.17.0.1" },
        { name: "br-5f3c9a", address: "172.18.0.1" },
        { name: "eth0", address: "172.20.1.5" }
      ],
      networkingMode: "nat",
      node: { path: `${nvmBin}/node`, version: "v22.16.0" },
      // nvm-sh install.sh appends to ~/.bashrc, after the stock interactive-only guard.
      bashrc: { path: [nvmBin], output: "Now using node v22.16.0 (npm v10.9.2)\n" },
      profile: { output: "Welcome to Ubuntu 24.04 LTS\n" },
      tools: ["sed"],
      symlinks: { "/mnt/c/proj/link": "target" }
    },
    {
      name: "Debian",
      state: "Stopped",
      version: 2,
      home: "/home/bob",
      interfaces: [{ name: "eth0", address: "192.168.1.50" }],
      networkingMode: "mirrored",
      node: null,
      tools: []
    },
    { name: "legacy-wsl1", state: "Stopped", version: 1, home: "/root" },
    { name: "Arch", state: "Installing", version: 2 }
  ],
  hostAddresses: ["192.168.1.50", "10.0.0.2"]
}

/** No wslinfo: the mode comes from .wslconfig. */
export const wslconfigOnly: FakeWslConfig = {
  distros: [{ name: "Ubuntu", state: "Running", default: true, interfaces: [{ name: "eth0", address: "172.22.0.9" }] }],
  wslConfig: "# mine\n[wsl2]\nmemory=8GB\nNetworkingMode = Mirrored ; set by me\n"
}

/** wslinfo says nat, but .wslconfig turns localhost forwarding off; a distro whose mode is none. */
export const noForwarding: FakeWslConfig = {
  distros: [
    {
      name: "Ubuntu",
      state: "Running",
      default: true,
      networkingMode: "nat",
      interfaces: [{ name: "eth0", address: "172.22.0.9" }]
    },
    { name: "Isolated", state: "Running", networkingMode: "none", interfaces: [{ name: "lo", address: "127.0.0.1" }] }
  ],
  wslConfig: "[wsl2]\nlocalhostForwarding=false\n"
}

/** No wslinfo, no .wslconfig: the distro address collides with a host address → mirrored. */
export const collision: FakeWslConfig = {
  distros: [
    { name: "Ubuntu", state: "Running", default: true, interfaces: [{ name: "eth0", address: "10.1.2.3" }] },
    { name: "Nat", state: "Running", interfaces: [{ name: "eth0", address: "172.30.0.2" }] }
  ],
  hostAddresses: ["10.1.2.3"]
}

/**
 * A distro whose only npm is Windows' (`appendWindowsPath`): an extension-less CRLF script under
 * the automount root (microsoft/WSL#1512, #4249; windows-reality.md §5).
 */
export const shims: FakeWslConfig = {
  distros: [
    {
      name: "Shims",
      state: "Running",
      default: true,
      home: "/home/ada",
      automountRoot: `${sandbox}/mnt/`,
      windowsPath: [`${sandbox}/mnt/c/Program Files/nodejs`],
      executables: { [`${sandbox}/mnt/c/Program Files/nodejs/npm`]: "windowsShim" },
      node: null
    }
  ]
}

/**
 * Dotfiles that start tmux in every interactive shell (windows-reality.md §5): `Guarded` skips it
 * under `VSCODE_RESOLVING_ENVIRONMENT`, as many real dotfiles do; `Trapped` does not.
 */
export const tmuxDotfiles: FakeWslConfig = {
  distros: [
    {
      name: "Guarded",
      state: "Running",
      default: true,
      home: "/home/ada",
      node: { path: `${nvmBin}/node`, version: "v22.16.0" },
      bashrc: { path: [nvmBin], exec: { program: "tmux", unless: "VSCODE_RESOLVING_ENVIRONMENT" } }
    },
    {
      name: "Trapped",
      state: "Running",
      home: "/home/ada",
      node: { path: `${nvmBin}/node`, version: "v22.16.0" },
      bashrc: { path: [nvmBin], exec: { program: "tmux" } }
    }
  ]
}

/** The user's own WSLENV, odd entries included: it must survive byte for byte. */
export const userWslenv = "GOPATH/p::ODD/zz:OPENAI_API_KEY/u:"

/** The `_tag` of an error (for assertions). */
export const tag = (error: unknown): string => (error as { readonly ["_tag"]: string })["_tag"]

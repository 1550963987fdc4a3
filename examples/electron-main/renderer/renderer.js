// The page's script: shows the backends and the WSL setting, through the preload's four calls.
const $ = (id) => document.getElementById(id)

async function refresh() {
  const list = await window.isthmus.backends()
  $("backends").replaceChildren(...list.map((b) => {
    const li = document.createElement("li")
    li.textContent = `${b.label ?? b.id}: ${b.phase}${b.url ? ` at ${b.url}` : ""}`
    return li
  }))
}

async function init() {
  const [distros, setting] = await Promise.all([window.isthmus.listDistros(), window.isthmus.getWslBackend()])
  $("distro").replaceChildren(...distros.map((d) => new Option(d.name, d.name, d.isDefault, d.name === setting.distro)))
  $("wsl").checked = setting.enabled
  const save = async () => {
    const result = await window.isthmus.setWslBackend({ enabled: $("wsl").checked, distro: $("distro").value || null })
    if (!result.ok) alert(result.message)
    await refresh()
  }
  $("wsl").addEventListener("change", save)
  $("distro").addEventListener("change", save)
  await refresh()
  setInterval(refresh, 2000)
}

void init()

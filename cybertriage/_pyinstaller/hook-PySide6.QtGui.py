"""Takes the place of PyInstaller's own PySide6.QtGui hook (hooks on the spec's hookspath win): the same
collection, without the Qt plugins cybertriage does not use. The GTK theme plugin alone drags in GTK, cairo,
pango and their kin; the Wayland, EGL and input-device plugins drag in more Qt libraries. The platform
plugins the application needs are named by build_installer.spec itself (QT_PLATFORMS)."""

from pathlib import Path

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

UNUSED_PLUGIN_FOLDERS = {
    "platforms", "platformthemes", "egldeviceintegrations", "generic", "networkinformation", "tls",
    "wayland-decoration-client", "wayland-graphics-integration-client", "wayland-shell-integration",
}
UNUSED_IMAGE_FORMATS = {"qpdf"}  # would pull in QtPdf


def _used(source: str, destination: str) -> bool:
    folder = Path(destination).name
    name = Path(source).name.split(".", 1)[0].removeprefix("lib")
    return folder not in UNUSED_PLUGIN_FOLDERS and not (folder == "imageformats" and name in UNUSED_IMAGE_FORMATS)


hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [(source, destination) for source, destination in binaries if _used(source, destination)]

"""regipy reads plugins/validated_plugins.json when its plugins are imported (and warns on every run without it);
PyInstaller has no hook of its own for it."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("regipy", includes=["**/*.json"])

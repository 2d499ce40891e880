"""publicsuffixlist reads its bundled public_suffix_list.dat at import; PyInstaller has no hook of its own for it."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("publicsuffixlist", excludes=["**/test*"])

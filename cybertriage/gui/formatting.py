"""The application's severity colours. Sizes, times and safe text come from the Qt-free modules
(`cybertriage.formatting`, `cybertriage.text_safety`) that the command line and the reports use too."""

from __future__ import annotations

SEVERITY_COLORS = {"critical": "#b3261e", "high": "#e8590c", "medium": "#c98a00", "low": "#1f6fb2", "info": "#6b7785"}

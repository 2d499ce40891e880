"""The severity ladder of findings, defined once: its five names, their order and their rank.

Every finding carries one of these names, and the case stores its rank beside it (`severity_rank`)
so that SQL can sort and filter worst first. Options, counts, tables and charts all list the
severities from here, so that the command line, the application and the reports agree.
"""

from __future__ import annotations

SEVERITIES = ("info", "low", "medium", "high", "critical")  # mildest first, as options list them
SEVERITIES_WORST_FIRST = SEVERITIES[::-1]  # as examiners read them: counts, tables, charts
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}  # 0 info … 4 critical

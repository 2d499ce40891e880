"""Writes sigma_reference.json: the SQL `sigma convert -t sqlite` gives for the rules test_sigma.py checks.

Run with a separate install of the reference converter (not the project's venv), e.g.
    python3 -m venv /tmp/sigcli && /tmp/sigcli/bin/pip install sigma-cli pysigma-backend-sqlite
    python3 tests/data/artefacts/evtx/make_sigma_reference.py /tmp/sigcli/bin/sigma
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RULES = HERE.parents[3] / "rules" / "sigma"
# rule file -> the events its logsource names (the test's own reading of the Sigma logsource taxonomy)
CHECKED = {
    "win_security_audit_log_cleared.yml": "Channel = 'Security'",
    "win_security_user_logoff.yml": "Channel = 'Security'",
    "win_security_rdp_localhost_login.yml": "Channel = 'Security'",
    "win_security_susp_failed_logon_reasons.yml": "Channel = 'Security'",
    "win_security_user_creation.yml": "Channel = 'Security'",
    "win_security_member_added_security_enabled_global_group.yml": "Channel = 'Security'",
    "win_security_susp_scheduled_task_creation.yml": "Channel = 'Security'",
    "win_system_susp_eventlog_cleared.yml": "Channel = 'System'",
    "win_system_service_terminated_error_generic.yml": "Channel = 'System'",
    "win_system_susp_service_installation_folder.yml": "Channel = 'System'",
    "win_system_service_install_susp.yml": "Channel = 'System'",
    "proc_creation_win_reg_add_run_key.yml":
        "Channel = 'Microsoft-Windows-Sysmon/Operational' AND EventID = 1",
    "proc_creation_win_powershell_base64_encoded_cmd.yml":
        "Channel = 'Microsoft-Windows-Sysmon/Operational' AND EventID = 1",
}


def main(sigma: str) -> None:
    reference = {}
    for name, scope in CHECKED.items():
        converted = subprocess.run([sigma, "convert", "-t", "sqlite", "--without-pipeline", str(RULES / name)],
                                   capture_output=True, text=True, check=True)
        queries = [line for line in converted.stdout.splitlines() if line.startswith("SELECT ")]
        rule_id = next(line.split(":", 1)[1].strip() for line in (RULES / name).read_text().splitlines()
                       if line.startswith("id:"))
        reference[name] = {"id": rule_id, "scope": scope, "sql": queries}
    (HERE / "sigma_reference.json").write_text(json.dumps(reference, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])

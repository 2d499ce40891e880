"""The scan's options as another process builds them again (Recipe): examining processes and spread workers."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path

from cybertriage.analyzers import Settings
from cybertriage.pipeline.options import Recipe, ScanOptions


def test_every_setting_reaches_the_processes_that_build_the_analyzers_again() -> None:
    """Each analyzer setting (but the intel, which is read again from its database) set away from its default
    comes back the same through the recipe's JSON: a setting the recipe forgot would be its default there."""
    settings = Settings(keep_limit=1024, yara_timeout=7, archive_depth=1, archive_member_limit=11,
                        archive_total_limit=12, archive_ratio_limit=13, archive_max_members=14,
                        rule_paths=(Path("/rules"),), sigma_paths=(Path("/sigma"),), keyword_files=(Path("/words"),),
                        builtin_keywords=("iban",))
    assert [f.name for f in fields(Settings) if getattr(settings, f.name) == getattr(Settings(), f.name)] == ["intel"]
    options = ScanOptions(verify_images=False, carve=True, carve_slack=True, settings=settings)
    message = json.loads(json.dumps(asdict(Recipe.of(options))))
    again = Recipe.from_message(message).options(jobs=1)
    assert again.settings == settings
    assert (again.verify_images, again.carve, again.carve_slack) == (False, True, True)

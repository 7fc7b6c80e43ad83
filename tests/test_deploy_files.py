"""The deployment files stay true to the code: .env.example names every setting."""

from __future__ import annotations

import re

from newsletter.config import Settings, load_settings
from tests.conftest import PROJECT_ROOT

ALIASES = {"sendgrid_api_key": "SENDGRID_API_KEY", "sendgrid_api_host": "SENDGRID_API_HOST"}


def _documented() -> set[str]:
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_the_env_example_names_every_setting_and_nothing_else() -> None:
    expected = {ALIASES.get(name, f"NEWSLETTER_{name.upper()}") for name in Settings.model_fields}
    assert _documented() == expected


def test_the_env_example_loads_as_valid_settings() -> None:
    settings = load_settings(_env_file=PROJECT_ROOT / ".env.example")
    assert settings.demo is False and settings.database_url == "sqlite:///var/newsletter.db"

from pathlib import Path

import pytest

from newsletter.config import DEMO_SECRET_KEY, BackendName, load_settings
from newsletter.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("NEWSLETTER_SECRET_KEY", "NEWSLETTER_DEMO", "NEWSLETTER_BACKEND", "SENDGRID_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_missing_secret_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="NEWSLETTER_SECRET_KEY is not set"):
        load_settings()


def test_demo_mode_gets_a_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_DEMO", "1")
    settings = load_settings()
    assert settings.secret == DEMO_SECRET_KEY.encode()
    assert settings.backend is BackendName.OUTBOX
    assert settings.database_url == "sqlite:///var/newsletter.db"


def test_demo_placeholder_refused_outside_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", DEMO_SECRET_KEY)
    with pytest.raises(ConfigurationError, match="demo placeholder"):
        load_settings()


def test_short_secret_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "tooshort")
    with pytest.raises(ConfigurationError, match="too short"):
        load_settings()


def test_environment_names_operators_rely_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("NEWSLETTER_BACKEND", "sendgrid")
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", "postgresql+psycopg://db/newsletter")
    monkeypatch.setenv("NEWSLETTER_OUTBOX_DIR", "/srv/outbox")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "https://news.example.com")
    monkeypatch.setenv("NEWSLETTER_SMTP_HOST", "mail.example.com")
    monkeypatch.setenv("NEWSLETTER_SMTP_PORT", "587")
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.test-key")
    monkeypatch.setenv("SENDGRID_API_HOST", "http://127.0.0.1:9999")
    settings = load_settings()
    assert settings.backend is BackendName.SENDGRID
    assert settings.database_url == "postgresql+psycopg://db/newsletter"
    assert settings.outbox_dir == Path("/srv/outbox")
    assert settings.base_url == "https://news.example.com"
    assert (settings.smtp_host, settings.smtp_port) == ("mail.example.com", 587)
    assert settings.require_sendgrid_key() == "SG.test-key"
    assert settings.sendgrid_api_host == "http://127.0.0.1:9999"
    assert "SG.test-key" not in repr(settings)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NEWSLETTER_SECRET_KEY=" + "d" * 40 + "\nNEWSLETTER_BACKEND=smtp\n")
    settings = load_settings()
    assert settings.backend is BackendName.SMTP


def test_unknown_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("NEWSLETTER_BACKEND", "carrier-pigeon")
    with pytest.raises(ConfigurationError, match="NEWSLETTER_BACKEND"):
        load_settings()


def test_sendgrid_key_required_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "k" * 40)
    with pytest.raises(ConfigurationError, match="SENDGRID_API_KEY"):
        load_settings().require_sendgrid_key()

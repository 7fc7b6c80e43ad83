from pathlib import Path

import pytest

from newsletter.config import DEMO_SECRET_KEY, BackendName, load_settings
from newsletter.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "NEWSLETTER_SECRET_KEY",
        "NEWSLETTER_DEMO",
        "NEWSLETTER_BACKEND",
        "SENDGRID_API_KEY",
        "NEWSLETTER_BASE_URL",
        "SENDGRID_API_HOST",
        "NEWSLETTER_SENDER_ADDRESS",
        "NEWSLETTER_REPLY_TO",
        "NEWSLETTER_UNSUBSCRIBE_MAILTO",
    ):
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


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("NEWSLETTER_BASE_URL", "http://news.example.com", "must use https"),
        ("NEWSLETTER_BASE_URL", "javascript:alert(1)//", "absolute http(s) URL"),
        ("NEWSLETTER_BASE_URL", "news.example.com", "absolute http(s) URL"),
        ("NEWSLETTER_BASE_URL", "https://", "absolute http(s) URL"),
        ("NEWSLETTER_BASE_URL", 'https://news.example.com/"onmouseover', "cannot appear in a URL"),
        ("NEWSLETTER_BASE_URL", "https://user:pw@news.example.com", "credentials"),
        ("SENDGRID_API_HOST", "http://api.sendgrid.com", "must use https"),
        ("SENDGRID_API_HOST", "ftp://api.sendgrid.com", "absolute http(s) URL"),
        ("NEWSLETTER_SENDER_ADDRESS", "editions", "not a valid email address"),
        ("NEWSLETTER_REPLY_TO", "not an address", "not a valid email address"),
        ("NEWSLETTER_UNSUBSCRIBE_MAILTO", "x@y>, <https://evil.example/", "not a valid email address"),
        ("NEWSLETTER_UNSUBSCRIBE_MAILTO", "u@news.example.com?subject=x", "not a valid email address"),
        ("NEWSLETTER_SECRET_KEY", " " * 40, "blank"),
        ("NEWSLETTER_SECRET_KEY", "\t\n" * 20, "blank"),
    ],
)
def test_unsafe_values_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, words: str
) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "k" * 40)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings()
    assert variable in str(refused.value) and words in str(refused.value)


def test_blank_secret_is_refused_in_demo_mode_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_DEMO", "1")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "   ")
    with pytest.raises(ConfigurationError, match="NEWSLETTER_SECRET_KEY is blank"):
        load_settings()


@pytest.mark.parametrize("backend", ["sendgrid", "smtp"])
def test_demo_mode_never_sends_real_mail(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv("NEWSLETTER_DEMO", "1")
    monkeypatch.setenv("NEWSLETTER_BACKEND", backend)
    with pytest.raises(ConfigurationError, match="NEWSLETTER_DEMO=1 only works with NEWSLETTER_BACKEND=outbox"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NEWSLETTER_BASE_URL", "https://news.example.com"),
        ("NEWSLETTER_BASE_URL", "https://news.example.com/wire/"),
        ("NEWSLETTER_BASE_URL", "http://localhost:8000"),
        ("NEWSLETTER_BASE_URL", "http://127.0.0.1:8123"),
        ("NEWSLETTER_BASE_URL", "http://[::1]:8000"),
        ("SENDGRID_API_HOST", "https://api.eu.sendgrid.com"),
        ("SENDGRID_API_HOST", "http://127.0.0.1:9999"),
        ("NEWSLETTER_REPLY_TO", "desk@news.example.com"),
    ],
)
def test_safe_values_are_accepted(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "k" * 40)
    monkeypatch.setenv(variable, value)
    load_settings()


def test_demo_mode_allows_plain_http_on_any_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_DEMO", "1")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "http://demo.internal:8000")
    assert load_settings().base_url == "http://demo.internal:8000"

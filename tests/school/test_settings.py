from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from school.env import env_bool, env_email, env_float, env_int, env_list, env_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return monkeypatch


def test_it_reads_booleans_in_the_usual_spellings(environ: pytest.MonkeyPatch) -> None:
    for word, expected in [("true", True), ("1", True), ("YES", True), ("off", False), ("0", False)]:
        environ.setenv("FLAG", word)
        assert env_bool("FLAG") is expected


def test_it_rejects_a_boolean_it_does_not_understand_and_names_the_variable(
    environ: pytest.MonkeyPatch,
) -> None:
    environ.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env_bool("DEBUG")


def test_it_rejects_a_number_that_is_not_one(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("LLM_MAX_CONCURRENCY", "lots")
    with pytest.raises(ImproperlyConfigured, match="LLM_MAX_CONCURRENCY"):
        env_int("LLM_MAX_CONCURRENCY", 32)


def test_it_rejects_a_number_out_of_range(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("LLM_MAX_CONCURRENCY", "0")
    with pytest.raises(ImproperlyConfigured, match="LLM_MAX_CONCURRENCY"):
        env_int("LLM_MAX_CONCURRENCY", 32, minimum=1)


def test_it_rejects_a_negative_float(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("LLM_TIMEOUT_SECONDS", "-3")
    with pytest.raises(ImproperlyConfigured, match="LLM_TIMEOUT_SECONDS"):
        env_float("LLM_TIMEOUT_SECONDS", 60.0, minimum=1.0)


def test_it_rejects_a_url_with_the_wrong_scheme(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        env_url("REDIS_URL", schemes=("redis", "rediss"))


def test_it_strips_the_trailing_slash_of_a_url(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("SITE_URL", "https://semester.example/")
    assert env_url("SITE_URL") == "https://semester.example"


def test_it_rejects_an_email_address_without_an_at_sign(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("DEFAULT_FROM_EMAIL", "Semester <nobody>")
    with pytest.raises(ImproperlyConfigured, match="DEFAULT_FROM_EMAIL"):
        env_email("DEFAULT_FROM_EMAIL", "x@y")


def test_it_splits_lists_on_commas(environ: pytest.MonkeyPatch) -> None:
    environ.setenv("ALLOWED_HOSTS", " a.example, b.example ,,")
    assert env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import school.settings in a fresh interpreter with exactly `env` set (plus PATH)."""
    clean = {
        "PATH": os.environ["PATH"],
        "SEMESTER_VAR_DIR": env.pop("SEMESTER_VAR_DIR", "/tmp/semester-var"),
        **env,
    }
    code = "import school.settings as s; print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)


def test_with_no_environment_it_runs_on_embedded_defaults(tmp_path: Path) -> None:
    result = _load_settings({"SEMESTER_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "True"]
    assert (tmp_path / "secret_key").exists()


def test_with_the_services_set_it_uses_postgres_and_a_real_broker() -> None:
    result = _load_settings(
        {"DATABASE_URL": "postgres://u@db/semester", "REDIS_URL": "redis://r:6379/0", "SECRET_KEY": "k" * 40}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "False"]


def test_it_refuses_to_start_with_a_database_but_no_secret_key() -> None:
    result = _load_settings({"DATABASE_URL": "postgres://u@db/semester"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_it_refuses_to_start_with_a_database_url_it_cannot_use() -> None:
    result = _load_settings({"DATABASE_URL": "mysql://u@db/semester", "SECRET_KEY": "k" * 40})
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_it_refuses_to_start_with_a_bad_debug_value() -> None:
    result = _load_settings({"DEBUG": "sometimes"})
    assert result.returncode != 0
    assert "DEBUG" in result.stderr


def test_collectstatic_takes_the_storage_that_writes_the_manifest_even_on_its_first_run(
    tmp_path: Path,
) -> None:
    # Only the manifest storage writes staticfiles.json, and only that file switches the site to hashed names.
    code = (
        "import sys; sys.argv = ['manage.py', 'collectstatic', '--noinput']; import school.settings as s; "
        "print(s.STORAGES['staticfiles']['BACKEND'], s.WHITENOISE_USE_FINDERS)"
    )
    env = {"PATH": os.environ["PATH"], "SEMESTER_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["whitenoise.storage.CompressedManifestStaticFilesStorage", "False"]


def test_env_example_lists_every_variable_the_settings_read() -> None:
    settings_source = (ROOT / "school" / "settings.py").read_text()
    read = set(re.findall(r"env_[a-z]+\(\s*\"([A-Z_]+)\"", settings_source))
    listed = set(re.findall(r"^(?:# )?([A-Z_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    assert "SECRET_KEY" in read
    assert read - listed == set()


def test_check_deploy_has_no_warning_for_an_https_site(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "SEMESTER_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "school.settings",
        "DEBUG": "false",
        "SITE_URL": "https://semester.example",
        "ALLOWED_HOSTS": "semester.example",
        "SECRET_KEY": "deploy-check-" + "k7Qz!x9#Lm2@" * 6,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def _setting_values(env: dict[str, str], *names: str) -> list[str]:
    clean = {"PATH": os.environ["PATH"], "SEMESTER_VAR_DIR": "/tmp/semester-var", **env}
    code = f"import school.settings as s; print(*[getattr(s, n) for n in {names!r}])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


SLOW_SIZED = (
    "LLM_TIMEOUT_SECONDS",
    "LLM_MAX_CONCURRENCY",
    "LLM_MAX_RETRIES",
    "LLM_TIMEOUT_RETRIES",
    "LLM_SLOT_LEASE_SECONDS",
    "GENERATION_PART_LEASE_SECONDS",
    "CELERY_TASK_SOFT_TIME_LIMIT",
)


def test_the_slow_profile_sizes_timeouts_concurrency_retries_and_leases_for_a_local_model() -> None:
    assert _setting_values({}, *SLOW_SIZED) == ["120.0", "32", "4", "4", "150.0", "900", "300"]
    slow = _setting_values({"LLM_PROFILE": "slow"}, *SLOW_SIZED)
    assert slow == ["900.0", "1", "2", "0", "930.0", "14400", "14400"]
    # Each can still be set on its own.
    assert _setting_values({"LLM_PROFILE": "slow", "LLM_MAX_CONCURRENCY": "2"}, "LLM_MAX_CONCURRENCY") == [
        "2"
    ]


def test_it_refuses_an_unknown_structured_output_form_or_a_url_moderation_without_its_url() -> None:
    result = _load_settings({"LLM_STRUCTURED_OUTPUT": "xml"})
    assert result.returncode != 0
    assert "LLM_STRUCTURED_OUTPUT must be one of json_schema, json_object, tools" in result.stderr
    result = _load_settings({"MODERATION_PROVIDER": "url"})
    assert "MODERATION_PROVIDER=url needs MODERATION_BASE_URL" in result.stderr


def test_management_commands_start_without_the_axes_banner_and_the_web_process_keeps_it(
    tmp_path: Path,
) -> None:
    env = {"PATH": os.environ["PATH"], "SEMESTER_VAR_DIR": str(tmp_path)}
    command = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    web = subprocess.run(
        [sys.executable, "-c", "import school.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert command.returncode == 0, command.stderr
    assert "AXES" not in command.stdout + command.stderr
    assert "AXES: BEGIN" in web.stderr


def test_the_stream_servers_origin_is_named_to_the_page_and_allowed_by_the_csp() -> None:
    code = (
        "import school.settings as s; "
        "print(s.TUTOR_STREAM_ORIGIN or '-', *s.CONTENT_SECURITY_POLICY['DIRECTIVES']['connect-src'])"
    )

    def load(env: dict[str, str]) -> list[str]:
        clean = {
            "PATH": os.environ["PATH"],
            "SEMESTER_VAR_DIR": "/tmp/semester-var",
            "SECRET_KEY": "k" * 40,
            **env,
        }
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split()

    stream = {"TUTOR_STREAM_URL": "http://stream.example:8001/ignored/path"}
    assert load({"REDIS_URL": "redis://r:6379/0", **stream}) == [
        "http://stream.example:8001",
        "'self'",
        "http://stream.example:8001",
    ]
    assert load({"REDIS_URL": "redis://r:6379/0"}) == ["-", "'self'"]
    assert load(stream) == ["-", "'self'"]  # no Redis, nothing to stream from: the page polls

"""What every benchmark sets up alike: the environment school.settings reads, and a PostgreSQL database of its
own, created empty at the start and dropped at the end."""

from __future__ import annotations

PG_SERVER = "postgres://postgres@127.0.0.1:5432"


def django_environ(database: str, redis_url: str, **extra: str) -> dict[str, str]:
    """school.settings' variables for a benchmark on ``database``; ``extra`` adds its own or overrides."""
    return {
        "DJANGO_SETTINGS_MODULE": "school.settings",
        "DATABASE_URL": f"{PG_SERVER}/{database}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-only-secret-key-that-is-long-enough-0123456789",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def database_create(name: str) -> None:
    """An empty database ``name``; whatever an interrupted run left there goes first."""
    _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")


def database_drop(name: str) -> None:
    _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)  # type: ignore[arg-type]

"""A row by its primary key without building the query each time: for the reads every page makes."""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import Model

M = TypeVar("M", bound=Model)

# Per thread, as Django's connections are: each compiler, and its converters, belong to one connection.
_compiled = threading.local()


def row_by_pk(model: type[M], pk: Any) -> M | None:
    """`model.objects.filter(pk=pk).first()` without its ordering, as Django's ORM would return it (every field,
    converted the same way), or None. The ORM compiles the same SELECT anew on every call; on the course and
    lesson pages that took about half of a request's time (bench/README.md, bench_pages.py), so the SQL and its
    converters are compiled once per model, database and thread, and only the key changes."""
    alias = router.db_for_read(model)
    connection = connections[alias]
    try:
        value = model._meta.pk.get_db_prep_value(model._meta.pk.to_python(pk), connection)  # type: ignore[union-attr]
    except Exception:  # not a key of this model (a malformed id): there is no such row
        return None
    sql, converters, compiler = _compiled_select(model, alias, value)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    return model.from_db(alias, [f.attname for f in model._meta.concrete_fields], row)


def _compiled_select(model: type[Model], alias: str, value: Any) -> tuple[str, Any, Any]:
    """The SELECT of every concrete field (the ORM's default, so `from_db` takes the row as it comes) with one
    placeholder for the key, compiled for the first key asked for, and the converters of its columns."""
    selects: dict[tuple[type[Model], str], tuple[str, Any, Any]]
    selects = _compiled.__dict__.setdefault("selects", {})
    key = (model, alias)  # a thread keeps one connection per alias
    if key not in selects:
        query = model._base_manager.using(alias).filter(pk=value).order_by().query  # type: ignore[attr-defined]
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        assert len(params) == 1, sql  # the key, and nothing else
        converters = compiler.get_converters([column for column, _, _ in compiler.select])
        selects[key] = (sql, converters, compiler)
    return selects[key]

# One image for every Semester process: web (gunicorn), workers and beat differ only by command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/venv UV_PYTHON_DOWNLOADS=never \
    PATH="/venv/bin:$PATH"

# WeasyPrint renders PDFs with Pango; fonts-dejavu gives it glyphs for most scripts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
RUN pip install --no-cache-dir uv==0.13.8
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN SECRET_KEY=build-only-key-build-only-key-build-only DATABASE_URL= python manage.py collectstatic --noinput

EXPOSE 8000
CMD ["gunicorn", "school.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--access-logfile", "-"]

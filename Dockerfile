# syntax=docker/dockerfile:1
# DSAR case handling: one image for web (gunicorn), worker and beat (Celery); see docker-compose.yml.
FROM python:3.11-slim-bookworm

# PYTHONPATH puts /app first: web, worker and beat all import the one copy of the code whose
# locale folders hold the compiled .mo files, not the copy `pip install .` puts in site-packages.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=config.settings \
    DSAR_VAR_DIR=/var/lib/dsar

# WeasyPrint's system libraries (Pango, HarfBuzz), the DejaVu fonts (ë, ç) and GNU gettext (msgfmt).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-dejavu-core gettext \
    && rm -rf /var/lib/apt/lists/*

# A user of our own; the shared volume (media, bundles, beat schedule) lives at /var/lib/dsar and
# takes this ownership when docker creates it from the image.
RUN groupadd --system --gid 10001 dsar \
    && useradd --system --uid 10001 --gid dsar --home-dir /app --no-create-home --shell /usr/sbin/nologin dsar \
    && mkdir -p /app /var/lib/dsar \
    && chown dsar:dsar /var/lib/dsar \
    && chmod 0750 /var/lib/dsar

WORKDIR /app

# The dependencies first, in their own layer, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install . \
    && rm -rf build *.egg-info

# Messages and static files at build time. The keys exist only for this RUN (settings refuse to
# load without them when DSAR_SECURE=1) and are thrown away; the real ones come from the
# environment at run time. REDIS_URL only stops settings from making broker folders; nothing
# connects. `locale` exists so that compilemessages has a folder to look at.
RUN mkdir -p locale \
    && export DSAR_SECURE=1 \
        REDIS_URL=redis://build.invalid:6379/0 \
        SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
        DSAR_BUNDLE_KEY="$(python -c 'import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())')" \
        DSAR_AUDIT_KEY="$(python -c 'import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())')" \
    && python manage.py compilemessages --verbosity 1 \
    && python manage.py collectstatic --noinput --verbosity 1 \
    && chown -R dsar:dsar /var/lib/dsar

USER dsar

EXPOSE 8000

# Health checks are per service in docker-compose.yml (web, worker and beat differ).

CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]

# The production image: gunicorn serves the app, the same image runs the Celery worker and beat
# (see docker-compose.yml).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY . .
RUN pip install .

# Static files are collected into the image; whitenoise serves them. Settings refuse to load
# without a secret key and URLs, so the build gets throwaway values that no container keeps.
RUN DJANGO_DEBUG=0 \
    DJANGO_SECRET_KEY=build-time-only-collectstatic-key-not-used-at-run-time-0123456789 \
    DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --no-create-home --home-dir /app nbtc
USER nbtc

EXPOSE 8000
CMD ["gunicorn", "consortium.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]

#!/usr/bin/env bash
# Start a real Celery worker and the web server together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

# The filesystem broker needs no server; with CELERY_BROKER_URL=redis://... the same worker
# talks to Redis instead. solo pool: one task at a time, the right size for a laptop.
$PY -m celery -A webapp worker --pool=solo --loglevel=INFO --without-gossip --without-mingle \
  >var/worker.log 2>&1 &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true; wait $WORKER 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  ${SITE_NAME:-Steerable Recommender} is starting at http://$HOST:$PORT/

    Demo user:  log in at http://$HOST:$PORT/accounts/login/  as  demo / ${DEMO_USER_PASSWORD:-demo}
    Admin:      http://$HOST:$PORT/admin/  as  admin / ${DEMO_ADMIN_PASSWORD:-admin}
    Worker log: var/worker.log (Celery worker pid $WORKER)

  Press Ctrl-C to stop the web server and the worker.

MSG
$PY manage.py runserver "$HOST:$PORT"

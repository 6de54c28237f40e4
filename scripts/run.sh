#!/usr/bin/env bash
# Start a real Celery worker and the web server together; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

# The filesystem broker needs no server; with CELERY_BROKER_URL=redis://... the same workers
# talk to Redis instead. Two workers, one task at a time each (the right size for a laptop):
# one serves what users' clicks start (queue "user": profiles, explanations), the other staff
# work (queue "celery": training, imports), so a long training run never holds up a user's
# explanations.
# A prefork pool of one child, not the solo pool: only a pool with a child process enforces
# the limits production runs under, so a hung job is stopped and the queue moves on. They come
# from the settings: CELERY_TASK_TIME_LIMIT (6 h, staff work), 15 min hard / 14 min soft for
# users' work (webapp.jobs.tasks.USER_WORK), and CELERY_WORKER_MAX_MEMORY_PER_CHILD (a child
# left above it after a task is replaced).
WORKER_ARGS=(-A webapp worker --pool=prefork --concurrency=1 --loglevel=INFO --without-gossip
  --without-mingle)
# The staff worker also runs beat (-B): the daily retention sweep (webapp.privacy.tasks).
$PY -m celery "${WORKER_ARGS[@]}" -Q user -n user@%h >var/worker-user.log 2>&1 &
USER_WORKER=$!
$PY -m celery "${WORKER_ARGS[@]}" -Q celery -n staff@%h -B >var/worker.log 2>&1 &
WORKER=$!
trap 'kill $WORKER $USER_WORKER 2>/dev/null || true; wait $WORKER $USER_WORKER 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  ${SITE_NAME:-Steerable Recommender} is starting at http://$HOST:$PORT/

    Demo user:  log in at http://$HOST:$PORT/accounts/login/  as  demo / ${DEMO_USER_PASSWORD:-demo}
    Admin:      http://$HOST:$PORT/admin/  as  admin / ${DEMO_ADMIN_PASSWORD:-admin}
    Worker logs: var/worker.log (staff work, pid $WORKER), var/worker-user.log (users' work, pid $USER_WORKER)

  Press Ctrl-C to stop the web server and the workers.

MSG
$PY manage.py runserver "$HOST:$PORT"

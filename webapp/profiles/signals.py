"""What the profiles app announces; apps above it listen (it imports none of them)."""

from django.dispatch import Signal

# Sent inside the transaction that saved a new profile version, with ``user``, ``by`` (who
# made the change, None for the system) and ``version``. Receivers that queue work use
# ``job_enqueue``, which sends the task only after COMMIT.
profile_saved = Signal()

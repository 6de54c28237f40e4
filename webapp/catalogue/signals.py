"""What the catalogue tells the apps above it (they subscribe; it never imports them)."""

from django.dispatch import Signal

# Sent after the commit that created catalogue items, with ``item_ids``: the new pks.
items_added = Signal()

# MovieLens 100K's placeholder item ("unknown", no year, no genre) is retired: its ratings stay
# (training data), but it is never shown or recommended. New imports retire it themselves.

from django.db import migrations


def retire(apps, schema_editor):
    Item = apps.get_model("catalogue", "Item")
    Item.objects.filter(
        title__in=["unknown", "unkonwn"], year__isnull=True, genres__isnull=True
    ).update(is_active=False)


class Migration(migrations.Migration):

    dependencies = [
        ("catalogue", "0003_itemvectors"),
    ]

    operations = [
        migrations.RunPython(retire, migrations.RunPython.noop),
    ]

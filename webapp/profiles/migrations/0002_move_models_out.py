# ItemVectors moved to webapp.catalogue, Explanation to webapp.ranking, Conversation to
# webapp.steering. Their tables stay (state only): no data moves.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('profiles', '0001_initial'),
        ('catalogue', '0003_itemvectors'),
        ('ranking', '0001_initial'),
        ('steering', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='ItemVectors'),
                migrations.DeleteModel(name='Explanation'),
                migrations.DeleteModel(name='Conversation'),
            ],
            database_operations=[],
        ),
    ]

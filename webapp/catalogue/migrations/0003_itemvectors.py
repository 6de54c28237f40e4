# The model moved here from webapp.profiles; its table stays where it is (state only).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalogue', '0002_item_generated_keywords'),
        ('profiles', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ItemVectors',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('encoder_key', models.CharField(max_length=400)),
                        ('texts_hash', models.CharField(max_length=64)),
                        ('path', models.CharField(help_text='(n_items, d) float32 .npy; ids beside it', max_length=500)),
                        ('n_items', models.PositiveIntegerField()),
                        ('dim', models.PositiveIntegerField()),
                        ('seconds', models.FloatField(default=0.0)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'profiles_itemvectors',
                        'ordering': ['-created_at', '-id'],
                        'constraints': [models.UniqueConstraint(fields=('encoder_key', 'texts_hash'), name='itemvectors_unique_version')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]

# The model moved here from webapp.profiles; its table stays where it is (state only).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('catalogue', '0002_item_generated_keywords'),
        ('profiles', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Explanation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=40)),
                        ('explanation', models.JSONField(help_text='explanations.explain.Explanation.to_dict()')),
                        ('evidence', models.JSONField(default=dict, help_text='The evidence it was written from.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('item', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalogue.item')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='explanations', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'profiles_explanation',
                        'constraints': [models.UniqueConstraint(fields=('user', 'item', 'key'), name='explanation_unique_key')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]

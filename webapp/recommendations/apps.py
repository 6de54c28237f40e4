from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "webapp.recommendations"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        # New items reach a serving model that can place them without training (semantic
        # IDs): the catalogue sends, this app listens, so the layers stay one-way.
        from webapp.catalogue.signals import items_added
        from webapp.recommendations.tasks import items_add_enqueue

        items_added.connect(items_add_enqueue, dispatch_uid="recommendations.items_add")

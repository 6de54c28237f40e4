from django.apps import AppConfig


class RankingConfig(AppConfig):
    name = "webapp.ranking"
    verbose_name = "Ranking and explanations"

    def ready(self) -> None:
        # A saved profile version makes the cached explanations stale. The profiles app says
        # so with a signal and knows nothing of this app (it sits below it); this app listens.
        from webapp.ranking import receivers  # noqa: F401  (connects the receivers)

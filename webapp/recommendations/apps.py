from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "webapp.recommendations"
    verbose_name = "Recommendations"

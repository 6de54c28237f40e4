from django.apps import AppConfig


class SteeringConfig(AppConfig):
    name = "webapp.steering"
    verbose_name = "Steering: profile pages, critiques and chat"

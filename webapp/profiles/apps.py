from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "webapp.profiles"
    verbose_name = "Taste profiles"

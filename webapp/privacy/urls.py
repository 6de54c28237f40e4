from django.urls import path

from webapp.privacy import views

app_name = "privacy"
urlpatterns = [path("", views.overview, name="overview")]

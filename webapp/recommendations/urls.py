from django.urls import path

from webapp.recommendations import views

urlpatterns = [path("", views.home, name="home")]

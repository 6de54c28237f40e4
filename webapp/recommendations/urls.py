from django.urls import path

from webapp.recommendations import views

urlpatterns = [
    path("", views.home, name="home"),
    path("explanations/<int:pk>/", views.explanation, name="recommendation_explanation"),
]

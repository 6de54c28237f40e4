from django.urls import path

from webapp.ranking import views

urlpatterns = [
    path("", views.home, name="home"),
    path("explanations/<int:pk>/", views.explanation, name="recommendation_explanation"),
    path("items/<int:pk>/", views.item_detail, name="item_detail"),
]

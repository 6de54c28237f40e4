from django.urls import path

from webapp.catalogue import views

urlpatterns = [
    path("items/", views.item_list, name="item_list"),
    path("items/<int:pk>/like/", views.item_like, name="item_like"),
    path("items/<int:pk>/dislike/", views.item_dislike, name="item_dislike"),
    path("items/<int:pk>/rate/", views.item_rate, name="item_rate"),
    path("me/history/", views.history, name="history"),
    path("healthz", views.healthz, name="healthz"),
]

from django.urls import path

from webapp.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("chart/", views.chart, name="chart"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<int:pk>/run-again/", views.run_again, name="run_again"),
    path("run/<slug:action>/", views.start, name="start"),
]

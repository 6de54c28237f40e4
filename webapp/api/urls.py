"""/api/v1/... endpoints, the OpenAPI schema (/api/schema/) and its docs (/api/docs/,
/api/redoc/), which load Swagger UI and ReDoc from local static files (the sidecar)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from webapp.api import views
from webapp.api.errors import not_found

app_name = "api"

v1 = [
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("items/", views.ItemListView.as_view(), name="item-list"),
    path("items/<int:pk>/", views.ItemDetailView.as_view(), name="item-detail"),
    path("genres/", views.GenreListView.as_view(), name="genre-list"),
    path("me/recommendations/", views.RecommendationsView.as_view(), name="recommendations"),
    path("me/profile/", views.ProfileView.as_view(), name="profile"),
    path("me/profile/filters/", views.FiltersView.as_view(), name="profile-filters"),
    path("me/profile/statements/", views.StatementListView.as_view(), name="statement-list"),
    path(
        "me/profile/statements/<str:sid>/",
        views.StatementDetailView.as_view(),
        name="statement-detail",
    ),
    path("me/profile/versions/", views.VersionListView.as_view(), name="version-list"),
    path(
        "me/profile/versions/<int:number>/revert/",
        views.VersionRevertView.as_view(),
        name="version-revert",
    ),
    path("me/profile/regenerate/", views.RegenerateView.as_view(), name="profile-regenerate"),
    path("me/jobs/<int:pk>/", views.JobDetailView.as_view(), name="job-detail"),
    path("me/interactions/", views.InteractionListView.as_view(), name="interaction-list"),
    path(
        "me/interactions/<int:pk>/",
        views.InteractionDetailView.as_view(),
        name="interaction-detail",
    ),
    path("me/critiques/items/", views.CritiqueItemView.as_view(), name="critique-item"),
    path("me/critiques/list/", views.CritiqueListView.as_view(), name="critique-list"),
    path("me/critiques/<int:number>/undo/", views.CritiqueUndoView.as_view(), name="critique-undo"),
    path("me/conversation/", views.ConversationView.as_view(), name="conversation"),
    path("me/conversation/messages/", views.MessageView.as_view(), name="conversation-message"),
    path("me/conversation/keep/", views.ConversationKeepView.as_view(), name="conversation-keep"),
    path("me/export/", views.ExportView.as_view(), name="export"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html"),
        name="redoc",
    ),
    re_path(r"^v1/", not_found),  # last: anything else under v1/ is a JSON 404
]

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Steerable Recommender administration"
admin.site.site_title = "Recommender admin"
admin.site.index_title = "Catalogue curation and background jobs"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("webapp.api.urls")),
    path("staff/", include("webapp.dashboard.urls")),
    path("privacy/", include("webapp.privacy.urls")),
    path("accounts/", include("webapp.accounts.urls")),
    path("", include("webapp.ranking.urls")),
    path("profile/", include("webapp.steering.urls")),
    path("", include("webapp.catalogue.urls")),
]

# JSON under /api/, the site's pages elsewhere (webapp.api.errors)
handler400 = "webapp.api.errors.bad_request"
handler500 = "webapp.api.errors.server_error"

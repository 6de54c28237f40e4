from django.urls import path

from webapp.steering import views

urlpatterns = [
    path("", views.profile_page, name="profile"),
    path("start/", views.onboarding, name="profile_start"),
    path("statements/add/", views.statement_add, name="profile_statement_add"),
    path("statements/preview/", views.statement_preview, name="profile_preview"),
    path("statements/<str:sid>/", views.statement_update, name="profile_statement_update"),
    path("filters/remove/", views.filter_remove, name="profile_filter_remove"),
    path("versions/<int:number>/revert/", views.version_revert, name="profile_revert"),
    path("versions/<int:number>/undo/", views.critique_undo, name="profile_critique_undo"),
    path("regenerate/", views.regenerate, name="profile_regenerate"),
    path("jobs/<int:job_id>/", views.job_status, name="profile_job"),
    path("critique/item/<int:pk>/", views.critique_item, name="profile_critique_item"),
    path("critique/list/", views.critique_list, name="profile_critique_list"),
    path("chat/", views.chat, name="profile_chat"),
    path("chat/keep/", views.chat_promote, name="profile_chat_promote"),
    path("chat/reset/", views.chat_reset, name="profile_chat_reset"),
]

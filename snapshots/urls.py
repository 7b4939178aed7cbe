from django.urls import path

from snapshots import views

app_name = "snapshots"
urlpatterns = [
    path("", views.snapshot_list, name="snapshot-list"),
    path("run/", views.snapshot_run, name="snapshot-run"),
    path("<int:pk>/", views.snapshot_detail, name="snapshot-detail"),
]

from django.urls import path

from backtests import views

app_name = "backtests"
urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("compare/", views.run_compare, name="run-compare"),
    path("parity/", views.latest_parity, name="latest-parity"),
    path("<int:pk>/parity/", views.run_parity, name="run-parity"),
    path("<int:pk>/", views.run_detail, name="run-detail"),
    path("<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("<int:pk>/buckets.csv", views.run_buckets_csv, name="run-buckets-csv"),
]

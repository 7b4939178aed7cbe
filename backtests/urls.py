from django.urls import path

from backtests import sweep_views, views

app_name = "backtests"
urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("compare/", views.run_compare, name="run-compare"),
    path("parity/", views.latest_parity, name="latest-parity"),
    path("<int:pk>/parity/", views.run_parity, name="run-parity"),
    path("<int:pk>/", views.run_detail, name="run-detail"),
    path("<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("<int:pk>/buckets.csv", views.run_buckets_csv, name="run-buckets-csv"),
    path("sweeps/new/", sweep_views.sweep_new, name="sweep-new"),
    path("<int:pk>/sweep/", sweep_views.sweep_detail, name="sweep-detail"),
    path("<int:pk>/sweep/variants.csv", sweep_views.sweep_variants_csv, name="sweep-variants-csv"),
    path("<int:pk>/sweep/<int:index>/", sweep_views.sweep_variant, name="sweep-variant"),
    path("<int:pk>/sweep/<int:index>/materialise/", sweep_views.sweep_variant_materialise,
         name="sweep-variant-materialise"),
]

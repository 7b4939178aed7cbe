from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from spx_site.api import HealthApi
from spx_site.dashboard import dashboard
from spx_site.login import LockoutLoginView
from spx_site.tokens import token_list, token_revoke_view

urlpatterns = [
    path("", dashboard, name="home"),
    path("health", HealthApi.as_view(), name="health"),
    path("admin/", admin.site.urls),
    path("api-tokens/", token_list, name="api-tokens"),
    path("api-tokens/<int:pk>/revoke/", token_revoke_view, name="api-token-revoke"),
    path("accounts/login/", LockoutLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("snapshots/", include("snapshots.urls")),
    path("", include("strategy.urls")),  # /decisions/ and /configs/
    path("trades/", include("execution.urls")),
    path("backtests/", include("backtests.urls")),
    path("models/", include("mlmodels.urls")),
    path("api/", include("snapshots.api_urls")),
    path("api/", include("strategy.api_urls")),
    path("api/", include("execution.api_urls")),
    path("api/", include("backtests.api_urls")),
    path("api/", include("mlmodels.api_urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = "spx_site.api.page_not_found"
handler500 = "spx_site.api.server_error"

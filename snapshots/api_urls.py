from django.urls import path

from snapshots import api

urlpatterns = [
    path("chain-snapshots", api.ChainSnapshotListApi.as_view(), name="api-chain-snapshots"),
    path("admin/run-snapshot", api.RunSnapshotApi.as_view(), name="api-run-snapshot"),
    path("admin/expirations", api.ExpirationListApi.as_view(), name="api-expirations"),
]

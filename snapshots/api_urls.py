from django.urls import path

from snapshots import api

urlpatterns = [
    path("chain-snapshots", api.ChainSnapshotListApi.as_view(), name="api-chain-snapshots"),
    path("chain-snapshots/<int:pk>", api.ChainSnapshotDetailApi.as_view(), name="api-chain-snapshot-detail"),
    path("context-snapshots", api.ContextSnapshotListApi.as_view(), name="api-context-snapshots"),
    path("admin/run-snapshot", api.RunSnapshotApi.as_view(), name="api-run-snapshot"),
    path("admin/expirations", api.ExpirationListApi.as_view(), name="api-expirations"),
]

from django.urls import path

from strategy import api

urlpatterns = [
    path("decisions", api.DecisionListApi.as_view(), name="api-decisions"),
    path("decisions/<int:pk>", api.DecisionDetailApi.as_view(), name="api-decision-detail"),
    path("configs/<int:pk>/history", api.ConfigHistoryApi.as_view(), name="api-config-history"),
]

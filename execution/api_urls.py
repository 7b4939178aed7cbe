from django.urls import path

from execution import api

urlpatterns = [
    path("trades", api.TradeListApi.as_view(), name="api-trades"),
    path("trades/<int:pk>", api.TradeDetailApi.as_view(), name="api-trade-detail"),
    path("positions", api.PositionsApi.as_view(), name="api-positions"),
    path("pnl", api.PnlApi.as_view(), name="api-pnl"),
]

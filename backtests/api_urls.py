from django.urls import path

from backtests import api

urlpatterns = [
    path("backtests", api.BacktestRunListCreateApi.as_view(), name="api-backtests"),
    path("backtests/<int:pk>", api.BacktestRunDetailApi.as_view(), name="api-backtest-detail"),
    path("backtests/<int:pk>/cancel", api.BacktestRunCancelApi.as_view(), name="api-backtest-cancel"),
    path("backtests/sweeps", api.SweepCreateApi.as_view(), name="api-backtest-sweeps"),
    path("backtests/<int:pk>/variants/<int:index>/materialise", api.SweepVariantMaterialiseApi.as_view(),
         name="api-backtest-variant-materialise"),
    path("backtests/<int:pk>/trades", api.BacktestRunTradesApi.as_view(), name="api-backtest-trades"),
]

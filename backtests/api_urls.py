from django.urls import path

from backtests import api

urlpatterns = [
    path("backtests", api.BacktestRunListCreateApi.as_view(), name="api-backtests"),
    path("backtests/<int:pk>", api.BacktestRunDetailApi.as_view(), name="api-backtest-detail"),
    path("backtests/<int:pk>/cancel", api.BacktestRunCancelApi.as_view(), name="api-backtest-cancel"),
    path("backtests/<int:pk>/trades", api.BacktestRunTradesApi.as_view(), name="api-backtest-trades"),
]

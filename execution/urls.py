from django.urls import path

from execution import views

app_name = "execution"
urlpatterns = [
    path("", views.trade_list, name="trade-list"),
    path("<int:pk>/", views.trade_detail, name="trade-detail"),
]

from django.urls import path

from strategy import views

app_name = "strategy"
urlpatterns = [
    path("", views.decision_list, name="decision-list"),
    path("<int:pk>/", views.decision_detail, name="decision-detail"),
]

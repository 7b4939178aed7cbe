from django.urls import path

from strategy import views

app_name = "strategy"
urlpatterns = [
    path("decisions/", views.decision_list, name="decision-list"),
    path("decisions/<int:pk>/", views.decision_detail, name="decision-detail"),
    path("configs/", views.config_list, name="config-list"),
    path("configs/new/", views.config_create, name="config-create"),
    path("configs/<int:pk>/", views.config_detail, name="config-detail"),
    path("configs/<int:pk>/copy/", views.config_copy, name="config-copy"),
    path("configs/<int:pk>/edit/", views.config_edit, name="config-edit"),
    path("configs/<int:pk>/enabled/", views.config_enable, name="config-enable"),
]

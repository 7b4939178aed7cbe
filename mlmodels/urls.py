from django.urls import path

from mlmodels import views

app_name = "mlmodels"
urlpatterns = [
    path("", views.model_list, name="model-list"),
    path("<int:pk>/", views.model_detail, name="model-detail"),
    path("<int:pk>/activate/", views.model_activate, name="model-activate"),
    path("<int:pk>/retire/", views.model_retire, name="model-retire"),
]

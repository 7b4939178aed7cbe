from django.urls import path

from mlmodels import api

urlpatterns = [
    path("ml/dataset", api.DatasetApi.as_view(), name="ml-dataset"),
    path("ml/models", api.ModelListApi.as_view(), name="ml-models"),
    path("ml/models/train", api.TrainApi.as_view(), name="ml-train"),
    path("ml/models/<int:pk>", api.ModelDetailApi.as_view(), name="ml-model"),
    path("ml/models/<int:pk>/activate", api.ActivateApi.as_view(), name="ml-activate"),
    path("ml/models/<int:pk>/retire", api.RetireApi.as_view(), name="ml-retire"),
    path("ml/trainings/<int:pk>", api.TrainingDetailApi.as_view(), name="ml-training"),
]

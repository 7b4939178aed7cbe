from django.urls import path

from mlmodels import api

urlpatterns = [
    path("ml/dataset", api.DatasetApi.as_view(), name="ml-dataset"),
]

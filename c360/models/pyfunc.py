"""The MLflow pyfunc face of a c360 model: `mlflow.pyfunc.load_model("models:/churn/champion")` (or Feast's
`store.mlflow.load_model`) gives an object whose `predict(frame)` is the c360 model's.

Logged as a model from code (this file; MLflow's recommended form, no pickled object): the logged MLflow
model holds the c360 model folder as its artifact `model`, and loading goes through `Model.load`, so a
folder of another model format is refused by name there too. Kept apart from c360.models.registry because
importing it imports mlflow.
"""

import mlflow.models
import mlflow.pyfunc
import pandas as pd

ARTIFACT = "model"


class C360PythonModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from c360.models.base import Model

        self.model = Model.load(context.artifacts[ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.predict(model_input)


mlflow.models.set_model(C360PythonModel())
